"""Our own gold set (annotations/gold/*.jsonl): schema, offsets, ontology ids, freshness, split sizes, coverage."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "annotations"))

import build_gold  # noqa: E402
from anatomy_ontology import load_ontology  # noqa: E402
from asg_parse.schema import ParsedReport  # noqa: E402

GOLD = ROOT / "annotations" / "gold"
ONTO = load_ontology()


def _records(split: str) -> list[dict]:
    lines = (GOLD / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("split", build_gold.SPLITS)
def test_records_follow_schema_and_ontology(split: str) -> None:
    sections = set(ONTO.sections)
    parse_sections = {s.id for s in ONTO.sections.values() if s.parse}
    for rec in _records(split):
        rid, text = rec["id"], rec["text"]
        ParsedReport.model_validate({k: v for k, v in rec.items() if k != "text"})
        assert rec["warnings"] == [], rid
        for s in rec["sentences"]:
            assert text[s["start"]:s["end"]] == s["text"], rid
            assert s["section"] in sections, rid
        for t in rec["triplets"]:
            assert t["finding"] in ONTO.findings, (rid, t)
            assert t["region"] is None or t["region"] in ONTO.regions, (rid, t)
            assert text[t["start"]:t["end"]] == t["text"], (rid, t)
            sent = rec["sentences"][t["sentence"]]
            assert sent["start"] <= t["start"] and t["end"] <= sent["end"], (rid, t)
            assert sent["section"] in parse_sections, (rid, t)
            assert (t["cue"] is None) == (t["existence"] == "present"), (rid, t)
            if t["cue"] is not None:
                assert t["cue"].lower() in sent["text"].lower(), (rid, t)
        for region, idx in rec["region_sentences"].items():
            assert region in ONTO.regions and idx == sorted(set(idx)), rid
            assert all(rec["sentences"][i]["section"] in parse_sections for i in idx), rid
        for t in rec["triplets"]:
            if t["region"] is not None:
                assert t["sentence"] in rec["region_sentences"][t["region"]], (rid, t)


@pytest.mark.parametrize("split", build_gold.SPLITS)
def test_tags_aggregate_triplets(split: str) -> None:
    for rec in _records(split):
        expected = {}
        for tag in ONTO.asg_tags:
            ex = {t["existence"] for t in rec["triplets"] if t["finding"] == tag}
            if ex:
                expected[tag] = 1 if "present" in ex else (-1 if "uncertain" in ex else 0)
        assert rec["tags"] == expected, rec["id"]


@pytest.mark.parametrize("split", build_gold.SPLITS)
def test_jsonl_is_up_to_date_with_source(split: str) -> None:
    built = build_gold.render(build_gold.build_split(split, ONTO))
    committed = (GOLD / f"{split}.jsonl").read_text(encoding="utf-8")
    assert built == committed, f"{split}.jsonl is stale: run python annotations/build_gold.py"


def test_split_sizes_and_disjoint_ids() -> None:
    dev = {r["id"] for r in _records("dev")}
    held = {r["id"] for r in _records("heldout")}
    assert len(dev) >= 100 and len(held) >= 50
    assert not dev & held
    texts = [r["text"] for r in _records("dev") + _records("heldout")]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("split", build_gold.SPLITS)
def test_required_study_types_are_covered(split: str) -> None:
    types = [set(raw.get("types") or []) for _, raw in build_gold.load_batches(split)]
    required = {"normal", "icu", "postop", "oncology", "trauma", "hedged", "comparison", "numbered",
                "no_headers", "xxxx"}
    seen = set().union(*types)
    assert required <= seen, required - seen
    records = _records(split)
    existences = {t["existence"] for r in records for t in r["triplets"]}
    assert existences == {"present", "absent", "uncertain"}
    assert any("XXXX" in r["text"] for r in records)


def test_build_error_names_report_and_entry(tmp_path: Path) -> None:
    (tmp_path / "dev_01.yaml").write_text(
        "reports:\n- id: bad-1\n  text: |\n    FINDINGS: Small left effusion.\n"
        "  ann:\n  - effusion | eff | P | NOPE\n", encoding="utf-8")
    with pytest.raises(build_gold.GoldError) as err:
        build_gold.build_split("dev", ONTO, src_dir=tmp_path)
    msg = str(err.value)
    assert "bad-1" in msg and "dev_01.yaml" in msg and "NOPE" in msg


def test_build_computes_offsets_sentences_and_tags(tmp_path: Path) -> None:
    (tmp_path / "dev_01.yaml").write_text(
        "reports:\n- id: ok-1\n  text: |\n    INDICATION: Cough.\n    FINDINGS: Lungs are clear. "
        "Small left effusion.\n    IMPRESSION: 1. Small left effusion.\n"
        "  ann:\n  - Lungs | BL\n  - effusion | eff | P | LCP\n  - effusion | eff | P | LCP\n",
        encoding="utf-8")
    (rec,) = build_gold.build_split("dev", ONTO, src_dir=tmp_path)
    assert [s["text"] for s in rec["sentences"]] == ["Cough.", "Lungs are clear.", "Small left effusion.",
                                                    "Small left effusion."]
    assert [s["section"] for s in rec["sentences"]] == ["indication", "findings", "findings", "impression"]
    assert [t["sentence"] for t in rec["triplets"]] == [2, 3]
    assert rec["region_sentences"] == {"left costophrenic angle": [2, 3], "right lung": [1], "left lung": [1]} \
        or rec["region_sentences"] == {"right lung": [1], "left costophrenic angle": [2, 3], "left lung": [1]}
    assert rec["tags"] == {"pleural effusion": 1}
