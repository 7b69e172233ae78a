"""Load the YAML ontology (ours, optionally merged with a user's directory) and validate it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml
from pydantic import BaseModel, ValidationError

from .cues import Convention, Cue
from .labels import LabelSet
from .schema import Box, Finding, Home, Region, RegionGroup, Section, SideWords, Zone

DATA_DIR = Path(__file__).parent / "data"

# file name -> list key -> (model, key field)
_LISTS: dict[str, dict[str, tuple[type[BaseModel], str]]] = {
    "regions.yaml": {"regions": (Region, "id"), "zones": (Zone, "id"), "groups": (RegionGroup, "id"),
                     "homes": (Home, "id")},
    "findings.yaml": {"findings": (Finding, "id")},
    "existence.yaml": {"cues": (Cue, "text"), "conventions": (Convention, "id")},
    "labels.yaml": {"label_sets": (LabelSet, "id")},
    "sections.yaml": {"sections": (Section, "id")},
    "atlas.yaml": {"boxes": (Box, "region")},
}
_OBJECTS: dict[str, dict[str, type[BaseModel]]] = {"regions.yaml": {"sides": SideWords}}
_WORD_LISTS: dict[str, set[str]] = {"regions.yaml": {"name_words", "clause_breaks", "exam_words", "phrase_breaks",
                                                      "place_prepositions", "measure_words",
                                                      "interpretation_words", "whole_lung_words", "part_words",
                                                      "side_gap_words", "extent_words", "level_words",
                                                      "level_regions", "interpreted_findings",
                                                      "copulas", "predicate_words", "clause_openers",
                                                      "anaphora_words", "adjacency_words", "absent_place_classes"},
                                     "existence.yaml": {"objects"}}


class OntologyError(ValueError):
    """A problem in an ontology file, naming the file, the entry and the problem."""

    def __init__(self, file: str, entry: Optional[str], problem: str):
        self.file, self.entry, self.problem = file, entry, problem
        where = f"{file}: entry '{entry}'" if entry is not None else file
        super().__init__(f"{where}: {problem}")


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ~10x faster start-up


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise OntologyError(str(path), None, f"invalid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OntologyError(str(path), None, "top level must be a mapping")
    return data


def _entry_name(raw: Any, key: str, index: int) -> str:
    if isinstance(raw, dict) and raw.get(key) is not None:
        return str(raw[key])
    return f"#{index + 1}"


def _validate(model: type[BaseModel], raw: Any, file: str, entry: str) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "entry"
        raise OntologyError(file, entry, f"field '{field}': {err['msg']}") from None


class RawOntology(BaseModel):
    """The merged entries, before cross-reference checks."""

    regions: list[Region] = []
    zones: list[Zone] = []
    groups: list[RegionGroup] = []
    homes: list[Home] = []
    sides: Optional[SideWords] = None
    name_words: list[str] = []
    clause_breaks: list[str] = []
    exam_words: list[str] = []
    phrase_breaks: list[str] = []
    place_prepositions: list[str] = []
    measure_words: list[str] = []
    interpretation_words: list[str] = []
    whole_lung_words: list[str] = []
    part_words: list[str] = []
    side_gap_words: list[str] = []
    extent_words: list[str] = []
    level_words: list[str] = []
    level_regions: list[str] = []
    interpreted_findings: list[str] = []
    copulas: list[str] = []
    predicate_words: list[str] = []
    clause_openers: list[str] = []
    anaphora_words: list[str] = []
    adjacency_words: list[str] = []
    absent_place_classes: list[str] = []
    objects: list[str] = []  # findings that name objects (existence.yaml): a list of them is not a disjunction
    findings: list[Finding] = []
    cues: list[Cue] = []
    conventions: list[Convention] = []
    label_sets: list[LabelSet] = []
    sections: list[Section] = []
    boxes: list[Box] = []
    origin: dict[str, str] = {}  # "<list>:<key>" -> file it came from


def _merge_dir(raw: RawOntology, directory: Path) -> None:
    for f in sorted(directory.glob("*.y*ml")):  # a misspelt file name would otherwise be ignored in silence
        if f.name not in _LISTS:
            raise OntologyError(str(f), None, f"not an ontology file name (expected one of {', '.join(_LISTS)})")
    for fname, lists in _LISTS.items():
        path = directory / fname
        if not path.exists():
            continue
        data = _read_yaml(path)
        known = set(lists) | set(_OBJECTS.get(fname, {})) | _WORD_LISTS.get(fname, set()) | {"replace"}
        for k in data:
            if k not in known:
                raise OntologyError(str(path), None, f"unknown top-level key '{k}' (expected one of {sorted(known - {'replace'})})")
        replace = set(data.get("replace") or [])
        for list_key, (model, key_field) in lists.items():
            items = data.get(list_key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise OntologyError(str(path), None, f"'{list_key}' must be a list")
            current: list[BaseModel] = [] if list_key in replace else list(getattr(raw, list_key))
            index = {getattr(e, key_field): i for i, e in enumerate(current)}
            seen: set[str] = set()
            for i, item in enumerate(items):
                name = _entry_name(item, key_field, i)
                obj = _validate(model, item, str(path), name)
                key = getattr(obj, key_field)
                if key in seen:
                    raise OntologyError(str(path), key, f"duplicate {key_field} in '{list_key}'")
                seen.add(key)
                raw.origin[f"{list_key}:{key}"] = str(path)
                if key in index:
                    current[index[key]] = obj
                else:
                    index[key] = len(current)
                    current.append(obj)
            setattr(raw, list_key, current)
        for key in _WORD_LISTS.get(fname, set()):
            if key in data:
                words = data[key]
                if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                    raise OntologyError(str(path), None, f"'{key}' must be a list of strings")
                setattr(raw, key, [" ".join(w.lower().split()) for w in words])
        for obj_key, model in _OBJECTS.get(fname, {}).items():
            if obj_key in data:
                setattr(raw, obj_key, _validate(model, data[obj_key], str(path), obj_key))


def read_raw(paths: Iterable[Union[str, Path]]) -> RawOntology:
    """Merge the ontology directories in order; later directories extend or override earlier ones."""
    raw = RawOntology()
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            raise OntologyError(str(p), None, "ontology path is not a directory")
        _merge_dir(raw, p)
    return raw


def load_ontology(path: Union[str, Path, None] = None, *, base: bool = True):
    """Return the validated :class:`Ontology`; `path` is a user directory merged over ours (or alone, `base=False`)."""
    from .ontology import Ontology

    dirs: list[Path] = [DATA_DIR] if base else []
    if path is not None:
        dirs.append(Path(path))
    return Ontology.from_raw(read_raw(dirs))
