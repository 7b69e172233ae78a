"""Base class for our ontology-driven components: config handling and to_disk/from_disk round trips."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import srsly
from spacy.language import Language
from spacy.util import ensure_path

from anatomy_ontology import Ontology

from .resources import get_ontology, save_ontology_dir, saved_ontology_dir


class OntologyComponent:
    """A pipeline component built from the ontology; subclasses implement `_build()` and `__call__`."""

    def __init__(self, nlp: Language, name: str, ontology: Optional[str] = None, **cfg: Any):
        self.nlp, self.name = nlp, name
        self.cfg: dict[str, Any] = {"ontology": ontology, **cfg}
        self._load()

    @property
    def ontology(self) -> Ontology:
        return self._ontology

    def _load(self) -> None:
        self._ontology = get_ontology(self.cfg["ontology"])  # resolved once, not on every access
        self._build()

    def _build(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_disk(self, path: Union[str, Path], *, exclude: tuple = ()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        cfg = dict(self.cfg)
        save_ontology_dir(cfg["ontology"], path)
        cfg["ontology"] = None if cfg["ontology"] is None else "<saved>"
        srsly.write_json(path / "cfg.json", cfg)

    def from_disk(self, path: Union[str, Path], *, exclude: tuple = ()) -> "OntologyComponent":
        path = ensure_path(path)
        cfg = srsly.read_json(path / "cfg.json")
        cfg["ontology"] = saved_ontology_dir(path) if cfg.get("ontology") else None
        self.cfg = cfg
        self._load()
        return self
