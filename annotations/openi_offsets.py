"""Turn private OpenI authoring notes into standoff gold (uid + offsets; no report text in the output).

Commands (run from the repo root):
  python annotations/openi_offsets.py sample            # print the fixed uid sample (seeded, scoreable reports)
  python annotations/openi_offsets.py show UID...       # print numbered sentences to the terminal (never to the repo)
  python annotations/openi_offsets.py build SRC_DIR     # read SRC_DIR/*.txt notes, write annotations/openi_standoff.jsonl

The CSV path defaults to ../shared/data/openi/openi_dev.csv (override with --csv or ASG_OPENI_CSV).

Authoring note format (files live OUTSIDE the repo because they quote report words):
  @ UID                                  starts a report
  @+ UID                                 adds to a report started in an earlier file (files are read by name)
  I | mention | finding | regions | e | cue
      I: sentence index; mention/cue: phrase inside sentence I (case-insensitive), "phrase@2" = 2nd occurrence,
      cue "-" = null (the closest cue occurrence before the mention, else after it); finding: id or alias below;
      regions: comma list of region ids/aliases, "def" = the finding's default_regions, "-" = null;
      e: p | a | u (present, absent, uncertain)
  I R regions                            sentence I names these regions (region->sentence map only)
  # ...                                  comment
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import sys
from pathlib import Path
from functools import lru_cache
from typing import Any, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from anatomy_ontology import Ontology, load_ontology  # noqa: E402
from annotations.build_gold import in_whole_lungs  # noqa: E402
from annotations.splitting import clause_rule, sentence_pieces  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "openi" / "openi_dev.csv"
OUT = ROOT / "annotations" / "openi_standoff.jsonl"
SEED = 4
SAMPLE_SIZE = 240

REGION_ALIASES: dict[str, list[str]] = {
    "rlung": ["right lung"], "llung": ["left lung"], "lungs": ["right lung", "left lung"],
    "ruz": ["right upper lung zone"], "luz": ["left upper lung zone"], "uz": ["right upper lung zone", "left upper lung zone"],
    "rmz": ["right mid lung zone"], "lmz": ["left mid lung zone"], "mz": ["right mid lung zone", "left mid lung zone"],
    "rlz": ["right lower lung zone"], "llz": ["left lower lung zone"], "bases": ["right lower lung zone", "left lower lung zone"],
    "rhil": ["right hilar structures"], "lhil": ["left hilar structures"], "hila": ["right hilar structures", "left hilar structures"],
    "rapx": ["right apical zone"], "lapx": ["left apical zone"], "apices": ["right apical zone", "left apical zone"],
    "rcpa": ["right costophrenic angle"], "lcpa": ["left costophrenic angle"],
    "cpa": ["right costophrenic angle", "left costophrenic angle"],
    "rhd": ["right hemidiaphragm"], "lhd": ["left hemidiaphragm"], "hd": ["right hemidiaphragm", "left hemidiaphragm"],
    "trach": ["trachea"], "spine": ["spine"], "rclav": ["right clavicle"], "lclav": ["left clavicle"],
    "clavs": ["right clavicle", "left clavicle"], "aorta": ["aortic arch"], "med": ["mediastinum"],
    "umed": ["upper mediastinum"], "svc": ["svc"], "heart": ["cardiac silhouette"], "cavo": ["cavoatrial junction"],
    "ratr": ["right atrium"], "carina": ["carina"], "abd": ["abdomen"],
    "cm": ["cardiac silhouette", "mediastinum"], "cp": ["right lung", "left lung", "cardiac silhouette"],
    "bones": ["spine", "right clavicle", "left clavicle"], "mh": ["mediastinum", "right hilar structures", "left hilar structures"],
}
FINDING_ALIASES: dict[str, str] = {
    "eff": "pleural effusion", "op": "opacity", "ptx": "pneumothorax", "atel": "atelectasis", "cons": "consolidation",
    "pna": "pneumonia", "cmeg": "cardiomegaly", "frac": "fracture", "calc": "calcification", "nod": "nodule",
    "pthick": "pleural thicken", "mark": "marking", "hyper": "hyperinflate", "emph": "emphysema", "infil": "infiltration",
    "deform": "deformity", "gran": "granuloma", "scol": "scoliosis", "hypo": "hypoinflation", "cong": "congestion",
    "tort": "tortuous aorta", "athero": "atherosclerosis", "deg": "degenerative change", "sd": "support device",
    "ecm": "enlarged cardiomediastinum", "elev": "elevated hemidiaphragm", "sternot": "sternotomy",
    "lad": "lymphadenopathy", "peff": "pericardial effusion", "subq": "subcutaneous emphysema",
}
EXISTENCE = {"p": "present", "a": "absent", "u": "uncertain"}


def fail(msg: str) -> None:
    """Stop with a one-line message."""
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def csv_path(argv: list[str]) -> Path:
    """CSV location from --csv, ASG_OPENI_CSV or the shared default."""
    if "--csv" in argv:
        return Path(argv[argv.index("--csv") + 1])
    return Path(os.environ.get("ASG_OPENI_CSV", DEFAULT_CSV))


def load_rows(path: Path) -> dict[str, dict[str, str]]:
    """uid -> CSV row."""
    if not path.exists():
        fail(f"{path}: OpenI CSV not found")
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["uid"]: row for row in csv.DictReader(fh)}


def benchmark_text(row: dict[str, str]) -> str:
    """The benchmark text: FINDINGS/IMPRESSION sections that are non-empty after strip, joined by newline."""
    parts = []
    if (row.get("findings") or "").strip():
        parts.append("FINDINGS: " + row["findings"])
    if (row.get("impression") or "").strip():
        parts.append("IMPRESSION: " + row["impression"])
    return "\n".join(parts)


def scoreable(row: dict[str, str]) -> bool:
    """The benchmark's skip rules, inverted."""
    if not benchmark_text(row):
        return False
    codes = [c.strip() for c in (row.get("MeSH") or "").split(";") if c.strip()]
    if codes in (["No Indexing"], ["Technical Quality of Image Unsatisfactory"]):
        return False
    return True


def sample_uids(rows: dict[str, dict[str, str]]) -> list[str]:
    """Seeded random order of the scoreable uids (annotated in this order)."""
    uids = sorted((u for u, r in rows.items() if scoreable(r)), key=int)
    rng = random.Random(SEED)
    return rng.sample(uids, min(SAMPLE_SIZE, len(uids)))


_HEADER = re.compile(r"(FINDINGS|IMPRESSION): ")


@lru_cache(maxsize=1)
def _our_clause_rule() -> Any:
    return clause_rule(load_ontology())


def split_sentences(text: str, onto: Optional[Ontology] = None) -> list[tuple[int, int]]:
    """Sentence spans as in annotations/GUIDELINES.md section 2 (see annotations/splitting.py)."""
    rule = clause_rule(onto) if onto is not None else _our_clause_rule()
    return [(start, end) for start, end, _ in sentence_pieces(text, _HEADER, rule) if end > start]


def find_phrase(text: str, span: tuple[int, int], phrase: str, near: Optional[tuple[int, int]] = None) -> tuple[int, int]:
    """Offsets of `phrase` ("x@n" = n-th occurrence) inside a sentence span, case-insensitive."""
    occ = None
    if re.search(r"@\d+$", phrase):
        phrase, n = phrase.rsplit("@", 1)
        occ = int(n)
    s0, e0 = span
    low, p = text[s0:e0].lower(), phrase.lower()
    pattern = (r"\b" if p[:1].isalnum() else "") + re.escape(p) + (r"\b" if p[-1:].isalnum() else "")
    hits = [m.start() for m in re.finditer(pattern, low)]
    if not hits:
        raise ValueError(f"phrase {phrase!r} not in sentence (whole words)")
    if occ is not None:
        if occ > len(hits):
            raise ValueError(f"phrase {phrase!r} has only {len(hits)} occurrences")
        h = hits[occ - 1]
    elif near is not None:
        before = [x for x in hits if s0 + x + len(p) <= near[0]]
        after = [x for x in hits if s0 + x >= near[1]]
        h = before[-1] if before else (after[0] if after else hits[0])
    else:
        h = hits[0]
    return s0 + h, s0 + h + len(phrase)


def expand_regions(field: str, finding: str, findings: dict, region_ids: set[str], sides: dict[str, str],
                   existence: str = "absent", name: str = "", onto: Optional[Ontology] = None
                   ) -> list[Optional[str]]:
    """Region aliases -> region ids. "def" -> default_regions, or null when there are none or when a present or
    uncertain mention would get defaults on both sides, unless `name` (the mention and the word before it) holds a
    whole-lung word (GUIDELINES.md section 4, rule 5)."""
    field = field.strip()
    if field == "-":
        return [None]
    out: list[Optional[str]] = []
    for tok in [t.strip() for t in field.split(",") if t.strip()]:
        if tok == "def":
            defaults = findings[finding].get("default_regions") or []
            whole_lungs = onto is not None and in_whole_lungs(name, defaults, onto)
            if existence != "absent" and {"left", "right"} <= {sides[r] for r in defaults} and not whole_lungs:
                defaults = []
            out.extend(defaults or [None])
        elif tok in REGION_ALIASES:
            out.extend(REGION_ALIASES[tok])
        elif tok in region_ids:
            out.append(tok)
        else:
            raise ValueError(f"unknown region {tok!r}")
    seen: list[Optional[str]] = []
    for r in out:
        if r not in seen:
            seen.append(r)
    return seen


def build(src: Path, rows: dict[str, dict[str, str]]) -> list[dict]:
    """Parse every notes file under `src` into standoff records."""
    data = ROOT / "anatomy_ontology" / "data"
    findings = {f["id"]: f for f in yaml.safe_load((data / "findings.yaml").read_text())["findings"]}
    region_raw = yaml.safe_load((data / "regions.yaml").read_text())["regions"]
    region_list = [r["id"] for r in region_raw]
    sides = {r["id"]: r.get("side", "none") for r in region_raw}
    region_ids = set(region_list)
    onto = load_ontology()
    records: dict[str, dict] = {}
    order: list[str] = []
    for path in sorted(src.glob("*.txt")):
        uid = None
        for ln, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            where = f"{path.name}:{ln}"
            if not line or line.startswith("#"):
                continue
            try:
                if line.startswith("@+"):
                    uid = line[2:].strip()
                    if uid not in records:
                        raise ValueError(f"'@+ {uid}' continues a report that no earlier file started")
                    continue
                if line.startswith("@"):
                    uid = line[1:].strip()
                    if uid not in rows:
                        raise ValueError(f"uid {uid} not in CSV")
                    if uid in records:
                        raise ValueError(f"uid {uid} annotated twice")
                    text = benchmark_text(rows[uid])
                    records[uid] = {"uid": uid, "text_sha1": hashlib.sha1(text.encode("utf-8")).hexdigest(),
                                    "sentences": split_sentences(text), "triplets": [], "rs": {}, "_text": text}
                    order.append(uid)
                    continue
                if uid is None:
                    raise ValueError("annotation before any '@ UID' line")
                rec = records[uid]
                text, sents = rec["_text"], rec["sentences"]
                m = re.match(r"^(\d+)\s+R\s+(.+)$", line)
                if m:
                    i = int(m.group(1))
                    if i >= len(sents):
                        raise ValueError(f"sentence {i} out of range")
                    for r in expand_regions(m.group(2), "opacity", findings, region_ids, sides):
                        rec["rs"].setdefault(r, set()).add(i)
                    continue
                cols = [c.strip() for c in line.split("|")]
                if len(cols) != 6:
                    raise ValueError("expected 6 '|' fields: I | mention | finding | regions | e | cue")
                i = int(cols[0])
                if i >= len(sents):
                    raise ValueError(f"sentence {i} out of range")
                finding = FINDING_ALIASES.get(cols[2], cols[2])
                if finding not in findings:
                    raise ValueError(f"unknown finding {cols[2]!r}")
                if cols[4] not in EXISTENCE:
                    raise ValueError(f"existence must be p/a/u, got {cols[4]!r}")
                s, e = find_phrase(text, tuple(sents[i]), cols[1])
                cue = None if cols[5] == "-" else list(find_phrase(text, tuple(sents[i]), cols[5], near=(s, e)))
                before = re.findall(r"[A-Za-z]+", text[sents[i][0]:s])[-1:]
                for r in expand_regions(cols[3], finding, findings, region_ids, sides, EXISTENCE[cols[4]],
                                        " ".join(before + [text[s:e]]), onto):
                    rec["triplets"].append({"region": r, "finding": finding, "existence": EXISTENCE[cols[4]],
                                            "sentence": i, "start": s, "end": e, "cue": cue})
                    if r is not None:
                        rec["rs"].setdefault(r, set()).add(i)
            except (ValueError, IndexError) as exc:
                fail(f"{where}: {exc}")
    rank_uid = {u: k for k, u in enumerate(sample_uids(rows))}
    order.sort(key=lambda u: rank_uid.get(u, len(rank_uid)))
    out = []
    for uid in order:
        rec = records[uid]
        rank = {r: k for k, r in enumerate(region_list)}
        rec["triplets"].sort(key=lambda t: (t["start"], t["finding"], rank.get(t["region"], -1)))
        rs = {r: sorted(v) for r, v in sorted(rec["rs"].items(), key=lambda kv: rank[kv[0]])}
        out.append({"uid": uid, "text_sha1": rec["text_sha1"], "sentences": [list(s) for s in rec["sentences"]],
                    "triplets": rec["triplets"], "region_sentences": rs})
    return out


def main(argv: list[str]) -> None:
    """Command-line entry point."""
    if not argv or argv[0] not in ("sample", "show", "build"):
        fail("usage: openi_offsets.py sample | show UID... | build SRC_DIR [--csv PATH]")
    rows = load_rows(csv_path(argv))
    args = [a for k, a in enumerate(argv[1:], 1) if a != "--csv" and argv[k - 1] != "--csv"]
    if argv[0] == "sample":
        print(" ".join(sample_uids(rows)))
    elif argv[0] == "show":
        for uid in args:
            text = benchmark_text(rows[uid])
            print(f"@ {uid}")
            for i, (s, e) in enumerate(split_sentences(text)):
                print(f"  {i}: {text[s:e]}")
    else:
        recs = build(Path(args[0]), rows)
        OUT.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        print(f"{OUT.name}: {len(recs)} reports, {sum(len(r['triplets']) for r in recs)} triplets")


if __name__ == "__main__":
    main(sys.argv[1:])
