"""spaCy integration: entry-point factories in a fresh interpreter, to_disk/spacy.load round trips, user
ontologies, and the Python API (parse, parse_many, empty input, schema validation)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import spacy

import asg_parse
from asg_parse.api import doc_to_record
from asg_parse.schema import ParsedReport

REPORT = ("INDICATION: Cough, rule out pneumonia.\n"
          "FINDINGS: Small left pleural effusion.No pneumothorax. Calcified granuloma in the right apex.There is "
          "bibasilar atelectasis. Heart size is normal.\n"
          "IMPRESSION: 1. Possible left lower lobe pneumonia. 2. No acute fracture.")


def run_fresh(code: str) -> str:
    """Run `code` in a new interpreter (so only entry points can register our factories); return stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def nlp(asg_nlp):
    return asg_nlp


def triple_set(triplets: list[dict]) -> set[tuple]:
    return {(t["region"], t["finding"], t["existence"]) for t in triplets}


# ------------------------------------------------------------------------------------------------ entry points
def test_entry_points_in_fresh_interpreter(nlp, tmp_path: Path):
    """In one new interpreter (no asg_parse import in the user code): every factory adds through the
    `spacy_factories` entry points; asg_parser and the granular pipeline parse; a saved pipeline loads."""
    nlp.to_disk(tmp_path / "model")
    out = run_fresh(f"""
        import json, sys
        import spacy
        text = {REPORT!r}
        assert "asg_parse" not in sys.modules
        nlp = spacy.blank("en")
        nlp.add_pipe("asg_parser")
        doc = nlp(text)
        print(json.dumps(doc._.asg_triplets))
        granular = spacy.blank("en")
        granular.add_pipe("asg_sections")
        granular.add_pipe("asg_sentences")
        granular.add_pipe("asg_mentions")
        granular.add_pipe("asg_existence", config={{"span_keys": ["asg_findings"]}})
        granular.add_pipe("asg_triplets")
        print(json.dumps(granular.pipe_names))
        print(json.dumps(granular(text)._.asg_triplets))
        print(json.dumps(spacy.load({str(tmp_path / "model")!r})(text)._.asg_triplets))
    """)
    lines = out.strip().splitlines()
    allin, names, granular, loaded = (json.loads(line) for line in lines)
    assert names == ["asg_sections", "asg_sentences", "asg_mentions", "asg_existence", "asg_triplets"]
    expected = asg_parse.parse(REPORT, nlp=nlp).model_dump()["triplets"]
    assert allin == expected
    assert granular == expected
    assert loaded == expected
    got = triple_set(allin)
    assert ("left costophrenic angle", "pleural effusion", "present") in got
    assert ("right lung", "pneumothorax", "absent") in got
    assert not any(t["finding"] == "pneumonia" and t["sentence"] == 0 for t in allin)  # indication ignored


def test_every_advertised_factory_loads():
    """Each `spacy_factories` / `spacy_tokenizers` entry point of pyproject.toml is installed, imports, and names the
    factory spaCy registers under that name (a moved module would leave a dangling path)."""
    import tomllib
    from importlib.metadata import entry_points

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    for group in ("spacy_factories", "spacy_tokenizers"):
        advertised = project["project"]["entry-points"][group]
        installed = {ep.name: ep for ep in entry_points(group=group) if ep.name in advertised}
        assert {name: ep.value for name, ep in installed.items()} == advertised, "reinstall: pip install -e ."
        for name, ep in installed.items():
            factory = ep.load()
            assert callable(factory), name
            if group == "spacy_factories":
                assert spacy.registry.factories.get(name) is factory


# ------------------------------------------------------------------------------------------------ round trips
def test_round_trip_of_load(nlp, tmp_path: Path):
    before = nlp(REPORT)
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.pipe_names == nlp.pipe_names
    after = loaded(REPORT)
    assert after._.asg_triplets == before._.asg_triplets
    assert after._.asg_region_sentences == before._.asg_region_sentences
    assert [t.text for t in after] == [t.text for t in before]  # tokenizer tweaks survive ("apex.There")


def test_round_trip_of_blank_with_asg_parser(nlp, tmp_path: Path):
    blank = spacy.blank("en")
    blank.add_pipe("asg_parser")
    before = blank(REPORT)
    blank.to_disk(tmp_path / "model")
    after = spacy.load(tmp_path / "model")(REPORT)
    assert after._.asg_triplets == before._.asg_triplets
    assert after._.asg_region_sentences == before._.asg_region_sentences
    assert before._.asg_triplets == nlp(REPORT)._.asg_triplets  # the one component == the assembled pipeline


def test_lean_pipeline_round_trips_with_its_config(tmp_path: Path):
    lean = asg_parse.load(spans=False)
    lean.to_disk(tmp_path / "lean")
    again = spacy.load(tmp_path / "lean")
    assert again.get_pipe("asg_parser").cfg["spans"] is False
    assert doc_to_record(again(REPORT), "r") == doc_to_record(lean(REPORT), "r")
    assert "asg_findings" not in again(REPORT).spans


def test_lean_pipeline_gives_the_same_records_without_the_spans(nlp):
    from test_parser_table import CASES  # 160+ hand-written reports covering every rule

    texts = [REPORT] + [case.values[0] for case in CASES]
    lean = asg_parse.load(spans=False)
    assert lean.pipe_names == ["asg_parser"]
    full = [doc_to_record(d, str(i)) for i, d in enumerate(nlp.pipe(texts))]
    assert [doc_to_record(d, str(i)) for i, d in enumerate(lean.pipe(texts))] == full
    assert sum(len(r["triplets"]) for r in full) > 250
    doc = lean(REPORT)
    assert "asg_findings" not in doc.spans and doc._.asg_triplets
    with_spans = spacy.blank("en")
    with_spans.add_pipe("asg_parser")  # spans: true (the default) keeps the intermediate results, as load() does
    doc, ref = with_spans(REPORT), nlp(REPORT)
    assert [(s.text, s.label_, s._.asg_existence) for s in doc.spans["asg_findings"]] == \
        [(s.text, s.label_, s._.asg_existence) for s in ref.spans["asg_findings"]]


# ------------------------------------------------------------------------------------------------ user ontology
USER_FINDINGS = """\
# a user's extension: one new finding with its own surface forms
findings:
  - id: azygos lobe
    forms: [azygos lobe, azygos fissure]
    default_regions: [right upper lung zone]
    note: normal variant
"""
USER_TEXT = "Incidental azygos fissure. No pneumothorax."
USER_EXPECTED = {("right upper lung zone", "azygos lobe", "present"),
                 ("right lung", "pneumothorax", "absent"), ("left lung", "pneumothorax", "absent")}


@pytest.fixture()
def user_dir(tmp_path: Path) -> Path:
    d = tmp_path / "my_ontology"
    d.mkdir()
    (d / "findings.yaml").write_text(USER_FINDINGS, encoding="utf-8")
    return d


def test_user_ontology_via_load_survives_round_trip_self_contained(nlp, user_dir: Path, tmp_path: Path):
    plain = asg_parse.parse(USER_TEXT, nlp=nlp)  # our ontology alone does not know the new finding
    assert triple_set(plain.model_dump()["triplets"]) == USER_EXPECTED - {("right upper lung zone", "azygos lobe", "present")}
    user_nlp = asg_parse.load(ontology=user_dir)
    assert triple_set(asg_parse.parse(USER_TEXT, nlp=user_nlp).model_dump()["triplets"]) == USER_EXPECTED
    before = user_nlp(USER_TEXT)._.asg_triplets
    user_nlp.to_disk(tmp_path / "model")
    shutil.rmtree(user_dir)  # the saved pipeline must not need the original directory
    loaded = spacy.load(tmp_path / "model")
    after = loaded(USER_TEXT)._.asg_triplets
    assert after == before
    assert triple_set(after) == USER_EXPECTED


def test_user_ontology_with_asg_parser_round_trip(user_dir: Path, tmp_path: Path):
    blank = spacy.blank("en")
    blank.add_pipe("asg_parser", config={"ontology": str(user_dir)})
    before = blank(USER_TEXT)._.asg_triplets
    assert triple_set(before) == USER_EXPECTED
    blank.to_disk(tmp_path / "model")
    shutil.rmtree(user_dir)
    assert spacy.load(tmp_path / "model")(USER_TEXT)._.asg_triplets == before


# ------------------------------------------------------------------------------------------------ Python API
def test_parse_many_plain_texts(nlp):
    texts = ["No pneumothorax.", "Cardiomegaly.", "The lungs are clear."]
    reports = list(asg_parse.parse_many(texts, nlp=nlp))
    assert [r.id for r in reports] == ["0", "1", "2"]
    assert [sorted({t.finding for t in r.triplets}) for r in reports] == [["pneumothorax"], ["cardiomegaly"], []]
    assert all(isinstance(r, ParsedReport) for r in reports)


def test_parse_many_with_ids_keeps_order(nlp):
    items = [("cxr-9", "Small left pleural effusion."), ("cxr-2", "No pneumothorax."), ("cxr-5", "")]
    reports = list(asg_parse.parse_many(items, nlp=nlp))
    assert [r.id for r in reports] == ["cxr-9", "cxr-2", "cxr-5"]
    assert reports[0].tags == {"pleural effusion": 1}
    assert reports[1].tags == {"pneumothorax": 0}
    assert reports[2].triplets == [] and reports[2].warnings


def test_parse_many_matches_parse(nlp):
    texts = [REPORT, "Bibasilar atelectasis.", "Heart size is normal."]
    many = [r.model_dump() for r in asg_parse.parse_many([(f"r{i}", t) for i, t in enumerate(texts)], nlp=nlp)]
    single = [asg_parse.parse(t, id=f"r{i}", nlp=nlp).model_dump() for i, t in enumerate(texts)]
    assert many == single


def test_api_refuses_what_is_not_report_text(nlp):
    with pytest.raises(TypeError, match="parse: the report text must be a str, not bytes"):
        asg_parse.parse(b"No effusion.", nlp=nlp)  # spaCy would read bytes as a serialised doc
    with pytest.raises(TypeError, match=r"item 1: expected a report text \(str\) or an \(id, text\) pair, "
                                        "not a pair whose text is NoneType"):
        list(asg_parse.parse_many(["No effusion.", ("r2", None)], nlp=nlp))
    with pytest.raises(TypeError, match="item 0: .* not int"):
        list(asg_parse.parse_records([7], nlp=nlp))


def test_docs_survive_bytes_docbin_and_worker_processes(nlp):
    """What spaCy does with a finished doc (to_bytes, a DocBin, nlp.pipe with n_process) keeps our results; the
    links the components pass on are stored so that the bytes read back."""
    from spacy.tokens import Doc, DocBin

    from asg_parse.pipeline.mentions import anatomy_regions_of, links_of

    texts = [REPORT, "No pneumothorax is seen on the right. Patchy opacity in the right upper lobe."]
    docs = list(nlp.pipe(texts))
    outputs = ("asg_sentences", "asg_triplets", "asg_region_sentences", "asg_tags")
    for doc in docs:
        back = Doc(nlp.vocab).from_bytes(doc.to_bytes())
        assert all(getattr(back._, name) == getattr(doc._, name) for name in outputs)
        assert links_of(back).keys() == links_of(doc).keys() and links_of(doc)
        assert [list(v[0]) for v in links_of(back).values()] == [list(v[0]) for v in links_of(doc).values()]
        assert anatomy_regions_of(back) == anatomy_regions_of(doc) and anatomy_regions_of(doc)
    store = DocBin(store_user_data=True, docs=docs)
    again = list(DocBin().from_bytes(store.to_bytes()).get_docs(nlp.vocab))
    # (DocBin reads the lists of user data back as tuples)
    assert [json.dumps(d._.asg_triplets) for d in again] == [json.dumps(d._.asg_triplets) for d in docs]
    fast = spacy.blank("en")
    fast.add_pipe("asg_parser")
    in_workers = [d._.asg_triplets for d in fast.pipe(texts * 2, n_process=2, batch_size=1)]
    assert in_workers == [d._.asg_triplets for d in fast.pipe(texts * 2)]


def test_component_settings_are_checked():
    with pytest.raises(ValueError, match=r"unknown section\(s\) 'finding' \(known: findings, impression"):
        asg_parse.parse("FINDINGS: No effusion.", nlp=asg_parse.load(sections=["finding"]))
    for mode, message in (("maybe", "existence_mode must be one of rules, model, vote, not 'maybe'"),
                          ("vote", "existence_mode 'vote' needs an existence_model directory")):
        with pytest.raises(ValueError, match=message):
            spacy.blank("en").add_pipe("asg_parser", config={"existence_mode": mode})


def test_parse_without_nlp_uses_default_pipeline():
    r = asg_parse.parse("No pneumothorax.", id="x")
    assert r.id == "x"
    assert {(t.region, t.existence) for t in r.triplets} == {("right lung", "absent"), ("left lung", "absent")}


@pytest.mark.parametrize("text", ["", "   ", "\n\n"], ids=["empty", "spaces", "newlines"])
def test_empty_report_gives_warning(nlp, text: str):
    r = asg_parse.parse(text, nlp=nlp)
    assert r.triplets == [] and r.sentences == [] and r.tags == {} and r.region_sentences == {}
    assert len(r.warnings) >= 1 and "empty" in r.warnings[0]
    assert r.error is None


def test_output_validates_against_schema(nlp):
    r = asg_parse.parse(REPORT, id="full", nlp=nlp)
    line = r.to_json()
    assert "\n" not in line
    data = json.loads(line)
    assert set(data) == {"id", "sentences", "triplets", "region_sentences", "tags", "warnings"}  # no error key
    again = ParsedReport.model_validate(data)
    assert again == r
    rec = doc_to_record(nlp(REPORT), "full")
    assert ParsedReport.model_validate(rec) == r
    for t in r.triplets:
        assert REPORT[t.start:t.end] == t.text
        assert 0 <= t.sentence < len(r.sentences)
        s = r.sentences[t.sentence]
        assert s.start <= t.start and t.end <= s.end
        assert s.section in {"findings", "impression"}
    for s in r.sentences:
        assert REPORT[s.start:s.end] == s.text
    for region, idx in r.region_sentences.items():
        assert idx == sorted(set(idx))
    assert set(r.tags.values()) <= {1, 0, -1}


def test_schema_rejects_bad_values():
    from pydantic import ValidationError

    good = {"id": "a", "triplets": [{"region": None, "finding": "tube", "existence": "present", "sentence": 0,
                                     "start": 0, "end": 4, "text": "tube", "cue": None}]}
    ParsedReport.model_validate(good)
    bad_existence = json.loads(json.dumps(good))
    bad_existence["triplets"][0]["existence"] = "negated"
    with pytest.raises(ValidationError):
        ParsedReport.model_validate(bad_existence)
    with pytest.raises(ValidationError):
        ParsedReport.model_validate({"id": "a", "tags": {"opacity": 2}})
    with pytest.raises(ValidationError):
        ParsedReport.model_validate({"id": "a", "extra_field": 1})
