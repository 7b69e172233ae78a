"""Shared, cached resources for the components: the loaded ontology and its ontology-directory serialisation."""
from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from anatomy_ontology import Ontology, load_ontology

ONTOLOGY_FILES = ("regions.yaml", "findings.yaml", "existence.yaml", "sections.yaml", "atlas.yaml", "labels.yaml")


@lru_cache(maxsize=8)
def _cached(path: Optional[str]) -> Ontology:
    return load_ontology(path)


def get_ontology(path: Union[str, Path, None] = None) -> Ontology:
    """The ontology for `path` (a user directory merged over ours, or ours for None), loaded once per process."""
    return _cached(None if path is None else str(Path(path).resolve()))


def save_ontology_dir(path: Optional[str], target: Path) -> None:
    """Copy a user ontology directory's YAML files under `target/ontology` so a saved pipeline is self-contained."""
    if path is None:
        return
    out = target / "ontology"
    out.mkdir(parents=True, exist_ok=True)
    for name in ONTOLOGY_FILES:
        src = Path(path) / name
        if src.exists():
            shutil.copyfile(src, out / name)


def saved_ontology_dir(source: Path) -> Optional[str]:
    """The ontology directory saved by :func:`save_ontology_dir`, if any."""
    d = source / "ontology"
    return str(d) if d.is_dir() else None
