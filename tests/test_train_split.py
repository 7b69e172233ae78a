"""The validation split: a fixed list of report ids (`--val-reports`) or the hashed fraction, and one validation pass
that gives the same losses and retrieval accuracy as scoring the batches directly."""
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from asg_train.cli import app
from asg_train.config import TrainConfig
from asg_train.dataset import Collator, PretrainDataset
from asg_train.model import compute_losses
from asg_train.prepare import SplitError, prepare_run, split_by_report
from asg_train.toy import write_toy_dataset
from asg_train.train import build_model, retrieval_accuracy, validation_metrics


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("split")
    return {**write_toy_dataset(root / "d", n=10, size=64, seed=4), "root": root}


def _cfg(toy: dict, **kw) -> TrainConfig:
    return TrainConfig(triplets=toy["triplets"], images=toy["images"], boxes=toy["boxes"], cache=toy["root"] / "cache",
                       batch_size=4, progress=False, num_workers=0, **kw).resolved()


def test_val_reports_file_names_exactly_the_validation_reports(toy, tmp_path):
    ids = tmp_path / "val.txt"
    ids.write_text("# held out\nr001\n\nr004\nr007\n")
    data = prepare_run(_cfg(toy, val_reports=ids), toy["root"] / "cache", lambda m: None)
    val = sorted(data.cache.report_ids[data.cache.image_report[i]] for i in data.val_idx)
    train = {data.cache.report_ids[data.cache.image_report[i]] for i in data.train_idx}
    assert val == ["r001", "r004", "r007"]
    assert len(train) == 7 and not train & set(val)
    # the hashed split is what runs without the file (and its size follows the fraction)
    hashed_train, hashed_val = split_by_report(data.cache, 0.0)
    assert len(hashed_val) == 0 and len(hashed_train) == 10


def test_val_reports_unknown_ids_are_reported_not_dropped_silently(toy, tmp_path):
    ids = tmp_path / "val.txt"
    ids.write_text("r002\nnot-a-report\n")
    said: list[str] = []
    data = prepare_run(_cfg(toy, val_reports=ids), toy["root"] / "cache", said.append)
    assert len(data.val_idx) == 1
    assert any("1 of 2 validation report ids are not in the prepared reports" in m for m in said)
    ids.write_text("nobody\nnobody-else\n")
    with pytest.raises(SplitError, match="val.txt: none of its 2 report ids"):
        prepare_run(_cfg(toy, val_reports=ids), toy["root"] / "cache", lambda m: None)


def test_prepare_cli_gives_a_one_line_error_for_an_empty_ids_file(toy, tmp_path):
    ids = tmp_path / "empty.txt"
    ids.write_text("# nothing here\n\n")
    res = CliRunner().invoke(app, ["prepare", "--triplets", str(toy["triplets"]), "--images", str(toy["images"]),
                                   "--boxes", str(toy["boxes"]), "--cache", str(toy["root"] / "cache"),
                                   "--val-reports", str(ids)])
    assert res.exit_code == 2
    assert "empty.txt: no report ids" in res.output and "Traceback" not in res.output


def test_one_validation_pass_matches_scoring_the_batches_directly(toy, tmp_path):
    torch.set_num_threads(1)
    ids = tmp_path / "val.txt"
    ids.write_text("r000\nr003\nr005\nr006\nr009\n")
    cfg = _cfg(toy, val_reports=ids)
    data = prepare_run(cfg, toy["root"] / "cache", lambda m: None)
    model = build_model(cfg, data.tokenizer, data.cache.tag_names, torch.device("cpu")).eval()
    ds = PretrainDataset(data.cache, data.val_idx, cfg.image_size)
    collate = Collator(data.tokens)
    batches = [collate([ds[i] for i in range(0, 3)]), collate([ds[i] for i in range(3, 5)])]
    res = validation_metrics(model, batches, torch.device("cpu"), cfg)
    with torch.no_grad():
        direct = [compute_losses(model(b), b, cfg.objective) for b in batches]
        imgs = torch.cat([model.embed_images(b["images"])[0] for b in batches])
        txts = torch.cat([model.embed_texts(b["input_ids"], b["attention_mask"])[0] for b in batches])
    loss = (3 * direct[0]["loss"] + 2 * direct[1]["loss"]) / 5  # weighted by batch size
    assert res["val_loss"] == pytest.approx(float(loss), rel=1e-5)
    reports = torch.cat([b["report"] for b in batches])
    assert {k: v for k, v in res.items() if "_acc" in k} == retrieval_accuracy(imgs, txts, reports)
