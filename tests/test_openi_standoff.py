"""Integrity of the OpenI standoff gold (annotations/openi_standoff.jsonl) against the dev CSV and the ontology."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import pytest

from anatomy_ontology import load_ontology

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "annotations" / "openi_standoff.jsonl"
CSV = Path(os.environ.get("ASG_OPENI_CSV", ROOT.parent / "shared" / "data" / "openi" / "openi_dev.csv"))
EXISTENCE = {"present", "absent", "uncertain"}


def _tool():
    spec = importlib.util.spec_from_file_location("openi_offsets", ROOT / "annotations" / "openi_offsets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def rows() -> dict:
    if not CSV.exists():
        pytest.skip(f"OpenI CSV not found at {CSV} (set ASG_OPENI_CSV); standoff gold cannot be joined to text")
    return _tool().load_rows(CSV)


def test_file_holds_offsets_only(records):
    assert len(records) >= 200
    assert len({r["uid"] for r in records}) == len(records)
    for r in records:
        assert set(r) == {"uid", "text_sha1", "sentences", "triplets", "region_sentences"}, r["uid"]
        for t in r["triplets"]:
            assert set(t) == {"region", "finding", "existence", "sentence", "start", "end", "cue"}, r["uid"]


def test_ids_valid_against_ontology(records):
    onto = load_ontology()
    for r in records:
        for t in r["triplets"]:
            assert t["finding"] in onto.findings, (r["uid"], t["finding"])
            assert t["region"] is None or t["region"] in onto.regions, (r["uid"], t["region"])
            assert t["existence"] in EXISTENCE
        for region in r["region_sentences"]:
            assert region in onto.regions, (r["uid"], region)


def test_sha1_and_offsets_match_benchmark_text(records, rows):
    tool = _tool()
    for r in records:
        assert r["uid"] in rows, r["uid"]
        text = tool.benchmark_text(rows[r["uid"]])
        assert hashlib.sha1(text.encode("utf-8")).hexdigest() == r["text_sha1"], r["uid"]
        sents = r["sentences"]
        for (s, e), nxt in zip(sents, sents[1:] + [[len(text), len(text)]]):
            assert 0 <= s < e <= nxt[0] <= len(text), r["uid"]
            assert text[s:e] == text[s:e].strip(), r["uid"]
        for t in r["triplets"]:
            s, e = sents[t["sentence"]]
            assert s <= t["start"] < t["end"] <= e, (r["uid"], t)
            if t["cue"] is not None:
                assert s <= t["cue"][0] < t["cue"][1] <= e, (r["uid"], t)
            if t["region"] is not None:
                assert t["sentence"] in r["region_sentences"][t["region"]], (r["uid"], t)
        for idx in r["region_sentences"].values():
            assert idx == sorted(set(idx)) and all(0 <= i < len(sents) for i in idx), r["uid"]


def test_sentences_exclude_headers_and_cover_section_bodies(records, rows):
    tool = _tool()
    for r in records:
        text = tool.benchmark_text(rows[r["uid"]])
        covered = set()
        for s, e in r["sentences"]:
            assert not text[s:e].startswith(("FINDINGS:", "IMPRESSION:")), r["uid"]
            covered.update(range(s, e))
        # every letter of the section bodies belongs to some sentence
        body = tool._HEADER.sub(lambda m: " " * len(m.group(0)), text)
        missing = [i for i, ch in enumerate(body) if ch.isalpha() and i not in covered]
        assert not missing, r["uid"]


def test_uids_follow_the_documented_sample(records, rows):
    tool = _tool()
    sample = tool.sample_uids(rows)
    uids = [r["uid"] for r in records]
    assert uids == sample[: len(uids)]
    assert all(tool.scoreable(rows[u]) for u in uids)
