"""The `asg-parse` command line: one module per command, plus the input/output and the parallel runner they share.

    app.py        the typer app: `asg-parse INPUT ...` goes to `parse`; registers the commands; start-up trims
    common.py     the one-line error exit, the ontology option, the pipeline loader
    parse.py      asg-parse INPUT -o OUT.jsonl   (reads with io.py, parses with runner.py, draws with display.py)
    show.py       asg-parse show REPORT          one report as tables / a displaCy page
    ontology.py   asg-parse ontology [--check DIR]
    evaluate.py   asg-parse evaluate --gold --pred   (scores with asg_parse.evaluation.scoring)
    benchmark.py  asg-parse benchmark openi          (scores with asg_parse.evaluation.openi)
    io.py         input layouts (CSV/TSV/JSONL, .txt trees, stdin) -> (id, text) items; the atomic JSONL writer
    runner.py     chunks of items -> worker processes -> JSONL lines, in input order
    display.py    rich tables, the progress bar, the run summary, displaCy HTML
    usage.py      runs a typer app with one-line usage errors

Data flow of a parse: io.read_inputs -> runner.run_chunks (asg_parse.pipeline in each worker) -> io.JsonlWriter.
"""


def main() -> None:
    """Console-script entry point (`asg-parse`)."""
    from .app import main as run

    run()
