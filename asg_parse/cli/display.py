"""What asg-parse shows: rich tables for one report, the ontology and a run summary, the progress bar, displaCy HTML.

rich is imported by the functions that draw something: a quiet parse run never needs it (a tenth of its start-up).
"""
from __future__ import annotations

import html as _html
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

if TYPE_CHECKING:
    from rich.console import Console

EXISTENCE_STYLE = {"present": "bold red", "absent": "green", "uncertain": "yellow"}
EXISTENCE_COLOR = {"present": "#f4a5a5", "absent": "#b9e4b9", "uncertain": "#f7e08a"}
ANATOMY_COLOR = "#b7d4f7"
DISPLAY_KEY = "asg_display"


def fmt(x: Optional[float]) -> str:
    """A metric with three decimals, or n/a."""
    return "n/a" if x is None else f"{x:.3f}"


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


# --------------------------------------------------------------------------- run progress and summary
@dataclass
class ParseStats:
    """Counts of one run for the summary table."""

    kept: int = 0  # records kept from a previous run (--resume)
    reports: int = 0
    warned: int = 0
    existence: dict[str, int] = field(default_factory=lambda: {"present": 0, "absent": 0, "uncertain": 0})
    errors: list[tuple[str, str]] = field(default_factory=list)
    wall: float = 0.0

    def add(self, res: Any, written: int) -> None:
        """Add a runner ChunkResult of which `written` records were written."""
        self.reports += written
        self.warned += res.warned
        for k, v in res.existence.items():
            self.existence[k] = self.existence.get(k, 0) + v
        self.errors.extend((rid, msg) for _, rid, msg in res.errors)


@contextmanager
def progress_bar(total: Optional[int] = None, enabled: bool = True, unit: str = "reports",
                 verb: str = "parsing") -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr (count, rate, ETA); yields `advance(n, total=None)`, where a total (exact or
    estimated, as a streamed input is read) replaces the one known so far. Without a total it shows the count and
    the rate."""
    if not enabled:
        yield lambda n, total=None: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class SpeedColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"-- {unit}/s", style="cyan")

    progress = Progress(TextColumn(verb), BarColumn(), MofNCompleteColumn(), SpeedColumn(),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=_stderr(),
                        transient=False)
    task = progress.add_task(verb, total=total)

    def advance(n: int, total: Optional[int] = None) -> None:
        if total is not None:
            progress.update(task, total=total)
        progress.advance(task, n)

    with progress:
        yield advance


def print_summary(stats: ParseStats, output: str, console: Optional[Console] = None) -> None:
    """The end-of-run table on stderr."""
    from rich.table import Table
    from rich.text import Text

    console = console or _stderr()
    table = Table(title=f"asg-parse -> {output}", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    if stats.kept:
        table.add_row("reports kept from the previous run", f"{stats.kept:,}")
    table.add_row("reports parsed", f"{stats.reports:,}")
    for k in ("present", "absent", "uncertain"):
        table.add_row(Text(f"triplets {k}", style=EXISTENCE_STYLE[k]), f"{stats.existence.get(k, 0):,}")
    table.add_row("reports with warnings", f"{stats.warned:,}")
    table.add_row("reports with errors", Text(f"{len(stats.errors):,}", style="bold red" if stats.errors else ""))
    table.add_row("wall time", f"{stats.wall:.2f} s")
    rate = stats.reports / stats.wall if stats.wall > 0 else 0.0
    table.add_row("reports/s", f"{rate:,.0f}")
    console.print(table)
    for rid, msg in stats.errors[:5]:
        console.print(f"  error in '{rid}': {msg}", markup=False, highlight=False)
    if len(stats.errors) > 5:
        console.print(f"  ... and {len(stats.errors) - 5} more", markup=False)


# --------------------------------------------------------------------------- one report
def print_report(record: dict, text: str, console: Optional[Console] = None) -> None:
    """Sentences with sections, triplets, the region map and tags of one parsed report."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    sents = Table(title=f"Sentences of '{record['id']}'", title_justify="left")
    sents.add_column("#", justify="right")
    sents.add_column("section")
    sents.add_column("chars", justify="right")
    sents.add_column("text")
    for i, s in enumerate(record.get("sentences", [])):
        sents.add_row(str(i), s["section"], f"{s['start']}-{s['end']}", Text(s["text"]))
    console.print(sents)

    trips = Table(title="Triplets", title_justify="left")
    triplets = record.get("triplets", [])
    decided = any("decided_by" in t for t in triplets)  # a learned existence model is loaded
    for col in ("region", "finding", "existence", "sent", "mention", "cue") + (("decided by",) if decided else ()):
        trips.add_column(col, justify="right" if col == "sent" else "left")
    for t in triplets:
        trips.add_row(t["region"] or "-", t["finding"], Text(t["existence"], style=EXISTENCE_STYLE[t["existence"]]),
                      str(t["sentence"]), Text(t["text"]), Text(t.get("cue") or "-"),
                      *((t.get("decided_by") or "-",) if decided else ()))
    console.print(trips)

    regions = Table(title="Region map", title_justify="left")
    regions.add_column("region")
    regions.add_column("sentences")
    for rid, idx in record.get("region_sentences", {}).items():
        regions.add_row(rid, ", ".join(str(i) for i in idx))
    console.print(regions)

    if record.get("tags"):
        tags = Table(title="ASG tags", title_justify="left")
        tags.add_column("tag")
        tags.add_column("value", justify="right")
        for tag, v in record["tags"].items():
            tags.add_row(tag, str(v))
        console.print(tags)
    for w in record.get("warnings", []):
        console.print(Text(f"warning: {w}", style="yellow"))
    if record.get("error"):
        console.print(Text(f"error: {record['error']}", style="bold red"))


def _display_spans(doc: Any, record: dict) -> tuple[list[Any], dict[str, str]]:
    """Spans for displaCy: one per finding mention (finding, existence, regions) plus the anatomy phrases."""
    from spacy.tokens import Span

    spans: list[Any] = []
    colors: dict[str, str] = {}
    merged: dict[tuple[int, int], tuple[str, str, list[str]]] = {}
    for t in record.get("triplets", []):
        key = (t["start"], t["end"])
        finding, existence, regions = merged.setdefault(key, (t["finding"], t["existence"], []))
        if t["region"] and t["region"] not in regions:
            regions.append(t["region"])
    for (start, end), (finding, existence, regions) in merged.items():
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None:
            continue
        label = f"{finding} {existence}" + (f" @ {', '.join(regions)}" if regions else "")
        spans.append(Span(doc, span.start, span.end, label=label))
        colors[label] = EXISTENCE_COLOR.get(existence, "#ddd")
    for span, named in anatomy_phrases(doc):
        label = "anatomy: " + (", ".join(named) if named else span.text.lower())
        spans.append(Span(doc, span.start, span.end, label=label))
        colors[label] = ANATOMY_COLOR
    return spans, colors


def anatomy_phrases(doc: Any) -> list[tuple[Any, list[str]]]:
    """The anatomy phrases of a doc parsed with spans, each with the regions it names (empty when none)."""
    from ..pipeline.mentions import anatomy_regions_of

    regions_of = anatomy_regions_of(doc)
    return [(span, list(regions_of.get((span.start, span.end)) or ([span.label_] if span.label_ else [])))
            for span in doc.spans.get("asg_anatomy", [])]


def render_html(doc: Any, record: dict) -> str:
    """A self-contained HTML page: displaCy spans over the report, then the triplet and region tables."""
    from spacy import displacy

    spans, colors = _display_spans(doc, record)
    doc.spans[DISPLAY_KEY] = spans
    try:
        marked = displacy.render(doc, style="span", page=False, jupyter=False,
                                 options={"spans_key": DISPLAY_KEY, "colors": colors})
    finally:
        del doc.spans[DISPLAY_KEY]
    esc = _html.escape
    rows = "".join(
        f"<tr><td>{esc(t['region'] or '-')}</td><td>{esc(t['finding'])}</td>"
        f"<td style='background:{EXISTENCE_COLOR.get(t['existence'], '#fff')}'>{esc(t['existence'])}</td>"
        f"<td>{t['sentence']}</td><td>{esc(t['text'])}</td><td>{esc(t.get('cue') or '-')}</td></tr>"
        for t in record.get("triplets", []))
    sents = "".join(f"<tr><td>{i}</td><td>{esc(s['section'])}</td><td>{esc(s['text'])}</td></tr>"
                    for i, s in enumerate(record.get("sentences", [])))
    regions = "".join(f"<tr><td>{esc(r)}</td><td>{', '.join(map(str, idx))}</td></tr>"
                      for r, idx in record.get("region_sentences", {}).items())
    warnings = "".join(f"<li>{esc(w)}</li>" for w in record.get("warnings", []))
    style = ("body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;padding:2rem;max-width:70rem}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
             "text-align:left;vertical-align:top}th{background:#f3f3f3}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>asg-parse: {esc(record['id'])}</title><style>{style}</style></head><body>"
        f"<h1>{esc(record['id'])}</h1>{marked}"
        "<h2>Triplets</h2><table><tr><th>region</th><th>finding</th><th>existence</th><th>sentence</th>"
        f"<th>mention</th><th>cue</th></tr>{rows}</table>"
        f"<h2>Sentences</h2><table><tr><th>#</th><th>section</th><th>text</th></tr>{sents}</table>"
        f"<h2>Region map</h2><table><tr><th>region</th><th>sentences</th></tr>{regions}</table>"
        + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "")
        + "</body></html>\n"
    )


def write_html(doc: Any, record: dict, path: Path) -> None:
    """Write :func:`render_html` to `path`."""
    Path(path).write_text(render_html(doc, record), encoding="utf-8")


# --------------------------------------------------------------------------- ontology
def print_ontology(onto: Any, console: Optional[Console] = None) -> None:
    """The regions (in region-index order) and findings of an ontology."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    regions = Table(title=f"Regions ({len(onto.regions)})", title_justify="left")
    for col in ("#", "id", "parent", "side", "zone", "variants"):
        regions.add_column(col, justify="right" if col == "#" else "left")
    for i, r in enumerate(onto.regions.values()):
        regions.add_row(str(i), r.id, r.parent or "-", str(getattr(r, "side", "") or "-"),
                        str(getattr(r, "zone", None) or "-"), Text(", ".join(getattr(r, "variants", []) or [])))
    console.print(regions)
    findings = Table(title=f"Findings ({len(onto.findings)}, {len(onto.asg_tags)} ASG tags)", title_justify="left")
    for col in ("id", "ASG tag", "default regions", "forms"):
        findings.add_column(col)
    for f in onto.findings.values():
        findings.add_row(f.id, "yes" if f.asg_tag else "", ", ".join(f.default_regions) or "-",
                         Text(", ".join(f.forms)))
    console.print(findings)


def print_conventions(onto: Any, name: Optional[str] = None, console: Optional[Console] = None) -> None:
    """The cue classes with each convention profile's reading (or only profile `name`'s) and some of their cues."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    profiles = [onto.convention(name)] if name else list(onto.conventions.values())
    cues: dict[str, list[str]] = {}
    for c in onto.cues:
        if c.trigger_class is not None:
            cues.setdefault(c.trigger_class, []).append(c.text)
    table = Table(title="Cue classes and conventions", title_justify="left")
    for col in ("class", *(p.id for p in profiles), "cues"):
        table.add_column(col)
    for cls in sorted(cues):
        examples = cues[cls]
        more = f" (+{len(examples) - 6})" if len(examples) > 6 else ""
        table.add_row(cls, *(p.reread(cls, "-") if cls in p.classes else "(kind)" for p in profiles),
                      Text(", ".join(examples[:6]) + more))
    console.print(table)
    for p in profiles:
        console.print(f"{p.id}: {p.description}", markup=False, highlight=False)
