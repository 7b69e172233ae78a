"""The chunked runner: input order, chunking and worker count do not change the bytes, one bad report stays alone."""
import json
import os

import pytest
from spacy.language import Language

import asg_parse
from asg_parse.cli import runner
from asg_parse.schema import SENTENCE_FIELDS, TRIPLET_FIELDS

ITEMS = [(f"r{i}", text, ()) for i, text in enumerate([
    "Right upper lobe consolidation.", "No pneumothorax or pleural effusion.", "", "Heart size is normal.",
    "Mild bibasilar atelectasis.", "Possible small left pleural effusion.", "Lungs are clear.",
] * 5)]


@Language.component("test_raise_on_boom")
def _raise_on_boom(doc):
    if "BOOM" in doc.text:
        raise ValueError("bad token stream")
    return doc


@pytest.fixture(scope="module")
def nlp():
    return asg_parse.load()


@pytest.fixture(autouse=True)
def pipeline(nlp):
    runner.set_pipeline(nlp)
    yield
    runner.set_pipeline(None)


def _bytes(results) -> str:
    return "".join(runner.iter_lines(results))


def test_chunking_and_workers_do_not_change_the_output():
    one = _bytes(runner.run_chunks(ITEMS, workers=1, chunk_size=1000))
    assert _bytes(runner.run_chunks(ITEMS, workers=1, chunk_size=3)) == one
    assert _bytes(runner.run_chunks(ITEMS, workers=2, chunk_size=4)) == one
    assert [json.loads(line)["id"] for line in one.splitlines()] == [i for i, _, _ in ITEMS]


def test_chunk_result_counts_match_the_records():
    res = runner.process_chunk(ITEMS[:7])
    recs = [json.loads(line) for line in res.lines]
    counts = {"present": 0, "absent": 0, "uncertain": 0}
    for r in recs:
        for t in r["triplets"]:
            counts[t["existence"]] += 1
    assert res.existence == counts and counts["present"] > 0 and counts["absent"] > 0
    assert res.warned == sum(1 for r in recs if r["warnings"]) == 1  # the empty report
    assert res.errors == []


def test_a_report_that_breaks_the_pipeline_does_not_take_its_chunk_down():
    broken = asg_parse.load()
    broken.add_pipe("test_raise_on_boom", first=True)
    runner.set_pipeline(broken)
    items = [("a", "No pneumothorax.", ()), ("b", "BOOM", ("duplicate id 'a' (first used by record 1)",)),
             ("c", "Mild cardiomegaly.", ())]
    res = runner.process_chunk(items)
    recs = [json.loads(line) for line in res.lines]
    assert [r["id"] for r in recs] == ["a", "b", "c"]
    assert recs[1]["error"] == "ValueError: bad token stream"
    assert recs[1]["warnings"] == ["duplicate id 'a' (first used by record 1)"]
    assert recs[2]["tags"] == {"cardiomegaly": 1} and "error" not in recs[2]
    assert res.errors == [(1, "b", "ValueError: bad token stream")]


def test_chunk_size_keeps_every_worker_busy():
    assert runner.chunk_size_for(227_000, 2) == 1000
    assert runner.chunk_size_for(800, 2) == 50
    assert runner.chunk_size_for(10, 4) == 32


def test_guided_chunks_cover_every_item_once_and_shrink_towards_the_end():
    items = [(f"r{i}", "", ()) for i in range(20_000)]
    sizes = [len(c) for c in runner._chunks(items, 1000, workers=2, guided=True)]
    assert [item for c in runner._chunks(items, 1000, workers=2, guided=True) for item in c] == items
    assert sizes[0] == 1000 and sizes[-1] <= 32 and sizes == sorted(sizes, reverse=True)
    assert sum(s <= 100 for s in sizes) >= 4  # the last chunks are small: the workers finish together
    assert [len(c) for c in runner._chunks(items[:70], 32)] == [32, 32, 6]  # a fixed size (--chunk-size)


def test_default_chunks_give_the_bytes_of_fixed_ones():
    items = [(f"r{i}", text, ()) for i, (_, text, _) in enumerate(ITEMS * 20)]  # 700: 44-report chunks, then less
    runner.set_pipeline(runner.load_pipeline())
    assert _bytes(runner.run_chunks(items, workers=2)) == _bytes(runner.run_chunks(items, workers=1, chunk_size=7))


def test_a_worker_that_dies_raises_instead_of_hanging(monkeypatch):
    from asg_parse import api

    real = api.doc_to_record

    def dies(doc, id):
        if "DIE" in doc.text:
            os._exit(3)  # like the kernel's OOM killer: no exception, no result
        return real(doc, id)

    monkeypatch.setattr(api, "doc_to_record", dies)
    items = [(f"r{i}", "DIE" if i == 9 else "No effusion.", ()) for i in range(20)]
    with pytest.raises(runner.WorkerDied, match="a worker process died"):
        list(runner.run_chunks(items, workers=2, chunk_size=4))


NASTY = ['', 'plain', 'quote " and \\ backslash', 'controls \x00\x01\x1f\x7f\n\r\t\b\f', 'non-ASCII é ü 中文 😀',
         '\u2028\u2029 separators', 'lone surrogate \ud800', '\\"', '"},{"x":1', '\\u0041']


def _compact(rec) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"


@pytest.mark.parametrize("s", NASTY)
def test_record_line_is_the_bytes_of_json_dumps(s):
    rec = {"id": s, "sentences": [{"text": s, "start": 0, "end": 12, "section": s}],
           "triplets": [{"region": s, "finding": s, "existence": "present", "sentence": 0, "start": -1, "end": 10 ** 20,
                         "text": s, "cue": None, "cue_class": None},
                        {"region": None, "finding": "f", "existence": "absent", "sentence": 3, "start": 1, "end": 2,
                         "text": s + s, "cue": s, "cue_class": s}],
           "region_sentences": {s: [0, 2], "right lung": [1]}, "tags": {s: -1, "effusion": 0, "mass": 1},
           "warnings": [s, "w"]}
    assert runner.record_line(rec) == _compact(rec)
    rows = {**rec, "sentences": [tuple(x.values()) for x in rec["sentences"]],
            "triplets": [tuple(x.values()) for x in rec["triplets"]]}  # rows: tuples of the fields, in order
    assert runner.record_line(rows) == _compact(rec)
    decided = {**rec, "triplets": [{**t, "decided_by": by} for t, by in zip(rec["triplets"], ("rules", "model"))]}
    assert runner.record_line(decided) == _compact(decided)  # with a learned existence model: one more field
    mixed = {**decided, "sentences": rows["sentences"]}
    assert runner.record_line(mixed) == _compact(decided)
    empty = {"id": s, "sentences": [], "triplets": [], "region_sentences": {}, "tags": {}, "warnings": []}
    assert runner.record_line(empty) == _compact(empty)
    for other in ({**rec, "error": s}, {**rec, "id": 7}, {"warnings": [s], **rec}):  # outside the schema's layout
        assert runner.record_line(other) == _compact(other)


def test_the_cli_pipeline_keeps_rows_and_writes_the_same_lines():
    items = ITEMS + [("x", 'He said "no\\effusion"\t\x0b.\nIMPRESSION: Ünremarkable 肺.', ())]
    dicts = runner.process_chunk(items)  # the five-component pipeline: sentences and triplets as dicts
    lean = runner.load_pipeline()
    runner.set_pipeline(lean)
    rows = runner.process_chunk(items)
    assert rows == dicts and rows.existence["absent"] > 0
    doc = lean("No pneumothorax.")
    assert type(doc._.asg_sentences[0]) is tuple and type(doc._.asg_triplets[0]) is tuple
    public = asg_parse.load(spans=False)("No pneumothorax.")  # the public pipelines: dicts of the schema fields
    assert tuple(public._.asg_sentences[0]) == SENTENCE_FIELDS and tuple(public._.asg_triplets[0]) == TRIPLET_FIELDS


def test_record_lines_of_parsed_reports_are_the_bytes_of_json_dumps():
    recs = runner._records(ITEMS + [("x", 'He said "no\\effusion"\t\x0b.\nIMPRESSION: Ünremarkable 肺.', ())])
    assert [runner.record_line(r) for r in recs] == [_compact(r) for r in recs]


@pytest.mark.parametrize("fork", [True, False])
def test_feed_reads_in_another_process_and_passes_a_late_error_on(tmp_path, monkeypatch, fork):
    from asg_parse.cli.feed import Feed
    from asg_parse.cli.io import InputError, open_reports

    if not fork:  # where there is no fork the input is read here, as the items are asked for
        monkeypatch.setattr(runner.mp, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr("asg_parse.cli.feed.BLOCK", 2)
    path = tmp_path / "r.csv"
    rows = [(f"s{i}", "No effusion." if i % 2 else "Mild cardiomegaly, stable.") for i in range(5)]
    path.write_text("id,report\n" + "".join(f'{i},"{t}"\n' for i, t in rows), encoding="utf-8")
    feed = Feed(open_reports(str(path)), background=True)
    assert (feed._proc is not None) == fork
    assert [(i, t) for i, t, _ in feed] == rows
    assert feed.ended and feed.estimate() == 5 and feed.records == 5
    with path.open("a", encoding="utf-8") as fh:
        fh.write('s5,"never closed\n')
    feed = Feed(open_reports(str(path)), background=True)
    got = []
    with pytest.raises(InputError, match=r"r.csv: line 7: malformed CSV \(unexpected end of data\)"):
        for item in feed:
            got.append(item[0])
    assert got == [f"s{i}" for i in range(4)]  # the blocks before the bad one (2 records each)
    assert feed._proc is None  # the reading process has ended
