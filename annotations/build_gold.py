"""Build annotations/gold/*.jsonl from the hand-written YAML batches in annotations/src/ (see GUIDELINES.md)."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from anatomy_ontology import Ontology, OntologyError, load_ontology  # noqa: E402
from asg_parse.schema import ParsedReport  # noqa: E402
from annotations.splitting import clause_rule, has_header, sentence_pieces  # noqa: E402

SRC_DIR = Path(__file__).resolve().parent / "src"
GOLD_DIR = Path(__file__).resolve().parent / "gold"
SPLITS = ("dev", "heldout")

# Short region codes used in the authoring source (GUIDELINES.md, "Authoring format").
REGION_CODES: dict[str, list[str]] = {
    "RL": ["right lung"], "RUZ": ["right upper lung zone"], "RMZ": ["right mid lung zone"],
    "RLZ": ["right lower lung zone"], "RHI": ["right hilar structures"], "RAP": ["right apical zone"],
    "RCP": ["right costophrenic angle"], "RHD": ["right hemidiaphragm"],
    "LL": ["left lung"], "LUZ": ["left upper lung zone"], "LMZ": ["left mid lung zone"],
    "LLZ": ["left lower lung zone"], "LHI": ["left hilar structures"], "LAP": ["left apical zone"],
    "LCP": ["left costophrenic angle"], "LHD": ["left hemidiaphragm"],
    "TRA": ["trachea"], "SPI": ["spine"], "RCL": ["right clavicle"], "LCL": ["left clavicle"],
    "AO": ["aortic arch"], "MED": ["mediastinum"], "UMED": ["upper mediastinum"], "SVC": ["svc"],
    "CS": ["cardiac silhouette"], "CAJ": ["cavoatrial junction"], "RA": ["right atrium"], "CAR": ["carina"],
    "ABD": ["abdomen"],
    # groups
    "BL": ["right lung", "left lung"], "BLZ": ["right lower lung zone", "left lower lung zone"],
    "BMZ": ["right mid lung zone", "left mid lung zone"], "BUZ": ["right upper lung zone", "left upper lung zone"],
    "BAP": ["right apical zone", "left apical zone"], "BCP": ["right costophrenic angle", "left costophrenic angle"],
    "BHI": ["right hilar structures", "left hilar structures"], "BHD": ["right hemidiaphragm", "left hemidiaphragm"],
    "BCL": ["right clavicle", "left clavicle"], "CPM": ["right lung", "left lung", "cardiac silhouette"],
    "CMS": ["cardiac silhouette", "mediastinum"], "OSS": ["spine", "right clavicle", "left clavicle"],
    "MH": ["mediastinum", "right hilar structures", "left hilar structures"],
}
FINDING_ALIASES: dict[str, str] = {
    "eff": "pleural effusion", "ptx": "pneumothorax", "cm": "cardiomegaly", "atel": "atelectasis",
    "consol": "consolidation", "ecm": "enlarged cardiomediastinum", "op": "opacity", "pna": "pneumonia",
    "fx": "fracture", "calc": "calcification", "hypo": "hypoinflation", "ath": "atherosclerosis",
    "dj": "degenerative change", "ptk": "pleural thicken", "ehd": "elevated hemidiaphragm",
    "sdev": "support device", "sc": "subcutaneous emphysema", "sternot": "sternotomy",
}
EXISTENCE = {"P": "present", "A": "absent", "U": "uncertain"}


class GoldError(ValueError):
    """A problem in the authoring source, naming the file, report and entry."""


def _header_regex(onto: Ontology) -> re.Pattern[str]:
    headers = sorted({h for s in onto.sections.values() for h in s.headers}, key=len, reverse=True)
    alt = "|".join(re.escape(h).replace(r"\ ", r"\s+") for h in headers)
    return re.compile(rf"^({alt})\s*:\s*", re.IGNORECASE)


def split_sentences(text: str, onto: Ontology) -> list[dict[str, Any]]:
    """Sentences with their section, following GUIDELINES.md section 2 (headers and enumerators excluded)."""
    header_re = _header_regex(onto)
    by_header = onto.section_for_header()
    section: Optional[str] = None if has_header(text, header_re) else "findings"
    out: list[dict[str, Any]] = []
    for start, end, header in sentence_pieces(text, header_re, clause_rule(onto)):
        if header is not None:
            section = by_header[" ".join(header.lower().split())]
        if start == end:
            continue
        if section is None:
            raise GoldError(f"text before the first section header: {text[start:end]!r}")
        out.append({"text": text[start:end], "start": start, "end": end, "section": section})
    return out


def _regions(code: str, finding: Optional[str], onto: Ontology, existence: str = "absent",
             span: str = "") -> list[Optional[str]]:
    code = code.strip()
    if code == "-":
        return [None]
    if code == "def":
        if finding is None:
            raise GoldError("'def' regions need a finding")
        defaults = list(onto.findings[finding].default_regions)
        sides = {onto.regions[r].side for r in defaults}
        if existence != "absent" and {"left", "right"} <= sides and not in_whole_lungs(span, defaults, onto):
            return [None]  # GUIDELINES rule 5: a present/uncertain finding with no location gets no side
        return defaults or [None]
    out: list[Optional[str]] = []
    for tok in code.split():
        if tok not in REGION_CODES:
            raise GoldError(f"unknown region code '{tok}'")
        for r in REGION_CODES[tok]:
            if r not in out:
                out.append(r)
    return out


def in_whole_lungs(name: str, defaults: list[str], onto: Ontology) -> bool:
    """GUIDELINES rule 5: a finding whose defaults are both lungs, named with a whole-lung word ("pulmonary edema",
    "interstitial edema"), lies in both lungs (`name`: the span and the word before it)."""
    lungs = {r.id for r in onto.regions.values() if r.zone == "lung"}
    return set(defaults) == lungs and not onto.whole_lung_words.isdisjoint(re.findall(r"[a-z]+", name.lower()))


def _form_index(onto: Ontology) -> dict[str, str]:
    """Surface form (and regular plural) -> finding id, as the parser's lexicon reads the ontology."""
    from asg_parse.pipeline.lexicon import plural

    out: dict[str, str] = {}
    for f in onto.findings.values():
        for form in (" ".join(x.lower().split()) for x in [f.id, *f.forms]):
            out.setdefault(form, f.id)
    for form, fid in list(out.items()):
        p = plural(form)
        if p:
            out.setdefault(p, fid)
    return out


def _ontology_finding(span: str, finding: str, regions: str, onto: Ontology) -> str:
    """The ontology names the concept of a lexical form (GUIDELINES.md: its ids win): a span that is exactly a form
    of another finding takes that finding, as long as its regions stay allowed there."""
    key = id(onto)
    if _FORMS.get("key") != key:
        _FORMS.clear()
        _FORMS.update({"key": key, "index": _form_index(onto)})
    other = _FORMS["index"].get(" ".join(span.lower().replace("-", " - ").split()).replace(" - ", "-"))
    if other is None or other == finding:
        return finding
    allowed = onto.allowed(other)
    codes = [] if regions.strip() in ("-", "def") else regions.split()
    ok = all(allowed is None or r in allowed for c in codes for r in REGION_CODES.get(c, []))
    return other if ok else finding


_FORMS: dict[str, object] = {}


def _find(text: str, span: str, cursor: int, open_spans: list[tuple[int, int]]) -> int:
    """First whole-word occurrence of `span` at or after `cursor` inside an annotated section."""
    i = cursor
    while True:
        i = text.find(span, i)
        if i < 0:
            raise GoldError(f"span {span!r} not found in an annotated section after offset {cursor}")
        before = text[i - 1] if i > 0 else " "
        after = text[i + len(span)] if i + len(span) < len(text) else " "
        inside = any(s <= i and i + len(span) <= e for s, e in open_spans)
        if inside and not (before.isalnum() or after.isalnum()):
            return i
        i += 1


def build_report(raw: dict[str, Any], onto: Ontology, parse_sections: set[str]) -> dict[str, Any]:
    """One gold record (ParsedReport fields + text) from one authored report."""
    text = str(raw["text"]).rstrip("\n")
    sentences = split_sentences(text, onto)
    triplets: list[dict[str, Any]] = []
    named: dict[str, set[int]] = {}
    cursor, prev = 0, 0
    open_spans = [(s["start"], s["end"]) for s in sentences if s["section"] in parse_sections]
    for entry in raw.get("ann") or []:
        where = f"entry {entry!r}"
        try:
            fields = [f.strip() for f in str(entry).split("|")]
            span = fields[0]
            if span.startswith("<"):
                span, cursor = span[1:].strip(), prev
            start = _find(text, span, cursor, open_spans)
            end = start + len(span)
            prev, cursor = start, end
            sidx = next((k for k, s in enumerate(sentences) if s["start"] <= start and end <= s["end"]), None)
            if sidx is None:
                raise GoldError(f"span {span!r} at {start} is not inside one sentence")
            sent = sentences[sidx]
            if sent["section"] not in parse_sections:
                raise GoldError(f"span {span!r} is in section '{sent['section']}', which carries no annotation")
            if len(fields) == 2:  # region naming only
                for r in _regions(fields[1], None, onto):
                    named.setdefault(r, set()).add(sidx)
                continue
            if len(fields) not in (4, 5):
                raise GoldError("expected 'span | finding | P/A/U | regions [| cue]' or 'span | regions'")
            finding = FINDING_ALIASES.get(fields[1], fields[1])
            if finding not in onto.findings:
                raise GoldError(f"unknown finding '{finding}'")
            finding = _ontology_finding(span, finding, fields[3], onto)
            if fields[2] not in EXISTENCE:
                raise GoldError(f"existence must be P, A or U, got '{fields[2]}'")
            existence = EXISTENCE[fields[2]]
            cue = fields[4] if len(fields) == 5 and fields[4] else None
            if (cue is None) != (existence == "present"):
                raise GoldError("absent/uncertain mentions need a cue; present mentions take none")
            if cue is not None and cue.lower() not in sent["text"].lower():
                raise GoldError(f"cue {cue!r} is not in sentence {sidx}")
            allowed = onto.allowed(finding)
            # the finding's name: the span and the word before it ("mild pulmonary edema" annotated as `edema`)
            before = re.findall(r"[A-Za-z]+", text[sent["start"]:start])[-1:]
            for region in _regions(fields[3], finding, onto, existence, " ".join(before + [span])):
                if region is not None and allowed is not None and region not in allowed:
                    raise GoldError(f"region '{region}' is not allowed for '{finding}'")
                triplets.append({"region": region, "finding": finding, "existence": existence, "sentence": sidx,
                                 "start": start, "end": end, "text": text[start:end], "cue": cue})
                if region is not None:
                    named.setdefault(region, set()).add(sidx)
        except GoldError as exc:
            raise GoldError(f"{where}: {exc}") from None
    tags: dict[str, int] = {}
    for tag in onto.asg_tags:
        ex = {t["existence"] for t in triplets if t["finding"] == tag}
        if ex:
            tags[tag] = 1 if "present" in ex else (-1 if "uncertain" in ex else 0)
    order = {r: k for k, r in enumerate(onto.region_order)}
    region_sentences = {r: sorted(named[r]) for r in sorted(named, key=order.__getitem__)}
    record = {"id": str(raw["id"]), "text": text, "sentences": sentences, "triplets": triplets,
              "region_sentences": region_sentences, "tags": tags, "warnings": []}
    ParsedReport.model_validate({k: v for k, v in record.items() if k != "text"})
    return record


def load_batches(split: str, src_dir: Path = SRC_DIR) -> list[tuple[Path, dict[str, Any]]]:
    """(file, raw report) pairs of every `<split>_*.yaml` batch, in file-name order."""
    out: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(src_dir.glob(f"{split}_*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for raw in data.get("reports") or []:
            out.append((path, raw))
    return out


def build_split(split: str, onto: Optional[Ontology] = None, src_dir: Path = SRC_DIR) -> list[dict[str, Any]]:
    """All gold records of one split; raises GoldError naming file, report and entry on any problem."""
    onto = onto or load_ontology()
    parse_sections = {s.id for s in onto.sections.values() if s.parse}
    records, seen = [], set()
    for path, raw in load_batches(split, src_dir):
        rid = raw.get("id", "?")
        if rid in seen:
            raise GoldError(f"{path.name}: report {rid}: duplicate id")
        seen.add(rid)
        try:
            records.append(build_report(raw, onto, parse_sections))
        except (GoldError, KeyError, ValueError) as exc:
            raise GoldError(f"{path.name}: report {rid}: {exc}") from None
    return records


def render(records: list[dict[str, Any]]) -> str:
    """The JSONL text of a split."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main(argv: Optional[list[str]] = None) -> int:
    """Write (or with --check, compare) annotations/gold/<split>.jsonl."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if the committed JSONL differs from the source")
    args = ap.parse_args(argv)
    try:
        onto = load_ontology()
    except OntologyError as exc:
        print(f"error: ontology: {exc}", file=sys.stderr)
        return 1
    status = 0
    for split in SPLITS:
        try:
            records = build_split(split, onto)
        except GoldError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        out = GOLD_DIR / f"{split}.jsonl"
        body = render(records)
        if args.check:
            if not out.exists() or out.read_text(encoding="utf-8") != body:
                print(f"error: {out} is out of date; run python annotations/build_gold.py", file=sys.stderr)
                status = 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(body, encoding="utf-8")
        n_trip = sum(len(r["triplets"]) for r in records)
        print(f"{split}: {len(records)} reports, {n_trip} triplets -> {out.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
