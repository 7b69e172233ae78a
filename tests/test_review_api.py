"""`asg-parse review`: the web API through FastAPI's test client (load, correct, accept, resume, ontology additions,
bad requests, hostile text), the gold file read by `asg-parse evaluate`, and the command line."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the [review] extra is not installed (pip install -e '.[review]')")
pytest.importorskip("httpx", reason="httpx (the test client's transport) is not installed")

from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from asg_parse.cli.app import app as cli_app  # noqa: E402
from asg_parse.review.app import create_app  # noqa: E402
from asg_parse.review.store import ReviewStore  # noqa: E402

from review_fixtures import HOSTILE, REPORTS, UNKNOWN_FINDING, UNKNOWN_PHRASE, items, write_reports  # noqa: E402


@pytest.fixture
def make(tmp_path, asg_nlp):
    """make(**store options) -> (store, client) over the fixture reports, writing into tmp_path."""

    def build(order: str = "input", ontology_out: bool = False, out: Path | None = None):
        store = ReviewStore(items(), out or tmp_path / "reviewed.jsonl", order=order,
                            ontology_out=tmp_path / "additions" if ontology_out else None, nlp=asg_nlp)
        return store, TestClient(create_app(store))

    return build


def post(client: TestClient, path: str, body: dict, **kw):
    return client.post(path, json=body, **kw)


def row(view: dict, finding: str, region: str | None = None) -> dict:
    return next(t for t in view["triplets"] if t["finding"] == finding and (region is None or t["region"] == region))


def test_page_opens_on_the_first_report_with_its_triplets(make):
    store, client = make()
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-start="calm-1"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/review.js").status_code == 200
    view = client.get("/api/reports/calm-1").json()
    assert view["text"].startswith("FINDINGS: The lungs are clear.")
    assert {(t["finding"], t["existence"]) for t in view["triplets"]} == {
        ("pleural effusion", "absent"), ("pneumothorax", "absent"), ("cardiomegaly", "absent")}
    assert [s["section"] for s in view["sentences"]] == ["findings"] * 3
    assert any(a["regions"] == ["cardiac silhouette"] for a in view["anatomy"])  # "Heart" underlined
    queue = client.get("/api/queue").json()
    assert [r["id"] for r in queue["reports"]] == [rid for rid, _ in REPORTS]
    assert queue["counts"] == {"todo": 4, "reviewed": 0, "skipped": 0}


def test_confidence_order_puts_hedged_reports_first(make):
    store, _ = make(order="confidence")
    assert store.queue[0] == "nodule-2"  # "Possible pneumonia ..., atelectasis or scar"
    assert store.queue[-1] == "calm-1"  # nothing uncertain
    u = store.reports["nodule-2"].uncertainty
    assert u["uncertain"] == 3 and u["hedges"] == 2  # "Possible" and the alternative "or"
    assert store.reports["calm-1"].uncertainty["score"] == 0


def test_corrections_are_saved_as_gold_that_evaluate_reads(make, tmp_path):
    store, client = make()
    rid = "nodule-2"
    view = client.get(f"/api/reports/{rid}").json()
    nodule = row(view, "nodule")
    view = post(client, f"/api/reports/{rid}/triplets/{nodule['tid']}/existence",
                {"report_id": rid, "existence": "uncertain", "cue": None}).json()
    assert row(view, "nodule")["existence"] == "uncertain"
    scar = row(view, "scar")
    view = post(client, f"/api/reports/{rid}/triplets/{scar['tid']}/delete", {"report_id": rid}).json()
    assert not any(t["finding"] == "scar" for t in view["triplets"])
    atel = row(view, "atelectasis")
    view = post(client, f"/api/reports/{rid}/triplets/{atel['tid']}/region",
                {"report_id": rid, "region": "left mid lung zone"}).json()
    assert row(view, "atelectasis")["region"] == "left mid lung zone"
    start = view["text"].index("small nodule")
    view = post(client, f"/api/reports/{rid}/triplets", {
        "report_id": rid, "start": start, "end": start + len("small nodule"), "finding": "mass",
        "regions": ["right upper lung zone"], "existence": "absent", "cue": None}).json()
    assert not (tmp_path / "reviewed.jsonl").exists()  # nothing is saved before the report is accepted
    view = post(client, f"/api/reports/{rid}/sentences/0/regions",
                {"report_id": rid, "regions": ["right upper lung zone", "right lung"]}).json()
    assert view["sentences"][0]["marked"] and "right lung" in view["sentences"][0]["regions"]

    res = post(client, f"/api/reports/{rid}/accept", {"report_id": rid})
    assert res.status_code == 200 and res.json()["state"] == "corrected"
    assert res.json()["next"] == "cyst-3"  # the next report still to do
    lines = (tmp_path / "reviewed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    gold = json.loads(lines[0])
    assert gold["id"] == rid and gold["text"] == REPORTS[1][1] and gold["warnings"] == []
    got = {(t["finding"], t["region"], t["existence"]) for t in gold["triplets"]}
    assert ("nodule", "right upper lung zone", "uncertain") in got
    assert ("atelectasis", "left mid lung zone", "uncertain") in got
    assert ("mass", "right upper lung zone", "absent") in got
    assert not any(f == "scar" for f, _, _ in got)
    assert gold["region_sentences"]["right lung"] == [0]
    assert gold["tags"]["nodule"] == -1 and gold["tags"]["atelectasis"] == -1
    review = gold["review"]
    assert [c["op"] for c in review["corrections"]] == ["existence", "delete", "region", "add", "regions"]
    assert review["parser"]["version"] and len(review["parser"]["ontology_sha256"]) == 64
    assert any(t["finding"] == "scar" for t in review["parser"]["triplets"])
    assert review["reviewed_at"].endswith("+00:00")

    # the gold file is read by `asg-parse evaluate` against the parser's own output
    import asg_parse

    pred = tmp_path / "pred.jsonl"
    with pred.open("w", encoding="utf-8") as fh:
        for rec in asg_parse.parse_records([(r, t) for r, t in REPORTS]):
            fh.write(json.dumps(rec) + "\n")
    out_json = tmp_path / "eval.json"
    res = CliRunner().invoke(cli_app, ["evaluate", "--gold", str(tmp_path / "reviewed.jsonl"), "--pred", str(pred),
                                       "--json", str(out_json)])
    assert res.exit_code == 0, res.output
    figures = json.loads(out_json.read_text())
    assert figures["n_reports"] == 1 and figures["input_problems"] == []
    assert 0 < figures["triplet"]["f1"] < 1  # the corrections are disagreements with the parser
    agreement = client.get("/api/agreement").json()
    assert agreement["reports"] == 1
    assert agreement["triplet"]["f1"] == pytest.approx(figures["triplet"]["f1"])
    assert agreement["existence_accuracy"] == pytest.approx(figures["existence_accuracy"])


def test_accept_as_parsed_agrees_fully_and_resume_continues(make, tmp_path):
    store, client = make()
    assert post(client, "/api/reports/calm-1/accept", {"report_id": "calm-1"}).json()["state"] == "accepted"
    assert client.get("/api/agreement").json()["triplet"]["f1"] == 1.0
    rid = "nodule-2"
    nodule = row(client.get(f"/api/reports/{rid}").json(), "nodule")
    post(client, f"/api/reports/{rid}/triplets/{nodule['tid']}/existence", {"report_id": rid, "existence": "absent"})
    post(client, f"/api/reports/{rid}/accept", {"report_id": rid})
    post(client, "/api/reports/cyst-3/skip", {"report_id": "cyst-3"})
    saved = (tmp_path / "reviewed.jsonl").read_bytes()

    again, client2 = make()  # a restart with the same --out
    assert {r: again.reports[r].state for r in again.queue} == {
        "calm-1": "reviewed", "nodule-2": "reviewed", "cyst-3": "todo", "hostile-4": "todo"}  # skips last one run
    assert again.first() == "cyst-3"
    assert 'data-start="cyst-3"' in client2.get("/").text
    assert row(client2.get(f"/api/reports/{rid}").json(), "nodule")["existence"] == "absent"  # the saved gold
    assert client2.get("/api/agreement").json()["reports"] == 2
    # reviewing a report again replaces its line; the other line is kept byte for byte
    post(client2, "/api/reports/calm-1/accept", {"report_id": "calm-1"})
    lines = (tmp_path / "reviewed.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["calm-1", "nodule-2"]
    assert lines[1].encode() == saved.splitlines()[1]


def test_ontology_addition_previews_then_saves_a_valid_user_ontology(make, tmp_path):
    store, client = make(ontology_out=True)
    rid = "cyst-3"
    view = client.get(f"/api/reports/{rid}").json()
    assert not any(t["finding"] == UNKNOWN_FINDING for t in view["triplets"])
    view = post(client, f"/api/reports/{rid}/forms/preview",
                {"report_id": rid, "phrase": UNKNOWN_PHRASE, "finding": UNKNOWN_FINDING}).json()
    preview = view["preview"]
    assert not preview["saved"]
    assert any(t["finding"] == UNKNOWN_FINDING and t["text"] == UNKNOWN_PHRASE and t["region"] == "right upper lung zone"
               for t in preview["triplets"])
    additions = tmp_path / "additions"
    assert not (additions / "findings.yaml").exists()  # a preview writes nothing
    view = post(client, f"/api/reports/{rid}/forms/save",
                {"report_id": rid, "phrase": UNKNOWN_PHRASE.upper(), "finding": UNKNOWN_FINDING}).json()
    assert view["preview"]["saved"]
    assert UNKNOWN_PHRASE in (additions / "findings.yaml").read_text(encoding="utf-8")
    res = CliRunner().invoke(cli_app, ["ontology", "--check", str(additions)])
    assert res.exit_code == 0 and res.output.startswith("ok:"), res.output
    import asg_parse

    reparsed = asg_parse.parse(REPORTS[2][1], nlp=asg_parse.load(additions, spans=False))
    assert any(t.finding == UNKNOWN_FINDING and t.text == UNKNOWN_PHRASE for t in reparsed.triplets)
    # the same form twice, or a form of another finding, is refused and changes nothing
    before = (additions / "findings.yaml").read_bytes()
    dup = post(client, f"/api/reports/{rid}/forms/save", {"report_id": rid, "phrase": UNKNOWN_PHRASE, "finding": "bulla"})
    assert dup.status_code == 409 and "already a form of finding 'cyst'" in dup.json()["error"]
    assert (additions / "findings.yaml").read_bytes() == before
    assert client.get("/api/ontology").json()["added"] == [{"finding": UNKNOWN_FINDING, "form": UNKNOWN_PHRASE}]


def test_additions_are_off_without_ontology_out(make):
    _, client = make()
    res = post(client, "/api/reports/cyst-3/forms/preview",
               {"report_id": "cyst-3", "phrase": UNKNOWN_PHRASE, "finding": UNKNOWN_FINDING})
    assert res.status_code == 409 and "--ontology-out" in res.json()["error"]


BAD = [  # (path, body or raw text, status, words of the error)
    ("/api/reports/nope/accept", {"report_id": "nope"}, 404, "no report with id 'nope'"),
    ("/api/reports/calm-1/triplets/0/region", {"report_id": "calm-1", "region": "left elbow"}, 422,
     "unknown region 'left elbow'"),
    ("/api/reports/calm-1/triplets/0/region", {"report_id": "calm-1", "region": "spine"}, 422,
     "not allowed for finding 'pleural effusion'"),
    ("/api/reports/calm-1/triplets/0/existence", {"report_id": "calm-1", "existence": "maybe"}, 422,
     "existence must be one of"),
    ("/api/reports/calm-1/triplets/99/delete", {"report_id": "calm-1"}, 404, "no triplet 99"),
    ("/api/reports/calm-1/triplets/0/existence", {"existence": "present"}, 422, "field 'report_id'"),
    ("/api/reports/calm-1/triplets/0/existence", {"report_id": "calm-1", "existence": "present", "colour": 1}, 422,
     "field 'colour'"),
    ("/api/reports/calm-1/triplets", {"report_id": "calm-1", "start": "a", "end": 3, "finding": "mass",
                                      "existence": "present"}, 422, "field 'start'"),
    ("/api/reports/calm-1/triplets", '{"report_id": "calm-1", ', 422, "malformed request"),
    ("/api/reports/calm-1/triplets", {"report_id": "calm-1", "start": 5, "end": 500, "finding": "mass",
                                      "existence": "present"}, 422, "outside the report text"),
    ("/api/reports/calm-1/triplets", {"report_id": "calm-1", "start": 14, "end": 19, "finding": "unicorn",
                                      "existence": "present"}, 422, "unknown finding 'unicorn'"),
    ("/api/reports/calm-1/triplets", {"report_id": "calm-1", "start": 14, "end": 40, "finding": "mass",
                                      "existence": "present"}, 422, "not inside one sentence"),
    ("/api/reports/calm-1/triplets/0/existence", {"report_id": "calm-1", "existence": "uncertain", "cue": "maybe"}, 422,
     "cue 'maybe' does not occur in sentence 1"),
    ("/api/reports/calm-1/sentences/7/regions", {"report_id": "calm-1", "regions": []}, 404, "no sentence 7"),
    ("/api/reports/calm-1/sentences/0/regions", {"report_id": "calm-1", "regions": ["nowhere"]}, 422,
     "unknown region 'nowhere'"),
    ("/api/reports/calm-1/accept", {"report_id": "nodule-2"}, 409, "the body names report 'nodule-2'"),
]


@pytest.mark.parametrize("path,body,status,words", BAD, ids=[f"{b[2]}-{b[3][:24]}" for b in BAD])
def test_bad_requests_are_clear_4xx_and_change_nothing(make, tmp_path, path, body, status, words):
    store, client = make()
    before = client.get("/api/reports/calm-1").json()
    if isinstance(body, str):
        res = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        res = post(client, path, body)
    assert res.status_code == status, res.text
    assert words in res.json()["error"]
    assert "\n" not in res.json()["error"]
    assert client.get("/api/reports/calm-1").json() == before
    assert not (tmp_path / "reviewed.jsonl").exists()


def test_posts_must_be_json_from_the_page_itself(make, tmp_path):
    _, client = make()
    form = client.post("/api/reports/calm-1/accept", data={"report_id": "calm-1"})
    assert form.status_code == 415
    foreign = client.post("/api/reports/calm-1/accept", json={"report_id": "calm-1"},
                          headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert client.get("/api/reports/calm-1/accept").status_code in (404, 405)  # no state change by GET
    assert not (tmp_path / "reviewed.jsonl").exists()


def test_a_loopback_server_answers_only_its_own_host_names(make):
    from asg_parse.review.app import LOOPBACK

    store, _ = make()
    client = TestClient(create_app(store, list(LOOPBACK)), base_url="http://127.0.0.1:8000")
    assert client.get("/api/queue").status_code == 200
    rebound = client.get("/api/queue", headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 400


@pytest.mark.parametrize("path", ["/static/..%2F..%2Fcli%2Freview.py", "/static/%2e%2e/app.py",
                                  "/static/../store.py", "/static//etc/passwd"])
def test_no_path_outside_the_static_files_is_served(make, path):
    _, client = make()
    res = client.get(path)
    assert res.status_code == 404
    assert "import" not in res.text and "root:" not in res.text


def test_hostile_report_is_escaped_and_kept_out_of_the_log(make, tmp_path, caplog):
    store, client = make()
    caplog.set_level(logging.INFO, logger="asg_parse.review")
    page = client.get("/", params={"report": "hostile-4"})
    assert page.status_code == 200
    assert "<script>window" not in page.text and "</textarea><img" not in page.text
    view = client.get("/api/reports/hostile-4")
    assert view.headers["content-type"] == "application/json"
    assert view.json()["text"] == HOSTILE
    effusion = row(view.json(), "pleural effusion")
    post(client, f"/api/reports/hostile-4/triplets/{effusion['tid']}/existence",
         {"report_id": "hostile-4", "existence": "uncertain", "cue": '"left"'})
    assert post(client, "/api/reports/hostile-4/accept", {"report_id": "hostile-4"}).status_code == 200
    gold = json.loads((tmp_path / "reviewed.jsonl").read_text(encoding="utf-8"))
    assert gold["text"] == HOSTILE
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /api/reports/hostile-4/accept 200" in logged
    for piece in ("script", "pwned", "textarea", "onerror", "effusion", '"left"'):
        assert piece not in logged


# ---------------------------------------------------------------- the command line
def test_review_is_listed_and_needs_the_extra(monkeypatch, tmp_path):
    res = CliRunner().invoke(cli_app, ["--help"])
    assert "review" in res.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    reports = write_reports(tmp_path / "reports.jsonl")
    res = CliRunner().invoke(cli_app, ["review", str(reports), "--out", str(tmp_path / "r.jsonl")])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        'error: the review page needs the [review] extra: pip install -e ".[review]" (or pip install "asg[review]")']


def test_review_refuses_bad_paths_before_starting(tmp_path):
    reports = write_reports(tmp_path / "reports.jsonl")
    for args, words in ((["--out", str(reports)], "must not be the input"),
                        (["--out", str(tmp_path)], "is a directory"),
                        (["--out", str(tmp_path / "no" / "r.jsonl")], "does not exist"),
                        (["--out", str(tmp_path / "r.jsonl"), "--order", "random"], "--order must be")):
        res = CliRunner().invoke(cli_app, ["review", str(reports), *args])
        assert res.exit_code == 2 and words in res.output, res.output
    res = CliRunner().invoke(cli_app, ["review", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_a_plain_parse_does_not_import_the_web_stack(tmp_path):
    report = tmp_path / "r.txt"
    report.write_text("No pleural effusion.", encoding="utf-8")
    code = ("import sys\nfrom asg_parse.cli.app import main\nsys.argv = ['asg-parse', sys.argv[1], '-o', '-', '-q']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('WEB', sorted(m for m in ('fastapi', 'uvicorn', 'jinja2', 'starlette') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code, str(report)], capture_output=True, text=True, timeout=300)
    assert "WEB []" in res.stdout, res.stdout + res.stderr


def test_a_failed_save_leaves_the_gold_file_as_it_was(make, tmp_path, monkeypatch):
    store, client = make()
    post(client, "/api/reports/calm-1/accept", {"report_id": "calm-1"})
    out = tmp_path / "reviewed.jsonl"
    before = out.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("asg_parse.review.store.os.fsync", disk_full)
    res = post(client, "/api/reports/nodule-2/accept", {"report_id": "nodule-2"})
    assert res.status_code == 507 and "No space left on device" in res.json()["error"]
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert store.reports["nodule-2"].state == "todo" and list(store.lines) == ["calm-1"]


def test_an_output_that_is_not_gold_stops_the_review(tmp_path, asg_nlp):
    from asg_parse.review.store import StoreError

    out = tmp_path / "reviewed.jsonl"
    out.write_text('{"id": "calm-1", "triplets": []}\nid,report\n', encoding="utf-8")
    with pytest.raises(StoreError, match=r"reviewed.jsonl: line 2: not a gold record"):
        ReviewStore(items(), out, nlp=asg_nlp)
