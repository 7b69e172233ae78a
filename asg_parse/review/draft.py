"""One report under review: its editable triplets and sentence-region marks, and the gold record they make.

Every change is checked against the ontology and the report before it is applied; a bad one raises `Refused`
(a 4xx answer with one line) and changes nothing. Each applied change is also kept as a correction (what it was,
what it became), which the gold line records.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..schema import TRIPLET_FIELDS

EXISTENCE = ("present", "absent", "uncertain")


class Refused(ValueError):
    """A change or request that cannot be applied; `status` is the HTTP status that answers it."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass
class Context:
    """What the checks need: the report text and its sentences, the ontology, the annotated sections."""

    text: str
    sentences: list[dict[str, Any]]
    onto: Any
    annotated: set[str]

    def region(self, finding: str, region: Optional[str]) -> Optional[str]:
        """`region` if it is an ontology region allowed for `finding` (None: no region)."""
        if region is None:
            return None
        if not isinstance(region, str) or region not in self.onto.regions:
            raise Refused(f"unknown region {region!r}: choose one of the ontology's region names")
        allowed = self.onto.allowed(finding)
        if allowed is not None and region not in allowed:
            raise Refused(f"region '{region}' is not allowed for finding '{finding}' (findings.yaml allowed_regions)")
        return region

    def finding(self, finding: str) -> str:
        if finding not in self.onto.findings:
            raise Refused(f"unknown finding {finding!r}: choose one of the ontology's finding names")
        return finding

    def annotated_sentence(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.sentences):
            raise Refused(f"no sentence {index} in this report ({len(self.sentences)} sentences)", 404)
        s = self.sentences[index]
        if s["section"] not in self.annotated:
            raise Refused(f"sentence {index} is in section '{s['section']}', which is not annotated")
        return s

    def sentence_of(self, start: int, end: int) -> int:
        """The annotated sentence that holds the characters [start, end)."""
        if not 0 <= start < end <= len(self.text):
            raise Refused(f"span [{start}, {end}) is outside the report text (length {len(self.text)})")
        if not self.text[start:end].strip():
            raise Refused("the selected span holds no text")
        for i, s in enumerate(self.sentences):
            if s["start"] <= start and end <= s["end"]:
                self.annotated_sentence(i)
                return i
        raise Refused(f"span [{start}, {end}) is not inside one sentence")


@dataclass
class Draft:
    """The reviewer's version of one report: triplets keyed by a stable id, marked sentences, corrections."""

    triplets: dict[int, dict[str, Any]]
    marked: dict[int, list[str]] = field(default_factory=dict)  # sentence -> regions the reviewer set
    corrections: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 0

    @classmethod
    def of(cls, triplets: list[dict[str, Any]], marked: Optional[dict[int, list[str]]] = None,
           corrections: Optional[list[dict[str, Any]]] = None) -> "Draft":
        d = cls({i: {k: t.get(k) for k in TRIPLET_FIELDS} for i, t in enumerate(copy.deepcopy(triplets))},
                dict(marked or {}), list(corrections or []))
        d.next_id = len(d.triplets)
        return d

    def _get(self, tid: int) -> dict[str, Any]:
        if tid not in self.triplets:
            raise Refused(f"no triplet {tid} in this report (it may have been deleted; reload the page)", 404)
        return self.triplets[tid]

    @staticmethod
    def _mention(t: dict[str, Any]) -> str:
        return f"{t['finding']} '{t['text']}' @{t['start']}-{t['end']}"

    def set_existence(self, ctx: Context, tid: int, existence: str, cue: Optional[str] = None) -> None:
        """Change the existence of the mention of triplet `tid` (all its triplets: one mention, one existence)."""
        t = self._get(tid)
        if existence not in EXISTENCE:
            raise Refused(f"existence must be one of {', '.join(EXISTENCE)}")
        cue = self._cue(ctx, t["sentence"], existence, cue)
        before = t["existence"]
        for other in self.triplets.values():
            if (other["finding"], other["start"], other["end"]) == (t["finding"], t["start"], t["end"]):
                other["existence"], other["cue"] = existence, cue
        self.corrections.append({"op": "existence", "mention": self._mention(t), "from": before, "to": existence})

    def set_region(self, ctx: Context, tid: int, region: Optional[str]) -> None:
        """Change the region of triplet `tid` (None: no region)."""
        t = self._get(tid)
        region = ctx.region(t["finding"], region)
        for oid, other in self.triplets.items():
            if oid != tid and (other["finding"], other["start"], other["end"], other["region"]) == (
                    t["finding"], t["start"], t["end"], region):
                raise Refused(f"this mention already has a triplet with region '{region}'", 409)
        before = t["region"]
        t["region"] = region
        self.corrections.append({"op": "region", "mention": self._mention(t), "from": before, "to": region})

    def delete(self, tid: int) -> None:
        self._get(tid)
        t = self.triplets.pop(tid)
        self.corrections.append({"op": "delete", "mention": self._mention(t), "region": t["region"]})

    def add(self, ctx: Context, start: int, end: int, finding: str, regions: list[Optional[str]],
            existence: str, cue: Optional[str] = None) -> list[int]:
        """Add a mention [start, end) of `finding`: one triplet per region (none: one triplet without region)."""
        sentence = ctx.sentence_of(start, end)
        text = ctx.text[start:end]
        lead, trail = len(text) - len(text.lstrip()), len(text) - len(text.rstrip())
        start, end = start + lead, end - trail
        finding = ctx.finding(finding)
        if existence not in EXISTENCE:
            raise Refused(f"existence must be one of {', '.join(EXISTENCE)}")
        wanted = list(dict.fromkeys(regions)) or [None]
        checked = [ctx.region(finding, r) for r in wanted]
        cue = self._cue(ctx, sentence, existence, cue)
        for t in self.triplets.values():
            if (t["finding"], t["start"], t["end"]) == (finding, start, end) and t["region"] in checked:
                raise Refused(f"this mention already has a triplet with region '{t['region']}'", 409)
        ids = []
        for region in checked:
            self.triplets[self.next_id] = {"region": region, "finding": finding, "existence": existence,
                                           "sentence": sentence, "start": start, "end": end,
                                           "text": ctx.text[start:end], "cue": cue}
            ids.append(self.next_id)
            self.next_id += 1
        self.corrections.append({"op": "add", "mention": f"{finding} '{ctx.text[start:end]}' @{start}-{end}",
                                 "regions": checked, "existence": existence})
        return ids

    def mark(self, ctx: Context, sentence: int, regions: list[str]) -> None:
        """Set the regions that sentence `sentence` names, for the region map."""
        ctx.annotated_sentence(sentence)
        for r in regions:
            if not isinstance(r, str) or r not in ctx.onto.regions:
                raise Refused(f"unknown region {r!r}: choose one of the ontology's region names")
        self.marked[sentence] = sorted(set(regions), key=ctx.onto.region_order.index)
        self.corrections.append({"op": "regions", "sentence": sentence, "regions": self.marked[sentence]})

    @staticmethod
    def _cue(ctx: Context, sentence: int, existence: str, cue: Optional[str]) -> Optional[str]:
        if existence == "present" or cue is None or not cue.strip():
            return None
        cue = " ".join(cue.split())
        said = " ".join(ctx.sentences[sentence]["text"].split())
        if not re.search(r"(?<!\w)" + re.escape(cue) + r"(?!\w)", said, re.IGNORECASE):
            raise Refused(f"cue {cue!r} does not occur in sentence {sentence}")
        return cue

    # ---------------------------------------------------------------- the gold record
    def ordered(self) -> list[dict[str, Any]]:
        """The triplets in text order (then by the ontology's region order), as schema dicts."""
        return [dict(t) for _, t in sorted(self.triplets.items(), key=lambda kv: (kv[1]["start"], kv[1]["end"], kv[0]))]

    def region_sentences(self, parsed: dict[str, Any], named: set[tuple[str, int]], onto: Any
                         ) -> dict[str, list[int]]:
        """The region map: the parser's, less the pairs only a removed triplet gave, plus every triplet's pair;
        a marked sentence takes the reviewer's regions (and its triplets' regions)."""
        pairs = {(r, s) for r, idx in (parsed.get("region_sentences") or {}).items() for s in idx}
        mine = {(t["region"], t["sentence"]) for t in self.triplets.values() if t["region"]}
        parser_only = {(t["region"], t["sentence"]) for t in parsed.get("triplets", []) if t["region"]}
        pairs = (pairs - (parser_only - mine - named)) | mine
        for s, regions in self.marked.items():
            pairs = {(r, i) for r, i in pairs if i != s} | {(r, s) for r in regions} | {p for p in mine if p[1] == s}
        order = {r: i for i, r in enumerate(onto.region_order)}
        out: dict[str, list[int]] = {}
        for r, s in sorted(pairs, key=lambda p: (order.get(p[0], len(order)), p[1])):
            out.setdefault(r, []).append(s)
        return out
