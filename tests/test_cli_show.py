"""asg-parse show (tables, displaCy HTML) and asg-parse ontology (listing, --check)."""
import re

import pytest
from typer.testing import CliRunner

from asg_parse.cli.app import app

REPORT = "FINDINGS: Small left pleural effusion. No pneumothorax.\nIMPRESSION: Mild cardiomegaly."


@pytest.fixture(autouse=True)
def _pipelines_once(cli_pipeline):
    """Build each default pipeline once per session; a user ontology still loads its own."""


def invoke(args, **kw):
    return CliRunner().invoke(app, args, env={"COLUMNS": "200"}, **kw)


def test_show_text_prints_sentences_sections_triplets_and_region_map():
    res = invoke(["show", REPORT])
    assert res.exit_code == 0, res.output
    out = res.stdout
    for title in ("Sentences of 'report'", "Triplets", "Region map", "ASG tags"):
        assert title in out
    assert re.search(r"impression\s+│\s+\d+-\d+\s+│ Mild cardiomegaly\.", out)
    assert re.search(r"left costophrenic angle\s+│ pleural effusion\s+│ present", out)
    assert re.search(r"│ pneumothorax\s+│ absent .*│ No ", out)


def test_show_reads_a_report_file_and_stdin(tmp_path):
    f = tmp_path / "s50414267.txt"
    f.write_text("Possible right lower lobe pneumonia.")
    res = invoke(["show", str(f)])
    assert res.exit_code == 0 and "Sentences of 's50414267'" in res.stdout and "pneumonia" in res.stdout
    res = invoke(["show", "-"], input="No pleural effusion.")
    assert res.exit_code == 0 and "Sentences of 'stdin'" in res.stdout and "absent" in res.stdout


def test_show_html_is_a_self_contained_displacy_page(tmp_path):
    page = tmp_path / "review.html"
    res = invoke(["show", REPORT, "--html", str(page)])
    assert res.exit_code == 0, res.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "pleural effusion present @ left costophrenic angle" in html  # displaCy span label
    assert "pneumothorax absent" in html and "<h2>Triplets</h2>" in html
    assert not re.search(r"<(script|link|img)\b[^>]*(src|href)=", html)  # nothing fetched from elsewhere


def test_ontology_lists_regions_and_findings():
    res = invoke(["ontology"])
    assert res.exit_code == 0
    assert "Regions (29)" in res.stdout and "Findings (" in res.stdout
    assert "left costophrenic angle" in res.stdout and "pneumothorax" in res.stdout


def test_ontology_check(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "findings.yaml").write_text("findings:\n  - id: pneumothorax\n    asg_tag: true\n"
                                        "    forms: [pneumothorax, pneumothoraces, collapsed lung space]\n")
    res = invoke(["ontology", "--check", str(good)])
    assert res.exit_code == 0 and res.stdout.startswith(f"ok: {good} (29 regions, ")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "findings.yaml").write_text("findings:\n  - id: lung cyst\n    default_regions: [left lung apex]\n")
    res = invoke(["ontology", "--check", str(bad)])
    assert res.exit_code == 1
    assert res.stdout == (f"{bad}/findings.yaml: entry 'lung cyst': default_regions: unknown region "
                          "'left lung apex'\n")


def test_main_help_documents_the_default_command_and_every_subcommand():
    res = invoke(["--help"])
    assert res.exit_code == 0
    for word in ("asg-parse INPUT -o OUT.jsonl", "show", "ontology", "evaluate", "benchmark", "--workers",
                 "--id-col", "--text-col", "--ontology", "--strict", "--resume", "--quiet"):
        assert word in res.stdout, word
