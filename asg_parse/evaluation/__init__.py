"""Scoring parses: against our gold annotations and on public report-level benchmarks.

    scoring.py  gold / predicted ParsedReport records -> mention, triplet, existence, region-map and tag scores
                (also reads the OpenI standoff gold: uids + offsets into the OpenI CSV)
    openi.py    the OpenI report-level benchmark (MeSH codes), implemented literally from its data README
    bioscope.py the BioScope clinical benchmark (negation and hedges of our mentions; negspacy alongside)
    chexpert.py the Stanford CheXpert-label benchmark (14 observations, report level)
    region_map.py region-map recall: does the region map give each gold observation's sentence to its home

The command-line faces are asg_parse/cli/evaluate.py and asg_parse/cli/benchmark.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # ../shared/data beside the checkout


def data_file(path: Optional[Union[str, Path]], env: str, default: Path) -> Path:
    """A benchmark's data file: the explicit path, else the environment variable `env`, else `default`."""
    if path:
        return Path(path)
    value = os.environ.get(env)
    return Path(value) if value else default
