"""Scoring parses: against our gold annotations and on public report-level benchmarks.

    scoring.py  gold / predicted ParsedReport records -> mention, triplet, existence, region-map and tag scores
                (also reads the OpenI standoff gold: uids + offsets into the OpenI CSV)
    openi.py    the OpenI report-level benchmark (MeSH codes), implemented literally from its data README

The command-line faces are asg_parse/cli/evaluate.py and asg_parse/cli/benchmark.py.
"""
