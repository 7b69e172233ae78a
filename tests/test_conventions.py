"""Labelling conventions as data: cue classes, the asg / chexpert / linguistic profiles, user profiles, cue_class."""
from __future__ import annotations

from pathlib import Path

import pytest
import spacy

import asg_parse
from anatomy_ontology import Convention, Cue, OntologyError, load_ontology
from asg_parse.pipeline.existence import ExistenceEngine
from asg_parse.pipeline.resources import get_ontology


@pytest.fixture(scope="module")
def pipelines():
    return {name: asg_parse.load(spans=False, convention=name) for name in ("asg", "chexpert", "linguistic")}


def readings(nlp, text: str) -> dict[str, tuple[str, str]]:
    """finding -> (existence, cue_class) of a one-report parse (one entry per finding)."""
    rep = asg_parse.parse(text, nlp=nlp)
    return {t.finding: (t.existence, t.cue_class) for t in rep.triplets}


# (text, finding, asg, chexpert, linguistic): what each profile makes of one cue class; our own sentences
PROFILE_TABLE = [
    ("Left basilar opacity, likely atelectasis.", "atelectasis", "present", "present", "uncertain"),
    ("Probable small right pleural effusion.", "pleural effusion", "present", "uncertain", "uncertain"),
    ("No new pleural effusion.", "pleural effusion", "absent", "uncertain", "absent"),
    ("Bibasilar opacities, atelectasis or consolidation.", "consolidation", "present", "uncertain", "present"),
    ("Right lower lobe opacity concerning for pneumonia.", "pneumonia", "uncertain", "present", "uncertain"),
    ("Aspiration is favored over atelectasis here.", "atelectasis", "uncertain", "uncertain", "absent"),
    ("No pneumothorax.", "pneumothorax", "absent", "absent", "absent"),
    ("Possible small left pleural effusion.", "pleural effusion", "uncertain", "uncertain", "uncertain"),
    # a statement of no change: the finding is there (asg, chexpert); BioScope's "no" scopes over it (linguistic)
    ("No significant change in the small left pleural effusion.", "pleural effusion", "present", "present", "absent"),
    ("Stable appearance without interval change of the basilar atelectasis.", "atelectasis", "present", "present",
     "absent"),
    # a modal possibility is a hedge under every profile; the reader's suggestion is present under chexpert
    ("Reticular pattern, which can be seen with atypical infection.", "pneumonia", "uncertain", "uncertain",
     "uncertain"),
    ("Reticular pattern suggestive of atypical infection.", "pneumonia", "uncertain", "present", "uncertain"),
    # a normal state is no linguistic negation cue (BioScope marks none)
    ("The hilar markings are within normal limits.", "marking", "absent", "absent", "present"),
    # "with or without X": a hedge, except that BioScope's linguists read its "without"
    ("Volume loss in the lingula with or without superimposed infection.", "pneumonia", "uncertain", "uncertain",
     "absent"),
    # a disjunction whose join holds a hedge or a list item that names no finding
    ("Pulmonary edema or possible aspiration.", "edema", "present", "uncertain", "present"),
    ("Worsening pulmonary edema, drug reaction, or infection.", "edema", "present", "uncertain", "present"),
    ("Atelectasis or infectious consolidation at the left base.", "atelectasis", "present", "uncertain", "present"),
    # not a disjunction: one finding named twice; a location before the second item; a clause after a comma
    ("Mild fluid overload/edema.", "edema", "present", "present", "present"),
    ("Stable effusions or left basilar airspace consolidation.", "consolidation", "present", "present", "present"),
    ("Left effusion, with atelectasis or pneumonia.", "pleural effusion", "present", "present", "present"),
]


@pytest.mark.parametrize("text,finding,asg,chexpert,linguistic", PROFILE_TABLE)
def test_each_profile_reads_a_class_its_way(pipelines, text, finding, asg, chexpert, linguistic):
    got = {name: readings(nlp, text)[finding][0] for name, nlp in pipelines.items()}
    assert got == {"asg": asg, "chexpert": chexpert, "linguistic": linguistic}


def test_default_is_asg(pipelines):
    default = asg_parse.load(spans=False)
    for text, finding, *_ in PROFILE_TABLE:
        assert readings(default, text) == readings(pipelines["asg"], text)


def test_triplets_record_the_cue_class(pipelines):
    got = readings(pipelines["chexpert"], "No pneumothorax. Probable right pleural effusion. Mild cardiomegaly.")
    assert got["pneumothorax"] == ("absent", "negation")
    assert got["pleural effusion"] == ("uncertain", "probable")
    assert got["cardiomegaly"] == ("present", None)  # no cue, no class


def test_a_state_statement_records_class_state(pipelines):
    rep = asg_parse.parse("The heart size is normal.", nlp=pipelines["asg"])
    assert {(t.finding, t.existence, t.cue_class) for t in rep.triplets} == {("cardiomegaly", "absent", "state")}


def test_cue_class_allows_remapping_without_reparsing(pipelines):
    """A downstream user re-reads the asg output under chexpert from cue_class alone, for the classes both read."""
    onto = get_ontology(None)
    chexpert = onto.convention("chexpert")
    text = "Possible right lower lobe pneumonia. No pneumothorax. Opacity concerning for aspiration."
    asg = asg_parse.parse(text, nlp=pipelines["asg"])
    remapped = {t.finding: (chexpert.classes[t.cue_class] if t.cue_class else t.existence) for t in asg.triplets}
    direct = {t.finding: t.existence for t in asg_parse.parse(text, nlp=pipelines["chexpert"]).triplets}
    assert remapped["aspiration"] == direct["aspiration"] == "present"
    assert remapped == direct


def test_every_trigger_cue_has_a_class_every_profile_reads():
    onto = get_ontology(None)
    classes = {c.trigger_class for c in onto.cues if c.kind in ("negation", "uncertainty")}
    assert None not in classes
    for name in ("asg", "chexpert", "linguistic"):
        assert classes <= set(onto.convention(name).classes), name


def test_unknown_convention_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown convention 'nope'.*asg.*chexpert.*linguistic"):
        asg_parse.load(convention="nope")


def test_user_directory_adds_a_profile(tmp_path: Path):
    (tmp_path / "existence.yaml").write_text(
        "conventions:\n"
        "  - id: strict\n"
        "    description: every hedge counts as absent\n"
        "    classes: {hedge: absent}\n", encoding="utf-8")
    nlp = asg_parse.load(ontology=tmp_path, spans=False, convention="strict")
    assert readings(nlp, "Possible left pleural effusion.")["pleural effusion"] == ("absent", "hedge")
    # a class the profile does not name keeps its kind's reading
    assert readings(nlp, "Right lower lobe opacity concerning for pneumonia.")["pneumonia"][0] == "uncertain"


def test_a_profile_naming_an_unknown_class_is_an_ontology_error(tmp_path: Path):
    (tmp_path / "existence.yaml").write_text(
        "conventions:\n  - {id: typo, description: x, classes: {hedges: absent}}\n", encoding="utf-8")
    with pytest.raises(OntologyError, match="typo.*unknown cue class 'hedges'"):
        load_ontology(tmp_path)


def test_class_only_on_triggers_and_lists():
    with pytest.raises(ValueError, match="terminator cue takes no class"):
        Cue.model_validate({"text": "but", "kind": "terminator", "class": "negation"})
    assert Cue.model_validate({"text": "nah", "kind": "negation"}).trigger_class == "negation"
    assert Cue.model_validate({"text": "maybe", "kind": "uncertainty"}).trigger_class == "hedge"


def test_ignore_drops_the_cue_but_not_the_words_inside():
    cues = [Cue(text="no", kind="negation"), Cue.model_validate({"text": "no new", "kind": "negation",
                                                                 "class": "temporal"})]
    nlp = spacy.blank("en")
    for reading, expected in (("ignore", ("absent", "no", "negation")), ("uncertain", ("uncertain", "no new", "temporal")),
                              ("present", ("present", None, None))):
        conv = Convention(id="t", description="t", classes={"temporal": reading})
        engine = ExistenceEngine(cues, nlp.vocab, convention=conv)
        doc = nlp.make_doc("no new effusion")
        existence, cue = engine.label(doc, doc[2:3])
        assert (existence, cue and cue["text"], cue and cue["class"]) == expected, reading


def test_components_take_the_convention_in_their_config(tmp_path: Path):
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence", config={"convention": "linguistic"})
    doc = nlp.make_doc("Opacity, likely atelectasis.")
    doc.ents = [doc.char_span(16, 27, label="FINDING")]
    nlp.get_pipe("asg_existence")(doc)
    assert doc.ents[0]._.asg_existence == "uncertain"
    assert doc.ents[0]._.asg_existence_cue["class"] == "leaning"
    # the profile travels with a saved pipeline
    nlp.to_disk(tmp_path / "p")
    back = spacy.load(tmp_path / "p")
    doc = back.make_doc("Opacity, likely atelectasis.")
    doc.ents = [doc.char_span(16, 27, label="FINDING")]
    back.get_pipe("asg_existence")(doc)
    assert doc.ents[0]._.asg_existence == "uncertain"


def test_parser_component_config():
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_parser", config={"convention": "chexpert", "spans": False})
    rec = asg_parse.api.doc_to_record(nlp("No new consolidation."), "r")
    # uncertain under chexpert, and placed as the project reads it (a negation: the defaults, both lungs)
    assert [(t["region"], t["existence"], t["cue_class"]) for t in rec["triplets"]] == [
        ("right lung", "uncertain", "temporal"), ("left lung", "uncertain", "temporal")]


def test_evaluate_rereads_predictions_by_cue_class(tmp_path: Path, pipelines):
    import json

    from typer.testing import CliRunner

    from asg_parse.cli.app import app

    text = "Opacity concerning for pneumonia. No pneumothorax."
    as_asg = asg_parse.parse(text, "r1", nlp=pipelines["asg"]).model_dump()
    as_chexpert = asg_parse.parse(text, "r1", nlp=pipelines["chexpert"]).model_dump()
    as_chexpert["text"] = text
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold.write_text(json.dumps(as_chexpert) + "\n", encoding="utf-8")
    pred.write_text(json.dumps(as_asg) + "\n", encoding="utf-8")
    scores = {}
    for conv in (None, "chexpert"):
        out = tmp_path / f"{conv}.json"
        args = ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json", str(out)]
        res = CliRunner().invoke(app, args + (["--convention", conv] if conv else []))
        assert res.exit_code == 0, res.output
        scores[conv] = json.loads(out.read_text())["existence_accuracy"]
    assert scores[None] < 1.0 and scores["chexpert"] == 1.0
    res = CliRunner().invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--convention", "nope"])
    assert res.exit_code == 2 and "unknown convention 'nope'" in res.output


def test_five_components_and_the_parser_agree_under_a_profile(pipelines):
    components = asg_parse.load(spans=True, convention="chexpert")
    wrapped = ["Blunted left angle, possibly reflecting a\nsmall left pleural effusion.",
               "IMPRESSION:\nSmall left effusion versus pleural\nthickening. No focal\nconsolidation.\n\n"
               "CLINICAL\nHISTORY: cough.",
               "Heart size at the upper limits of\nnormal. No new\npneumothorax."]
    texts = [t for t, *_ in PROFILE_TABLE] + wrapped
    texts.append("Pacer/AICD in place. Atelectasis/consolidation at the left base.")
    for text in texts:
        assert asg_parse.parse(text, nlp=components) == asg_parse.parse(text, nlp=pipelines["chexpert"]), text
    rep = asg_parse.parse(texts[-1], nlp=components)
    got = {(t.finding, t.existence) for t in rep.triplets}
    assert ("pacemaker", "present") in got  # a device list is not a disjunction
    assert ("atelectasis", "uncertain") in got and ("consolidation", "uncertain") in got
