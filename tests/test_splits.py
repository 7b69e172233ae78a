"""Downstream splitters: every rule on small fake download files."""
import csv
from pathlib import Path

import pytest

from asg_train.splits import SplitError, load_config, make_splits

CHEX = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
NIH = load_config()["nih"]["classes"]


def _csv(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _cfg(tmp_path: Path, **changes) -> str:
    import yaml

    cfg = yaml.safe_load(Path(load_config.__wrapped__.__globals__["CONFIG"]).read_text())
    for dotted, value in changes.items():
        ds, key = dotted.split(".")
        cfg[ds][key] = value
    p = tmp_path / "datasets.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def _chexpert(root: Path, n_train: int = 40) -> None:
    head = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", *CHEX]
    rows = [head]
    for i in range(n_train):
        view = "Lateral" if i % 10 == 9 else "Frontal"
        rows.append([f"{root.name}/train/patient{i:05d}/study1/view1.jpg", "F", "50", view, "AP", "",
                     "-1", "-1", "-1", "-1", "-1" if i == 0 else "1"])
    _csv(root / "train.csv", rows)
    _csv(root / "valid.csv", [head, [f"{root.name}/valid/patient9/study1/view1.jpg", "M", "60", "Frontal", "PA",
                                     "1", "0", "1", "0", "0", ""],
                              [f"{root.name}/valid/patient9/study1/view2.jpg", "M", "60", "Lateral", "", "", "0",
                               "1", "0", "0", ""]])


def test_chexpert_valid_is_test_and_val_is_held_out(tmp_path: Path) -> None:
    root = tmp_path / "CheXpert-v1.0-small"
    _chexpert(root)
    out = tmp_path / "out"
    report = make_splits({"chexpert": root}, out, config=_cfg(tmp_path, **{"chexpert.val_size": 6}))
    c = report["chexpert"]["counts"]
    assert c["train"] + c["val"] == 36 and c["val"] == 6 and c["test"] == 1  # laterals dropped
    test = _read(out / "chexpert" / "test.csv")
    assert list(test[0]) == ["path", *CHEX]
    assert [test[0][k] for k in CHEX] == ["0", "1", "0", "0", "0"]  # blank -> 0
    assert (out / "chexpert" / test[0]["path"]).resolve() == (root / "valid/patient9/study1/view1.jpg").resolve()
    train = {r["path"]: r for r in _read(out / "chexpert" / "train.csv") + _read(out / "chexpert" / "val.csv")}
    first = next(r for p, r in train.items() if "patient00000" in p)
    # uncertain: U-Ones for atelectasis, edema, effusion; U-Zeros for cardiomegaly, consolidation
    assert [first[k] for k in CHEX] == ["1", "0", "0", "1", "1"]
    assert not set(_read(out / "chexpert" / "val.csv")[0]) - {"path", *CHEX}
    val_paths = {r["path"] for r in _read(out / "chexpert" / "val.csv")}
    assert not val_paths & {r["path"] for r in _read(out / "chexpert" / "train.csv")}


def test_chexpert_default_holds_out_5000_and_errors(tmp_path: Path) -> None:
    assert load_config()["chexpert"]["val_size"] == 5000
    root = tmp_path / "chex"
    _chexpert(root)
    with pytest.raises(SplitError, match="need more than the 5000 held out"):
        make_splits({"chexpert": root}, tmp_path / "o")
    _csv(root / "valid.csv", [["Path", *CHEX], ["a.jpg", "2", "0", "0", "0", "0"]])
    with pytest.raises(SplitError, match=r"valid.csv: line 2: field 'Atelectasis'"):
        make_splits({"chexpert": root}, tmp_path / "o", config=_cfg(tmp_path, **{"chexpert.val_size": 6}))


def test_rsna_70_15_15_one_row_per_image(tmp_path: Path) -> None:
    root = tmp_path / "rsna"
    rows = [["patientId", "x", "y", "width", "height", "Target"]]
    for i in range(100):
        rows.append([f"p{i}", "", "", "", "", "0" if i % 3 else "1"])
        if i % 3 == 0:  # a second box for positives
            rows.append([f"p{i}", "1", "2", "3", "4", "1"])
    _csv(root / "stage_2_train_labels.csv", rows)
    (root / "stage_2_train_images").mkdir()
    out = tmp_path / "out"
    c = make_splits({"rsna": root}, out)["rsna"]["counts"]
    assert (c["train"], c["val"], c["test"]) == (70, 15, 15)
    assert c["train_1pct"] == 1 and c["train_10pct"] == 7
    everything = sum((_read(out / "rsna" / f"{s}.csv") for s in ("train", "val", "test")), [])
    assert len({r["path"] for r in everything}) == 100
    assert sum(int(r["Pneumonia"]) for r in everything) == 34
    assert all(r["path"].endswith(".dcm") and "stage_2_train_images" in r["path"] for r in everything)
    again = tmp_path / "again"
    make_splits({"rsna": root}, again)
    assert (again / "rsna" / "test.csv").read_text() == (out / "rsna" / "test.csv").read_text()
    other = tmp_path / "seed1"
    make_splits({"rsna": root}, other, seed=1)
    assert (other / "rsna" / "test.csv").read_text() != (out / "rsna" / "test.csv").read_text()


def test_siim_70_15_15_finds_nested_images(tmp_path: Path) -> None:
    root = tmp_path / "siim"
    rows = [["ImageId", " EncodedPixels"]]
    for i in range(40):
        rows.append([f"1.2.{i}", " -1" if i % 4 else " 10 5 20 5"])
        d = root / "dicom-images-train" / f"s{i}" / "x"
        d.mkdir(parents=True)
        if i != 39:
            (d / f"1.2.{i}.dcm").write_bytes(b"")
    _csv(root / "train-rle.csv", rows)
    out = tmp_path / "out"
    rep = make_splits({"siim": root}, out)["siim"]
    assert (rep["counts"]["train"], rep["counts"]["val"], rep["counts"]["test"]) == (28, 6, 6)
    assert rep["notes"] and rep["notes"][0].startswith("1 SIIM images not found")
    rows = sum((_read(out / "siim" / f"{s}.csv") for s in ("train", "val", "test")), [])
    assert sum(int(r["Pneumothorax"]) for r in rows) == 10
    found = [r for r in rows if "1.2.5.dcm" in r["path"]][0]
    assert (out / "siim" / found["path"]).resolve() == (root / "dicom-images-train/s5/x/1.2.5.dcm").resolve()


def test_covidx_val_list_is_test_and_10pct_of_train_is_val(tmp_path: Path) -> None:
    root = tmp_path / "covidx"
    root.mkdir()
    classes = ["normal", "pneumonia", "COVID-19"]
    # 50 training images of 20 patients (patient i // 2 or i // 3 images each): val must take whole patients
    (root / "train.txt").write_text("".join(f"{min(i // 2, 10 + i // 5)} t{i}.png {classes[i % 3]} cohen\n"
                                            for i in range(50)))
    (root / "test.txt").write_text("".join(f"{i} x{i}.png normal rsna\n" for i in range(5)))
    (root / "val.txt").write_text("".join(f"{i} v{i}.png {classes[i % 3]} rsna\n" for i in range(9)))
    out = tmp_path / "out"
    rep = make_splits({"covidx": root}, out)["covidx"]
    c = rep["counts"]
    assert c["train"] + c["val"] == 50 and 5 <= c["val"] <= 9 and c["test"] == 9 and "val.txt" in rep["notes"][0]
    patient = {f"t{i}.png": min(i // 2, 10 + i // 5) for i in range(50)}
    train_p = {patient[Path(r["path"]).name] for r in _read(out / "covidx" / "train.csv")}
    val_p = {patient[Path(r["path"]).name] for r in _read(out / "covidx" / "val.csv")}
    assert val_p and not train_p & val_p  # no patient on both sides
    test = _read(out / "covidx" / "test.csv")
    assert list(test[0]) == ["path", "label"] and {r["label"] for r in test} == set(classes)
    assert all("/val/v" in r["path"] or r["path"].startswith("../../covidx/val/") for r in test)
    (root / "val.txt").unlink()
    c = make_splits({"covidx": root}, tmp_path / "o2")["covidx"]["counts"]
    assert c["test"] == 5
    (root / "train.txt").write_text("0 onlytwo\n")
    with pytest.raises(SplitError, match=r"train.txt: line 1: expected `patient_id filename label"):
        make_splits({"covidx": root}, tmp_path / "o3")


def test_nih_official_test_list_and_10pct_val(tmp_path: Path) -> None:
    root = tmp_path / "nih"
    # 60 images of 30 patients, two follow-ups each (NIH names: <patient>_<follow-up>.png)
    names = [f"{i // 2:08d}_{i % 2:03d}.png" for i in range(60)]
    rows = [["Image Index", "Finding Labels", "Follow-up #", "Patient ID"]]
    for i, n in enumerate(names):
        rows.append([n, "No Finding" if i % 2 else "Effusion|Pleural_Thickening", str(i % 2), str(i // 2 + 1)])
    _csv(root / "Data_Entry_2017_v2020.csv", rows)
    (root / "train_val_list.txt").write_text("\n".join(names[:50]) + "\n")
    (root / "test_list.txt").write_text("\n".join(names[50:]) + "\n")
    (root / "images_001" / "images").mkdir(parents=True)
    for n in names:
        (root / "images_001" / "images" / n).write_bytes(b"")
    out = tmp_path / "out"
    c = make_splits({"nih": root}, out)["nih"]["counts"]
    assert (c["train"], c["val"], c["test"]) == (44, 6, 10)  # 5 images is 2.5 patients: 3 whole patients held out
    val_p = {Path(r["path"]).name[:8] for r in _read(out / "nih" / "val.csv")}
    train_p = {Path(r["path"]).name[:8] for r in _read(out / "nih" / "train.csv")}
    assert len(val_p) == 3 and not val_p & train_p
    test = _read(out / "nih" / "test.csv")
    assert list(test[0]) == ["path", *NIH] and len(NIH) == 14
    assert {Path(r["path"]).name for r in test} == set(names[50:])
    first = next(r for r in test if r["path"].endswith("00000025_000.png"))
    assert first["Effusion"] == "1" and first["Pleural_Thickening"] == "1" and first["Hernia"] == "0"
    assert (out / "nih" / first["path"]).resolve() == (root / "images_001/images/00000025_000.png").resolve()
    (root / "test_list.txt").write_text("missing.png\n")
    with pytest.raises(SplitError, match="1 image\\(s\\) not in Data_Entry_2017_v2020.csv"):
        make_splits({"nih": root}, out)


def test_subsets_match_probe_fractions(tmp_path: Path) -> None:
    from asg_train.probe import subset_indices

    root = tmp_path / "rsna"
    _csv(root / "stage_2_train_labels.csv",
         [["patientId", "Target"], *[[f"p{i}", str(i % 2)] for i in range(400)]])
    out = tmp_path / "out"
    make_splits({"rsna": root}, out)
    train = _read(out / "rsna" / "train.csv")
    sub = _read(out / "rsna" / "train_10pct.csv")
    assert [r["path"] for r in sub] == [train[i]["path"] for i in subset_indices(len(train), 0.1, 0)]


def test_missing_files_have_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SplitError, match="no RSNA labels file found"):
        make_splits({"rsna": tmp_path / "empty"}, tmp_path / "o")
    with pytest.raises(SplitError, match="is not a folder"):
        make_splits({"nih": tmp_path / "nope"}, tmp_path / "o")
