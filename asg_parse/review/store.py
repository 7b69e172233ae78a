"""The review queue: every report's parse, its review state and draft, and the gold file they are saved to.

The gold file (`--out`) holds one line per reviewed report in the format of `annotations/GUIDELINES.md` (the
ParsedReport fields plus `text`), with a `review` object: the state (accepted as parsed, or corrected), the
corrections, the sentences whose regions were marked, the parser version, the ontology hash and the parser's own
triplets and region map (the agreement header compares with them), and the time. Each save rewrites the file
through a temporary file and an atomic rename, so a crash or Ctrl-C leaves the file as it was before or after that
save; a report reviewed again replaces its line. Restarting with the same file resumes: its reports are
`reviewed` (their drafts are the saved gold) and the page opens on the first report still to do.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from ..cli.io import Item
from ..schema import ParsedReport
from .additions import FormAdditions
from .draft import Context, Draft, Refused
from .uncertainty import UncertaintyScorer

STATES = ("todo", "reviewed", "skipped")
ORDERS = ("confidence", "input")


class StoreError(ValueError):
    """A problem that stops the review before it starts (one line, naming the file)."""


def parser_version() -> str:
    try:
        from importlib.metadata import version

        return version("asg")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "unknown"


def ontology_hash(user_dir: Optional[Path]) -> str:
    """sha256 over the YAML files of the built-in ontology and of the user directory (names and bytes)."""
    from anatomy_ontology.loader import DATA_DIR

    h = hashlib.sha256()
    for d in [DATA_DIR] + ([user_dir] if user_dir is not None else []):
        for f in sorted(d.glob("*.yaml")):
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass
class Report:
    """One report of the queue."""

    id: str
    text: str
    parsed: dict[str, Any]
    anatomy: list[dict[str, Any]]
    named: set[tuple[str, int]]  # (region, sentence) pairs that the report's anatomy phrases name
    uncertainty: dict[str, Any]
    state: str = "todo"
    draft: Optional[Draft] = None
    saved_parser: Optional[dict[str, Any]] = None  # the parser's output as saved with the gold line
    preview: Optional[dict[str, Any]] = None
    reviewed_at: Optional[str] = None

    def work(self) -> Draft:
        if self.draft is None:
            self.draft = Draft.of(self.parsed["triplets"])
        return self.draft


def parse_view(nlp: Any, items: Iterable[tuple[str, str]]) -> Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(record, anatomy phrases with character offsets and regions) per (id, text), parsed with spans."""
    from ..api import doc_to_record
    from ..cli.display import anatomy_phrases

    pairs = list(items)
    for (rid, _), doc in zip(pairs, nlp.pipe(text for _, text in pairs)):
        anatomy = [{"start": span.start_char, "end": span.end_char, "regions": regions}
                   for span, regions in anatomy_phrases(doc)]
        yield doc_to_record(doc, rid), anatomy


class ReviewStore:
    """The queue, its states and drafts, the gold file, the ontology additions. Thread-safe (one lock)."""

    def __init__(self, items: list[Item], out: Path, ontology: Optional[Path] = None,
                 ontology_out: Optional[Path] = None, order: str = "input",
                 progress: Optional[Callable[[int], None]] = None, nlp: Any = None):
        from anatomy_ontology import OntologyError, load_ontology

        import asg_parse

        if order not in ORDERS:
            raise StoreError(f"--order must be one of {', '.join(ORDERS)}")
        self.out = out
        self.lock = threading.Lock()
        self.onto = load_ontology(ontology)
        self.ontology_dir = ontology
        self.annotated = {s.id for s in self.onto.sections.values() if s.parse}
        self.version = parser_version()
        self.ontology_sha256 = ontology_hash(ontology)
        try:
            self.additions = FormAdditions(ontology_out, ontology, self.onto)
        except (ValueError, OntologyError) as exc:
            raise StoreError(str(exc)) from None
        seen: dict[str, int] = {}
        for n, (rid, _, _) in enumerate(items, 1):
            if rid in seen:
                raise StoreError(f"duplicate report id '{rid}' (records {seen[rid]} and {n}): a review needs "
                                 "unique ids")
            seen[rid] = n
        self.nlp = nlp if nlp is not None else asg_parse.load(ontology, spans=True)
        scorer = UncertaintyScorer(self.onto)
        self.reports: dict[str, Report] = {}
        for (rid, text, warnings), (record, anatomy) in zip(items, parse_view(self.nlp, ((i[0], i[1]) for i in items))):
            record["warnings"] = [*warnings, *record["warnings"]]
            named = {(r, i) for a in anatomy for i, s in enumerate(record["sentences"])
                     if s["start"] <= a["start"] < s["end"] and s["section"] in self.annotated for r in a["regions"]}
            u = scorer.score(record, text, self.annotated, anatomy).as_dict()
            self.reports[rid] = Report(rid, text, record, anatomy, named, u)
            if progress is not None:
                progress(1)
        ids = list(self.reports)
        if order == "confidence":
            ids.sort(key=lambda i: -self.reports[i].uncertainty["score"])  # stable: input order among equals
        self.queue = ids
        self.position = {rid: i for i, rid in enumerate(ids)}
        self.lines: dict[str, str] = {}  # id -> gold line, in file order
        self.foreign = 0  # lines of the gold file whose id is not in the input (kept as they are)
        self._resume()

    # ---------------------------------------------------------------- the gold file
    def _resume(self) -> None:
        if not self.out.exists():
            return
        try:
            lines = self.out.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"{self.out}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        for no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                rid = obj["id"]
                triplets = obj["triplets"]
                review = obj.get("review") or {}
            except (ValueError, KeyError, TypeError):
                raise StoreError(f"{self.out}: line {no}: not a gold record with an id and triplets; "
                                 "choose another --out") from None
            self.lines[str(rid)] = line
            rep = self.reports.get(str(rid))
            if rep is None:
                self.foreign += 1
                continue
            marked = {int(k): v for k, v in (review.get("marked") or {}).items()}
            rep.draft = Draft.of(triplets, marked, review.get("corrections"))
            rep.saved_parser = review.get("parser")
            rep.reviewed_at = review.get("reviewed_at")
            rep.state = "reviewed"

    def _write(self) -> None:
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        try:
            with tmp.open("w", encoding="utf-8", newline="\n") as fh:
                fh.write("".join(line + "\n" for line in self.lines.values()))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.out)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def gold_record(self, rep: Report) -> dict[str, Any]:
        """The gold line of a report: its draft in the GUIDELINES format, with the `review` object."""
        from ..evaluation.scoring import derive_tags

        d = rep.work()
        triplets = d.ordered()
        record = {"id": rep.id, "text": rep.text, "sentences": rep.parsed["sentences"], "triplets": triplets,
                  "region_sentences": d.region_sentences(rep.parsed, rep.named, self.onto),
                  "tags": derive_tags(triplets, self.onto.asg_tags), "warnings": []}
        parser = rep.saved_parser or {"version": self.version, "ontology_sha256": self.ontology_sha256,
                                      "triplets": rep.parsed["triplets"],
                                      "region_sentences": rep.parsed["region_sentences"]}
        record["review"] = {"state": "corrected" if d.corrections else "accepted", "corrections": d.corrections,
                            "marked": {str(k): v for k, v in sorted(d.marked.items())}, "parser": parser,
                            "reviewed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        ParsedReport.model_validate({k: v for k, v in record.items() if k not in ("text", "review")})
        return record

    # ---------------------------------------------------------------- queue
    def get(self, rid: str) -> Report:
        rep = self.reports.get(rid)
        if rep is None:
            raise Refused(f"no report with id {rid!r} in this review", 404)
        return rep

    def first(self) -> Optional[str]:
        """The first report still to do in queue order (else the first report)."""
        return next((i for i in self.queue if self.reports[i].state == "todo"), self.queue[0] if self.queue else None)

    def neighbour(self, rid: str, step: int, todo_only: bool = False) -> Optional[str]:
        """The report `step` (+1/-1) places away in the queue (None past either end); with `todo_only`, the
        nearest report still to do in that direction, wrapping around."""
        pos, n = self.position[rid], len(self.queue)
        if not todo_only:
            return self.queue[pos + step] if 0 <= pos + step < n else None
        return next((c for c in (self.queue[(pos + step * k) % n] for k in range(1, n))
                     if self.reports[c].state == "todo"), None)

    def queue_view(self) -> dict[str, Any]:
        counts = {s: 0 for s in STATES}
        rows = []
        for i in self.queue:
            rep = self.reports[i]
            counts[rep.state] += 1
            rows.append({"id": i, "state": rep.state, "score": rep.uncertainty["score"]})
        return {"reports": rows, "counts": counts}

    def view(self, rid: str) -> dict[str, Any]:
        """Everything the page shows of one report."""
        rep = self.get(rid)
        d = rep.work()
        rmap = d.region_sentences(rep.parsed, rep.named, self.onto)
        per_sentence: dict[int, list[str]] = {}
        for region, idx in rmap.items():
            for s in idx:
                per_sentence.setdefault(s, []).append(region)
        sentences = [{**s, "index": i, "annotated": s["section"] in self.annotated,
                      "regions": per_sentence.get(i, []), "marked": i in d.marked}
                     for i, s in enumerate(rep.parsed["sentences"])]
        triplets = [{"tid": tid, **t} for tid, t in sorted(d.triplets.items(), key=lambda kv: (
            kv[1]["start"], kv[1]["end"], kv[0]))]
        return {"id": rid, "text": rep.text, "state": rep.state, "position": self.position[rid] + 1,
                "total": len(self.queue), "sentences": sentences, "anatomy": rep.anatomy, "triplets": triplets,
                "warnings": rep.parsed["warnings"], "uncertainty": rep.uncertainty,
                "corrections": len(d.corrections), "preview": rep.preview, "reviewed_at": rep.reviewed_at,
                "previous": self.neighbour(rid, -1), "next": self.neighbour(rid, 1)}

    def context(self, rep: Report) -> Context:
        return Context(rep.text, rep.parsed["sentences"], self.onto, self.annotated)

    # ---------------------------------------------------------------- changes
    def edit(self, rid: str, change: Callable[[Draft, Context], Any]) -> dict[str, Any]:
        """Apply `change(draft, context)` to a report (it raises Refused to change nothing); returns the view."""
        with self.lock:
            rep = self.get(rid)
            d = rep.work()
            before = (dict((k, dict(v)) for k, v in d.triplets.items()), dict(d.marked), len(d.corrections),
                      d.next_id)
            try:
                change(d, self.context(rep))
            except Refused:
                d.triplets, d.marked, d.next_id = before[0], before[1], before[3]
                del d.corrections[before[2]:]
                raise
            return self.view(rid)

    def reset(self, rid: str) -> dict[str, Any]:
        with self.lock:
            rep = self.get(rid)
            rep.draft = Draft.of(rep.parsed["triplets"])
            rep.preview = None
            return self.view(rid)

    def accept(self, rid: str) -> dict[str, Any]:
        """Save the report's draft as gold (rewriting the gold file atomically); returns the next report to do."""
        with self.lock:
            rep = self.get(rid)
            record = self.gold_record(rep)
            before = self.lines.get(rid)
            self.lines[rid] = json.dumps(record, ensure_ascii=False)
            try:
                self._write()
            except OSError as exc:
                if before is None:
                    del self.lines[rid]
                else:
                    self.lines[rid] = before
                raise Refused(f"{self.out}: cannot write ({exc.strerror})", 507) from None
            rep.saved_parser = record["review"]["parser"]
            rep.reviewed_at = record["review"]["reviewed_at"]
            rep.state = "reviewed"
            rep.preview = None
            return {"saved": rid, "state": record["review"]["state"], "next": self.neighbour(rid, 1, todo_only=True)}

    def skip(self, rid: str) -> dict[str, Any]:
        """Mark a report skipped (for this run only: nothing is written)."""
        with self.lock:
            rep = self.get(rid)
            if rep.state == "todo":
                rep.state = "skipped"
            return {"skipped": rid, "next": self.neighbour(rid, 1, todo_only=True)}

    # ---------------------------------------------------------------- agreement
    def agreement(self) -> dict[str, Any]:
        """Parser vs reviewer on the reviewed reports: triplet P/R/F1 and existence accuracy (scoring.py)."""
        from ..evaluation.scoring import evaluate_records

        gold: dict[str, dict[str, Any]] = {}
        pred: dict[str, dict[str, Any]] = {}
        with self.lock:
            for rid, rep in self.reports.items():
                if rep.state != "reviewed" or rid not in self.lines:
                    continue
                g = json.loads(self.lines[rid])
                parser = g.get("review", {}).get("parser") or {}
                gold[rid] = g
                pred[rid] = {"id": rid, "sentences": g["sentences"], "triplets": parser.get("triplets", []),
                             "region_sentences": parser.get("region_sentences", {}), "tags": {}}
        if not gold:
            return {"reports": 0, "triplet": None, "existence_accuracy": None}
        result = evaluate_records(gold, pred, self.onto.asg_tags)
        return {"reports": len(gold), "triplet": result.triplet.as_dict(),
                "existence_accuracy": result.existence_accuracy}

    # ---------------------------------------------------------------- ontology additions
    def _reparse(self, rep: Report, ontology_dir: Path) -> dict[str, Any]:
        import asg_parse

        nlp = asg_parse.load(ontology_dir, spans=True)
        record, _ = next(iter(parse_view(nlp, [(rep.id, rep.text)])))
        return record

    def preview_form(self, rid: str, phrase: str, finding: str) -> dict[str, Any]:
        """The re-parse of a report with `phrase` added as a form of `finding` (nothing written)."""
        rep = self.get(rid)
        record = self.additions.preview(finding, phrase, lambda d: self._reparse(rep, d))
        with self.lock:
            rep.preview = {"finding": finding, "phrase": " ".join(phrase.lower().split()), "saved": False,
                           "triplets": record["triplets"]}
            return self.view(rid)

    def add_form(self, rid: str, phrase: str, finding: str) -> dict[str, Any]:
        """Write the addition into `--ontology-out`; the report's preview stays on the page."""
        rep = self.get(rid)
        with self.lock:
            form = self.additions.add(finding, phrase)
            if rep.preview is None or rep.preview["phrase"] != form or rep.preview["finding"] != finding:
                rep.preview = None
        if rep.preview is None:
            record = self._reparse(rep, self.additions.out_dir)  # type: ignore[arg-type]
            rep.preview = {"finding": finding, "phrase": form, "triplets": record["triplets"]}
        rep.preview["saved"] = True
        return self.view(rid)
