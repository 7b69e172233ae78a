"""Tokenizer tweaks, section detection and sentence splitting (asg_sections / asg_sentences) on radiology text."""
from __future__ import annotations

import pytest
import spacy

import asg_parse
from asg_parse.pipeline.sections import HEADERS_KEY, SECTIONS_KEY
from asg_parse.pipeline.tokenizer import TOKENIZER, customize_tokenizer


@pytest.fixture(scope="module", params=["customized", "registered"])
def tok_nlp(request):
    """A blank pipeline whose tokenizer was customised in place, or built by the registered tokenizer (resolved
    through the `spacy_tokenizers` entry point, as `spacy.load` of a saved asg pipeline does)."""
    if request.param == "registered":
        return spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    nlp = spacy.blank("en")
    customize_tokenizer(nlp.tokenizer)
    return nlp


@pytest.fixture(scope="module")
def sec_nlp():
    nlp = spacy.blank("en")
    customize_tokenizer(nlp.tokenizer)
    nlp.add_pipe("asg_sections")
    nlp.add_pipe("asg_sentences")
    return nlp


@pytest.fixture(scope="module")
def nlp(asg_nlp):
    return asg_nlp


def words(nlp, text: str) -> list[str]:
    return [t.text for t in nlp.make_doc(text) if not t.is_space]


# ------------------------------------------------------------------------------------------------ tokenizer
@pytest.mark.parametrize("text, expected", [
    ("Chest x-ray today.", ["Chest", "x-ray", "today", "."]),
    ("Prior X-rays reviewed.", ["Prior", "X-rays", "reviewed", "."]),
    ("A 1.2 cm nodule.", ["A", "1.2", "cm", "nodule", "."]),
    ("Right apex.There is no effusion.", ["Right", "apex", ".", "There", "is", "no", "effusion", "."]),
    ("Small effusion.No pneumothorax.", ["Small", "effusion", ".", "No", "pneumothorax", "."]),
    ("1.No acute process.", ["1", ".", "No", "acute", "process", "."]),
    ("12.Mild cardiomegaly.", ["12", ".", "Mild", "cardiomegaly", "."]),
    ("Stable XXXX opacity.", ["Stable", "XXXX", "opacity", "."]),
    ("Small pneumothorax(apical).", ["Small", "pneumothorax", "(", "apical", ")", "."]),
    ("Devices, e.g. leads, are intact.", ["Devices", ",", "e.g.", "leads", ",", "are", "intact", "."]),
    ("Measures 0.5 x 1.5 cm.", ["Measures", "0.5", "x", "1.5", "cm", "."]),
], ids=["x-ray", "X-rays", "decimal", "apex.There", "effusion.No", "1.No", "12.Mild", "XXXX", "paren", "e.g.",
        "dimensions"])
def test_tokens(tok_nlp, text: str, expected: list[str]):
    assert words(tok_nlp, text) == expected


def test_vertebral_levels_keep_their_numbers(tok_nlp):
    toks = words(tok_nlp, "Compression deformity at T6-T7.")
    # either one token or T6 / - / T7, never "T" and "6" apart
    assert toks[3:-1] in (["T6-T7"], ["T6", "-", "T7"])


def test_customize_is_idempotent(tok_nlp):
    text = "Lungs are clear.No effusion on x-ray, 1.2 cm nodule."
    before = words(tok_nlp, text)
    customize_tokenizer(tok_nlp.tokenizer)
    assert words(tok_nlp, text) == before


def test_load_uses_radiology_tokenizer(nlp):
    assert words(nlp, "apex.There x-ray") == ["apex", ".", "There", "x-ray"]
    assert nlp.config["nlp"]["tokenizer"] == {"@tokenizers": TOKENIZER}


def test_registered_tokenizer_matches_customized():
    built = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}}).tokenizer
    fixed = spacy.blank("en").tokenizer
    customize_tokenizer(fixed)
    assert built.rules == fixed.rules
    assert built.infix_finditer.__self__.pattern == fixed.infix_finditer.__self__.pattern
    assert built.url_match is None and fixed.url_match is None


def test_tokens_keep_text(tok_nlp):
    text = "FINDINGS: XXXX-XXXX views.Lungs clear,no effusion (small)."
    assert tok_nlp.make_doc(text).text == text


# ------------------------------------------------------------------------------------------------ sections
def sections(nlp, text: str) -> list[tuple[str, str]]:
    doc = nlp(text)
    return [(s.label_, s.text.strip()) for s in doc.spans[SECTIONS_KEY]]


def test_no_header_is_findings(sec_nlp):
    assert sections(sec_nlp, "Lungs are clear. No effusion.") == [("findings", "Lungs are clear. No effusion.")]


def test_findings_and_impression(sec_nlp):
    got = sections(sec_nlp, "FINDINGS: Lungs are clear.\nIMPRESSION: Normal chest.")
    assert [label for label, _ in got] == ["findings", "impression"]
    assert got[0][1].endswith("Lungs are clear.") and got[1][1].endswith("Normal chest.")


@pytest.mark.parametrize("header, section", [
    ("INDICATION", "indication"), ("HISTORY", "indication"), ("CLINICAL HISTORY", "indication"),
    ("COMPARISON", "comparison"), ("TECHNIQUE", "technique"), ("EXAMINATION", "examination"),
    ("EXAM", "examination"), ("FINDINGS", "findings"), ("IMPRESSION", "impression"), ("CONCLUSION", "impression"),
    ("Findings", "findings"), ("impression", "impression"),
])
def test_header_words(sec_nlp, header: str, section: str):
    got = sections(sec_nlp, f"{header}: Some text here.\nFINDINGS: Lungs are clear.")
    assert got[0][0] == section
    assert got[-1][0] == "findings"


def test_full_report_sections(sec_nlp):
    text = ("EXAMINATION: Chest PA and lateral.\nINDICATION: Cough.\nCOMPARISON: None.\nTECHNIQUE: Two views.\n"
            "FINDINGS: Lungs are clear.\nIMPRESSION: No acute process.")
    assert [label for label, _ in sections(sec_nlp, text)] == [
        "examination", "indication", "comparison", "technique", "findings", "impression"]


def test_header_spans_include_colon(sec_nlp):
    doc = sec_nlp("INDICATION: Cough.\nFINDINGS: Lungs are clear.")
    assert [h.text for h in doc.spans[HEADERS_KEY]] == ["INDICATION:", "FINDINGS:"]


def test_uppercase_header_on_its_own_line(sec_nlp):
    got = sections(sec_nlp, "FINDINGS\nLungs are clear.\nIMPRESSION\nNormal chest.")
    assert [label for label, _ in got] == ["findings", "impression"]


def test_header_words_in_running_text_are_not_headers(sec_nlp):
    text = "Lungs are clear. Comparison with the prior study shows no change. The history is noted."
    assert sections(sec_nlp, text) == [("findings", text)]


def test_text_before_first_header_is_findings(sec_nlp):
    got = sections(sec_nlp, "Portable view. IMPRESSION: No acute process.")
    assert [label for label, _ in got] == ["findings", "impression"]


def test_header_after_sentence_on_same_line(sec_nlp):
    got = sections(sec_nlp, "INDICATION: Cough. FINDINGS: Lungs are clear.")
    assert [label for label, _ in got] == ["indication", "findings"]


def test_sections_configurable(tmp_path):
    text = "INDICATION: Possible pneumonia.\nFINDINGS: Small left pleural effusion.\nIMPRESSION: No pneumothorax."
    default = asg_parse.parse(text)
    assert {t.finding for t in default.triplets} == {"pleural effusion", "pneumothorax"}
    only_impression = asg_parse.parse(text, nlp=asg_parse.load(sections=["impression"]))
    assert {t.finding for t in only_impression.triplets} == {"pneumothorax"}
    with_indication = asg_parse.parse(text, nlp=asg_parse.load(sections=["indication", "findings", "impression"]))
    assert {t.finding for t in with_indication.triplets} == {"pneumonia", "pleural effusion", "pneumothorax"}
    assert {t.existence for t in with_indication.triplets if t.finding == "pneumonia"} == {"uncertain"}


# ------------------------------------------------------------------------------------------------ sentences
def sentence_texts(nlp, text: str) -> list[str]:
    return [s.text for s in asg_parse.parse(text, nlp=nlp).sentences]


@pytest.mark.parametrize("text, expected", [
    ("Lungs are clear. No effusion.", ["Lungs are clear.", "No effusion."]),
    ("Is there a pneumothorax? None seen!", ["Is there a pneumothorax?", "None seen!"]),
    ("Lungs are clear\nNo effusion", ["Lungs are clear", "No effusion"]),
    ("A 1.5 cm nodule. Stable.", ["A 1.5 cm nodule.", "Stable."]),
    ("Small effusion; no pneumothorax.", ["Small effusion; no pneumothorax."]),
    ("Lungs are clear.No effusion.", ["Lungs are clear.", "No effusion."]),
    ("No effusion.. Heart size is normal.", ["No effusion..", "Heart size is normal."]),
    ("FINDINGS: Lungs are clear.", ["Lungs are clear."]),
    ("FINDINGS:\n\nLungs are clear.\n\n", ["Lungs are clear."]),
    ("Devices, e.g. leads, are intact. No effusion.", ["Devices, e.g. leads, are intact.", "No effusion."]),
], ids=["period", "question-exclamation", "line-break", "decimal", "semicolon", "glued", "double-period",
        "header-excluded", "blank-lines", "abbreviation"])
def test_sentence_split(nlp, text: str, expected: list[str]):
    assert sentence_texts(nlp, text) == expected


@pytest.mark.parametrize("text", [
    "IMPRESSION: 1. Small effusion. 2. No pneumothorax.",
    "IMPRESSION:\n1. Small effusion.\n2. No pneumothorax.",
    "IMPRESSION: 1) Small effusion. 2) No pneumothorax.",
    "IMPRESSION: 1.Small effusion. 2.No pneumothorax.",
], ids=["inline", "lines", "paren", "glued"])
def test_numbered_items(nlp, text: str):
    """GUIDELINES section 2: each item is a sentence; the enumerator belongs to no sentence."""
    assert sentence_texts(nlp, text) == ["Small effusion.", "No pneumothorax."]


@pytest.mark.parametrize("text", [
    "IMPRESSION: 1. Small effusion. 2. No pneumothorax.",
    "IMPRESSION:\n1. Small effusion.\n2. No pneumothorax.",
    "IMPRESSION: 1) Small effusion. 2) No pneumothorax.",
], ids=["inline", "lines", "paren"])
def test_numbered_items_split_into_two_sentences(nlp, text: str):
    sents = asg_parse.parse(text, nlp=nlp).sentences
    assert len(sents) == 2
    assert sents[0].text.endswith("Small effusion.") and sents[1].text.endswith("No pneumothorax.")


@pytest.mark.parametrize("text, expected", [
    # impressions written all in lower case, each number glued to its item on its own line
    ("\n \n1.no pneumothorax.\n \n2.small left effusion.", ["no pneumothorax.", "small left effusion."]),
    ("1.no pneumothorax. 2.small left effusion.", ["no pneumothorax.", "small left effusion."]),
    # items without a period of their own: a "2." goes on the list its "1." opened
    ("IMPRESSION: 1. Cardiomegaly without failure 2. Small effusion", ["Cardiomegaly without failure",
                                                                        "Small effusion"]),
    # a number that ends a sentence after a word, in no list, is no item
    ("Status post sternotomy, postoperative day 2. Lungs are clear.", ["Status post sternotomy, postoperative day 2.",
                                                                        "Lungs are clear."]),
], ids=["lower-case-lines", "lower-case-inline", "items-without-periods", "day-number"])
def test_enumerators_by_their_place(nlp, text: str, expected: list[str]):
    """GUIDELINES section 2: an enumerator is never a sentence of its own, and a number ending a sentence is no
    enumerator."""
    assert sentence_texts(nlp, text) == expected


def test_numbers_inside_sentences_are_not_items(nlp):
    text = "Tube tip is 4 cm above the carina. There are 2 nodules."
    assert sentence_texts(nlp, text) == ["Tube tip is 4 cm above the carina.", "There are 2 nodules."]


def test_sentence_offsets_and_sections(nlp):
    text = "INDICATION: Cough.\nFINDINGS: Lungs are clear. No effusion.\nIMPRESSION: Normal chest."
    r = asg_parse.parse(text, nlp=nlp)
    assert [(s.text, s.section) for s in r.sentences] == [
        ("Cough.", "indication"), ("Lungs are clear.", "findings"), ("No effusion.", "findings"),
        ("Normal chest.", "impression")]
    for s in r.sentences:
        assert text[s.start:s.end] == s.text


def test_sentence_starts_set_by_component(sec_nlp):
    doc = sec_nlp("FINDINGS: Lungs are clear. No effusion.\nIMPRESSION: Normal.")
    assert doc.has_annotation("SENT_START")
    starts = [s[0].text for s in doc.sents if not all(t.is_space for t in s)]
    assert "Lungs" in starts and "No" in starts and "FINDINGS" in starts and "IMPRESSION" in starts
