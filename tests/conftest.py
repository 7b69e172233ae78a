"""Shared fixtures: one assembled asg_parse pipeline per test session (building it loads the whole ontology)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def asg_nlp():
    """`asg_parse.load()` with our ontology, shared by the parser test modules."""
    import asg_parse

    return asg_parse.load()


@pytest.fixture(scope="session")
def _cli_pipelines():
    return {}


@pytest.fixture
def cli_pipeline(monkeypatch, _cli_pipelines):
    """Make the CLI build each default pipeline once per session (a user ontology still loads its own)."""
    from asg_parse.cli import runner

    real = runner.load_pipeline

    def load(ontology=None, spans=False, convention=None, **existence):
        if ontology is not None or existence:  # a user ontology or an existence model: its own pipeline
            return real(ontology, spans=spans, convention=convention, **existence)
        if (spans, convention) not in _cli_pipelines:
            _cli_pipelines[spans, convention] = real(None, spans=spans, convention=convention)
        return _cli_pipelines[spans, convention]

    monkeypatch.setattr(runner, "load_pipeline", load)
    yield load
    runner.set_pipeline(None)
