"""The token table (asg_parse.pipeline.tokens): the same on docs from our tokenizer (text noted) and any other Doc."""
from __future__ import annotations

import spacy
from spacy.tokens import Doc

from asg_parse.pipeline.tokenizer import TOKENIZER
from asg_parse.pipeline.tokens import TEXT_KEY, release, tokens

TEXT = "FINDINGS: No effusion.\n\n 1. Mild  edema.  "


def _expected(doc: Doc) -> tuple:
    return ([t.text for t in doc], [t.lower_ for t in doc], [t.idx for t in doc] + [len(doc.text)], doc.text)


def _got(doc: Doc) -> tuple:
    tt = tokens(doc)
    return list(tt.text), list(tt.lower), tt.idx, tt.string


def test_noted_text_is_sliced_and_dropped():
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    doc = nlp.make_doc(TEXT)
    assert doc.user_data[TEXT_KEY] == TEXT
    assert _got(doc) == _expected(doc)
    assert TEXT_KEY not in doc.user_data  # read once: the doc does not carry it on
    release(doc)
    assert _got(doc) == _expected(doc)  # rebuilt by joining the tokens


def test_docs_without_noted_text():
    nlp = spacy.blank("en")
    for doc in (nlp.make_doc(TEXT), Doc(nlp.vocab, words=["No", "effusion", "."], spaces=[True, False, False]),
                nlp.make_doc("")):
        assert _got(doc) == _expected(doc)


def test_a_noted_text_of_another_doc_is_not_used():
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    doc = nlp.make_doc(TEXT)
    part = doc[2:5].as_doc(copy_user_data=True)  # carries the whole report's text
    assert _got(part) == _expected(part)


def test_sentence_index_with_and_without_storing_the_starts():
    from asg_parse.pipeline.sentences import set_sentence_starts

    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    lean, stored = nlp.make_doc(TEXT), nlp.make_doc(TEXT)
    assert set_sentence_starts(lean, [], store=False) == set_sentence_starts(stored, [])
    assert not lean.has_annotation("SENT_START") and stored.has_annotation("SENT_START")
    assert set_sentence_starts(stored, []) == ([0, 6, 13], [0] * 6 + [1] * 7, True)  # "1." starts an item
