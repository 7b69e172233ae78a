"""Report-level label rows (the CheXpert labeler's CSV layout) from a record's triplets, by a label set of labels.yaml.

A label set (``anatomy_ontology/data/labels.yaml``) names its columns and the findings each one aggregates. Per
column, the report's mentions of those findings decide: positive (present) beats uncertain beats negative (absent),
written ``1.0`` / ``-1.0`` / ``0.0``; a column whose findings are never mentioned is blank. A `no_finding` column is
``1.0`` when no other column (except `no_finding_ignores`) is positive or uncertain, else blank. The label set
``asg`` is built from the ontology: one column per ASG tag, each aggregating its own finding.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Optional, Sequence

from anatomy_ontology import LabelSet, Observation, Ontology

from .schema import TRIPLET_FIELDS

ASG_LABELS = "asg"
VALUE_TEXT = {2: "1.0", 1: "-1.0", 0: "0.0", None: ""}  # aggregated rank -> the labeler's cell
VALUE = {2: 1.0, 1: -1.0, 0: 0.0}  # aggregated rank -> the label as a number
_RANK = {"present": 2, "uncertain": 1, "absent": 0}
_LABEL_RANK = {1: 2, -1: 1, 0: 0}  # a label -> its rank
# a triplet row's fields
_FINDING, _EXISTENCE, _TEXT, _SENTENCE = (TRIPLET_FIELDS.index(f) for f in ("finding", "existence", "text", "sentence"))


def label_set_names(ontology: Ontology) -> list[str]:
    """The label sets `--labels` accepts: `asg` and those of labels.yaml."""
    return [ASG_LABELS, *sorted(n for n in ontology.label_sets if n != ASG_LABELS)]


def label_set(ontology: Ontology, name: str) -> LabelSet:
    """The label set `name` (`asg`: the ASG tags); a ValueError naming the known ones otherwise."""
    if name == ASG_LABELS and ASG_LABELS not in ontology.label_sets:
        return LabelSet(id=ASG_LABELS, description="the ASG tags", text_column="Reports",
                        observations=[Observation(name=t, findings=[t]) for t in ontology.asg_tags])
    found = ontology.label_sets.get(name)
    if found is None:
        raise ValueError(f"unknown label set '{name}' (known: {', '.join(label_set_names(ontology))})")
    return found


class ReportLabeler:
    """Aggregates a record's triplets (and, for `region_states`, its sentences and region map) into one label row."""

    def __init__(self, labels: LabelSet):
        self.labels = labels
        self.columns = labels.columns
        first = 1 if labels.no_finding else 0  # the observations' column offset
        # finding -> (column, skip words, needed words: one must be in the mention's text (empty: none needed),
        # the existence a mention must have (None: any), the highest rank it gives)
        self._columns_of: dict[str, list[tuple[int, tuple[str, ...], tuple[str, ...], Optional[str], int]]] = {}
        # (column, regions, word regex, with-word regex or None, unless-word regex or None, rank)
        self._region_states: list[tuple[int, frozenset[str], Any, Any, Any, int]] = []
        for k, obs in enumerate(labels.observations):
            skip = tuple(w.lower() for w in obs.skip_words)
            for f in obs.findings:
                self._columns_of.setdefault(f, []).append((first + k, skip, (), None, 2))
            for f in obs.hedged_findings:
                self._columns_of.setdefault(f, []).append((first + k, skip, (), None, 1))
            for wm in obs.word_mentions:
                self._columns_of.setdefault(wm.finding, []).append(
                    (first + k, skip, tuple(w.lower() for w in wm.words), wm.existence, 2))
            for rs in obs.region_states:
                with_ = _words(rs.with_words) if rs.with_words else None
                unless = _words(rs.unless_words, whole=False) if rs.unless_words else None
                self._region_states.append((first + k, frozenset(rs.regions), _words(rs.words), with_, unless,
                                            _LABEL_RANK[rs.label]))
        ignored = set(labels.no_finding_ignores)
        self._finding_columns = [first + k for k, o in enumerate(labels.observations) if o.name not in ignored]

    def ranks(self, triplets: Iterable[Any], sentences: Sequence[Any] = (),
              region_sentences: Optional[dict[str, list[int]]] = None,
              stated: Optional[set[tuple[int, int]]] = None) -> list[Optional[int]]:
        """Per column, the strongest rank among the mentions and region states (2 positive, 1 uncertain, 0
        negative, None never mentioned); `triplets` and `sentences`: record dicts or rows (`Triplets.rows`).
        `stated` receives (column, sentence) of each sentence that states the column positive or uncertain (a
        counted mention, or a region state)."""
        out: list[Optional[int]] = [None] * len(self.columns)
        columns_of = self._columns_of
        said: set[tuple[int, int]] = set()  # (column, sentence) of every mention counted
        for t in triplets:
            if type(t) is tuple:
                finding, existence, text, sentence = t[_FINDING], t[_EXISTENCE], t[_TEXT], t[_SENTENCE]
            else:
                finding, existence, text, sentence = t["finding"], t["existence"], t["text"], t.get("sentence")
            cols = columns_of.get(finding)
            if cols is None:
                continue
            rank = _RANK[existence]
            lower = text.lower()
            for c, skip, need, only, top in cols:
                if (skip and any(w in lower for w in skip)) or (need and not any(w in lower for w in need)) \
                        or (only is not None and existence != only):
                    continue
                said.add((c, sentence))
                r = rank if rank <= top else top
                if r and stated is not None:
                    stated.add((c, sentence))
                cur = out[c]
                if cur is None or r > cur:
                    out[c] = r
        if self._region_states and region_sentences:
            self._apply_region_states(out, sentences, region_sentences, said, stated)
        if self.labels.no_finding:
            if not any((out[c] or 0) >= 1 for c in self._finding_columns):
                out[0] = 2
        return out

    def _apply_region_states(self, out: list[Optional[int]], sentences: Sequence[Any],
                             region_sentences: dict[str, list[int]], said: set[tuple[int, int]],
                             stated: Optional[set[tuple[int, int]]] = None) -> None:
        """Ranks from the sentences of a region that hold a state word and no mention of the column
        (`region_states`); `stated` as in `ranks`."""
        for col, regions, words, with_, unless, rank in self._region_states:
            if out[col] is not None and out[col] >= rank:
                continue
            for region in regions:
                for k in region_sentences.get(region, ()):
                    if (col, k) in said:
                        continue
                    s = sentences[k]
                    text = (s[0] if type(s) is tuple else s["text"]).lower()
                    if words.search(text) and (with_ is None or with_.search(text)) \
                            and (unless is None or not unless.search(text)):
                        out[col] = rank if out[col] is None else max(out[col], rank)
                        if rank and stated is not None:
                            stated.add((col, k))
                        break

    def record_ranks(self, record: Any) -> list[Optional[int]]:
        """`ranks` of a record (dict or ParsedReport)."""
        if hasattr(record, "triplets"):
            record = record.model_dump()
        return self.ranks(record.get("triplets") or [], record.get("sentences") or [],
                          record.get("region_sentences") or {})

    def stating_sentences(self, record: Any) -> dict[str, set[int]]:
        """Column -> the sentences of a record (dict or ParsedReport) that state it positive or uncertain."""
        if hasattr(record, "triplets"):
            record = record.model_dump()
        stated: set[tuple[int, int]] = set()
        self.ranks(record.get("triplets") or [], record.get("sentences") or [], record.get("region_sentences") or {},
                   stated)
        out: dict[str, set[int]] = {}
        for c, k in stated:
            out.setdefault(self.columns[c], set()).add(k)
        return out

    def values(self, record: Any) -> dict[str, Optional[float]]:
        """Column -> 1.0 / -1.0 / 0.0 / None (blank) of a record (dict or ParsedReport)."""
        return {c: (None if r is None else VALUE[r]) for c, r in zip(self.columns, self.record_ranks(record))}

    def header(self) -> str:
        """The CSV header line: the text column, then the label columns."""
        return _csv_line([self.labels.text_column, *self.columns])

    def row(self, text: str, record: dict[str, Any]) -> str:
        """One CSV line of a record: the report text, then each column's cell."""
        return _csv_line([text, *(VALUE_TEXT[r] for r in self.record_ranks(record))])

    def blank(self, text: str) -> str:
        """The CSV line of a report that could not be labelled: its text and blank cells."""
        return _csv_line([text, *([""] * len(self.columns))])


def _words(words: Sequence[str], whole: bool = True) -> Any:
    """A regex finding any of `words` (as whole words, or with `whole` off as word starts)."""
    end = r"\b" if whole else ""
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")" + end)


def _csv_line(cells: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()
