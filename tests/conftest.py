"""Shared fixtures: one assembled asg_parse pipeline per test session (building it loads the whole ontology)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def asg_nlp():
    """`asg_parse.load()` with our ontology, shared by the parser test modules."""
    import asg_parse

    return asg_parse.load()
