"""The `asg-parse` command line: one module per command, plus the input/output and the parallel runner they share.

    app.py        the typer app: `asg-parse INPUT ...` goes to `parse`; registers the commands; start-up trims
    common.py     the one-line error exit, the ontology option, the pipeline loader
    parse.py      asg-parse INPUT -o OUT.jsonl   (reads with io.py, parses with runner.py, draws with display.py)
    show.py       asg-parse show REPORT          one report as tables / a displaCy page
    ontology.py   asg-parse ontology [--check DIR]
    merge.py      asg-parse merge OUT SHARDS...  the outputs of --shard I/N runs in input order (shards.py)
    evaluate.py   asg-parse evaluate --gold --pred   (scores with asg_parse.evaluation.scoring)
    benchmark.py  asg-parse benchmark openi          (scores with asg_parse.evaluation.openi)
    io.py         input layouts (CSV/TSV/JSONL, .txt trees, stdin) -> a stream of (id, text) items
    ids.py        duplicate ids of that stream in 12 bytes per id
    feed.py       the stream read in a process of its own (started before spaCy loads)
    output.py     the atomic JSONL writer; a previous run's ids (--resume)
    shards.py     --shard I/N: which records, the shard sidecar, merging shards in input order
    runner.py     chunks of items -> worker processes -> JSONL lines, in input order (a bounded window)
    display.py    rich tables, the progress bar, the run summary, displaCy HTML
    usage.py      runs a typer app with one-line usage errors

Data flow of a parse: io.open_reports -> feed.Feed -> runner.run_chunks (asg_parse.pipeline in each worker) ->
output.JsonlWriter; memory is bounded by the chunk size and the workers, not by the input.
"""


def main() -> None:
    """Console-script entry point (`asg-parse`)."""
    from .app import main as run

    run()
