"""Ontology additions from the review page: "add this phrase as a form of <finding>".

The additions collect in a user ontology directory (`--ontology-out DIR`), in its `findings.yaml`: a user entry
replaces ours whole, so the finding's full entry is written with the new form added. The directory starts as a
copy of the `--ontology` directory the review runs with (when there is one), so that `--ontology DIR` alone parses
with everything. Each addition is validated by loading the ontology from a scratch copy before the file is
replaced (atomically); the page first shows the re-parse of the report with the addition (`preview`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from .draft import Refused

MAX_FORM = 80  # characters of one added form


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class FormAdditions:
    """The user ontology directory that collects added forms, and the scratch ontologies of previews."""

    def __init__(self, out_dir: Optional[Path], source: Optional[Path], onto: Any):
        self.out_dir = out_dir
        self.source = source
        self.onto = onto  # the ontology the additions build on (reloaded after each one)
        self.added: list[dict[str, str]] = []  # the forms added while this server ran
        if out_dir is None:
            return
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"{out_dir}: --ontology-out must be a directory")
        if not out_dir.parent.is_dir():
            raise ValueError(f"{out_dir}: its parent directory {out_dir.parent} does not exist")
        out_dir.mkdir(exist_ok=True)
        if source is not None and source.resolve() != out_dir.resolve() and not any(out_dir.glob("*.yaml")):
            for f in sorted(source.glob("*.yaml")):
                shutil.copyfile(f, out_dir / f.name)
        if any(out_dir.glob("*.yaml")):
            from anatomy_ontology import load_ontology

            self.onto = load_ontology(out_dir)  # an OntologyError names the bad file

    @property
    def enabled(self) -> bool:
        return self.out_dir is not None

    def user_dir(self) -> Optional[Path]:
        """The user ontology the additions build on: the output directory once it holds YAML, else the source."""
        if self.out_dir is not None and any(self.out_dir.glob("*.yaml")):
            return self.out_dir
        return self.source

    def _findings_yaml(self, finding: str, phrase: str) -> str:
        """The text of the user `findings.yaml` with `phrase` added to `finding`'s forms."""
        base = self.user_dir()
        path = base / "findings.yaml" if base is not None else None
        data: dict[str, Any] = {}
        if path is not None and path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        entries = list(data.get("findings") or [])
        for entry in entries:
            if isinstance(entry, dict) and entry.get("id") == finding:
                entry["forms"] = [*(entry.get("forms") or []), phrase]
                break
        else:
            entry = self.onto.findings[finding].model_dump(exclude_defaults=True)
            entry["forms"] = [*entry.get("forms", []), phrase]
            entries.append(entry)
        data["findings"] = entries
        head = "# Forms added with `asg-parse review`; each entry replaces the built-in finding of that id whole.\n"
        return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)

    def check(self, finding: str, phrase: str) -> str:
        """The normalised form, or Refused: unknown finding, empty or overlong phrase, already a form."""
        if not self.enabled:
            raise Refused("ontology additions are off: start the review with --ontology-out DIR", 409)
        onto = self.onto
        if finding not in onto.findings:
            raise Refused(f"unknown finding {finding!r}: choose one of the ontology's finding names")
        form = _norm(phrase)
        if not form or not any(ch.isalpha() for ch in form):
            raise Refused("the phrase holds no word")
        if len(form) > MAX_FORM:
            raise Refused(f"the phrase is longer than {MAX_FORM} characters")
        for f in onto.findings.values():
            if form in {_norm(x) for x in (f.id, *f.forms)}:
                raise Refused(f"'{form}' is already a form of finding '{f.id}'", 409)
        return form

    def scratch(self, finding: str, phrase: str) -> tuple[Path, str]:
        """A temporary ontology directory with the addition, validated (the caller removes it)."""
        from anatomy_ontology import OntologyError, load_ontology

        form = self.check(finding, phrase)
        tmp = Path(tempfile.mkdtemp(prefix="asg-review-ontology-"))
        base = self.user_dir()
        if base is not None:
            for f in base.glob("*.yaml"):
                shutil.copyfile(f, tmp / f.name)
        (tmp / "findings.yaml").write_text(self._findings_yaml(finding, form), encoding="utf-8")
        try:
            load_ontology(tmp)
        except OntologyError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Refused(f"the addition makes the ontology invalid: {exc.problem}") from None
        return tmp, form

    def preview(self, finding: str, phrase: str, parse: Callable[[Path], Any]) -> Any:
        """`parse(ontology_dir)` run on a scratch ontology holding the addition (nothing is written)."""
        tmp, _ = self.scratch(finding, phrase)
        try:
            return parse(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def add(self, finding: str, phrase: str) -> str:
        """Write the addition into the output directory (atomically); returns the form added."""
        from anatomy_ontology import load_ontology

        tmp, form = self.scratch(finding, phrase)
        try:
            assert self.out_dir is not None
            staged = self.out_dir / ".findings.yaml.tmp"
            staged.write_bytes((tmp / "findings.yaml").read_bytes())
            for f in tmp.glob("*.yaml"):  # the copied source files, when the output directory was empty
                if f.name != "findings.yaml" and not (self.out_dir / f.name).exists():
                    shutil.copyfile(f, self.out_dir / f.name)
            with staged.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, self.out_dir / "findings.yaml")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.onto = load_ontology(self.out_dir)
        self.added.append({"finding": finding, "form": form})
        return form
