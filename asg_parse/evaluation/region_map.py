"""Region-map recall on report-level benchmarks: does the parser's region→sentence map (`region_sentences`, ARSA's
input) give the sentence that states each gold observation to the observation's anatomical home?

An item is one report and one gold observation of a kind (positive, uncertain) that has a home: the regions of
`homes` in regions.yaml, parts included, of the observation's findings. The item is recalled when a sentence that
states the observation in the parse (a present or uncertain mention of it, or what else the benchmark's labels
read it from) is mapped by the region map to at least one region of that home. An item whose observation the
parse never states is a miss (it is counted apart as undetected). A report without a record recalls nothing.
Recall is reported per kind, overall and per observation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from anatomy_ontology import LabelSet, Ontology

KIND_OF_LABEL = {1.0: "positive", -1.0: "uncertain"}  # the gold labels whose observations are scored


@dataclass(frozen=True)
class Item:
    """One gold observation of one report: its kind (positive / uncertain) and its home regions."""

    report: str
    observation: str
    kind: str
    home: frozenset[str]


def observation_homes(labels: LabelSet, ontology: Ontology) -> dict[str, frozenset[str]]:
    """Observation name -> the union of its findings' homes; observations none of whose findings has a home are
    left out (Support Devices, No Finding)."""
    homes = ontology.home_regions
    out: dict[str, frozenset[str]] = {}
    for obs in labels.observations:
        regions = frozenset().union(*(homes[f] for f in obs.findings if f in homes))
        if regions:
            out[obs.name] = regions
    return out


def label_items(gold: Iterable[tuple[str, Mapping[str, Optional[float]]]], homes: Mapping[str, frozenset[str]]
                ) -> list[Item]:
    """The items of report-level labels ((report id, observation -> 1.0 / 0.0 / -1.0 / None) pairs): every positive
    and uncertain observation that has a home."""
    out = []
    for rid, labels in gold:
        for obs, home in homes.items():
            kind = KIND_OF_LABEL.get(labels.get(obs))  # type: ignore[arg-type]
            if kind is not None:
                out.append(Item(rid, obs, kind, home))
    return out


def region_map_of(record: Any) -> Mapping[str, list[int]]:
    """The region→sentence map of a record (dict or ParsedReport); {} for None."""
    if record is None:
        return {}
    rmap = record.get("region_sentences") if isinstance(record, Mapping) else getattr(record, "region_sentences", None)
    return rmap or {}


def recalled(region_map: Mapping[str, list[int]], home: Iterable[str], sentences: Iterable[int]) -> bool:
    """Whether the map gives one of `sentences` to at least one region of `home`."""
    wanted = set(sentences)
    return any(not wanted.isdisjoint(region_map.get(r, ())) for r in home)


@dataclass
class RegionMapRecall:
    """Recalled / scored items per kind and observation, and the items missed."""

    counts: dict[str, dict[str, list[int]]]  # kind -> observation -> [recalled, stated, items]
    misses: list[dict[str, Any]] = field(default_factory=list)

    def recall(self, kind: str) -> dict[str, Any]:
        """Recall of `kind` over all its items (None when it has none), and over those the parse states."""
        per = self.counts.get(kind, {})
        hit, stated, n = (sum(v[i] for v in per.values()) for i in range(3))
        return {"recall": hit / n if n else None, "recalled": hit, "items": n, "stated": stated,
                "recall_when_stated": hit / stated if stated else None}

    def to_dict(self, errors: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {kind: {**self.recall(kind), "per_observation": {
            o: {"recall": h / n, "recalled": h, "stated": st, "items": n} for o, (h, st, n) in per.items()}}
            for kind, per in self.counts.items()}
        if errors:
            d["misses"] = self.misses
        return d


def score(items: Iterable[Item], records: Mapping[str, Any],
          stating: Callable[[Any], Mapping[str, Iterable[int]]], kinds: Iterable[str] = ("positive", "uncertain")
          ) -> RegionMapRecall:
    """Score the region maps of `records` (report id -> record) on `items`; `stating(record)` gives, per
    observation, the sentences of the record that state it (present or uncertain)."""
    counts: dict[str, dict[str, list[int]]] = {k: {} for k in kinds}
    misses = []
    stated_of: dict[str, Mapping[str, Iterable[int]]] = {}
    for item in items:
        record = records.get(item.report)
        if item.report not in stated_of:
            stated_of[item.report] = stating(record) if record is not None else {}
        sentences = sorted(stated_of[item.report].get(item.observation, ()))
        rmap = region_map_of(record)
        hit = recalled(rmap, item.home, sentences)
        cell = counts.setdefault(item.kind, {}).setdefault(item.observation, [0, 0, 0])
        cell[0] += hit
        cell[1] += bool(sentences)
        cell[2] += 1
        if not hit:
            misses.append({"report": item.report, "observation": item.observation, "kind": item.kind,
                           "sentences": sentences,
                           "their_regions": sorted(r for r, ks in rmap.items() if set(ks) & set(sentences))})
    return RegionMapRecall(counts, misses)
