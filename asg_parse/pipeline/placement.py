"""Placement rules of `asg_mentions`: how the regions a finding gets from its anatomy and side words combine into
its final place, and where a finding without anatomy goes (its defaults, on the side said)."""
from __future__ import annotations

from typing import Optional

from anatomy_ontology import Ontology

from .matching import Context, M


class Placement:
    """The placement rules over the ontology's sides, region parts, allowed regions and default regions; built
    once."""

    def __init__(self, ontology: Ontology):
        self.ontology = onto = ontology
        self.side_of = onto.side_of
        self.strictly_inside = {r: onto.descendants(r) - {r} for r in onto.regions}  # region -> its parts
        self.defaults = onto.default_regions
        self.allowed_part = onto.allowed_part  # the regions where a finding may be located
        # a tip is part of the device it implies ("implies: {finding: device, unless: [tube, line, ...]}")
        self.part_of = {f.id: set(f.implies.unless) if f.implies else set() for f in onto.findings.values()}

    def on_side(self, regions: list[str], side: str) -> bool:
        """Whether every region lies on `side` (left/right); for "both", whether it is lateral at all. Anatomy
        outside the atlas (no regions) may lie on any side."""
        if not regions:
            return True
        sides = {self.side_of[r] for r in regions}
        return sides == {side} if side in ("left", "right") else bool(sides & {"left", "right"})

    def side_part(self, regions: list[str], side: str, loose: bool) -> list[str]:
        """An unsided zone word's regions on the finding's own side ("left pneumothorax, best seen at the apex":
        the left apex); other anatomy as it is."""
        if not loose or side not in ("left", "right"):
            return regions
        return [r for r in regions if self.side_of[r] in (side, "none")] or regions

    def sided(self, finding: str, side: str) -> list[str]:
        """The finding's default regions on `side`; with none there, that side's lung (if allowed and the finding
        has no defaults at all), else all its defaults."""
        defaults = self.defaults[finding]
        sided = [r for r in defaults if self.side_of[r] == side]
        if not sided:
            lung = self.ontology.zone_regions.get((side, "lung"))
            allowed = self.ontology.allowed(finding)
            sided = [lung] if lung and (allowed is None or lung in allowed) and not defaults else list(defaults)
        return sided

    def with_own_place(self, f: M, regions: list[str], side: Optional[str]) -> list[str]:
        """The finding's defaults on its side (said, or else that of `regions` when they lie on one side) before
        the place its extent reaches ("right effusion tracking up to the apex": the right angle and apex)."""
        if not self.defaults[f.label]:
            return regions  # a device has no place of its own ("tube extending below the left hemidiaphragm")
        if side not in ("left", "right"):
            sides = {self.side_of[r] for r in regions} - {"none"}
            side = sides.pop() if len(sides) == 1 else None
        own = self.sided(f.label, side) if side in ("left", "right") else list(self.defaults[f.label])
        own = [r for r in own if r not in regions and not self.strictly_inside[r] & set(regions)]
        return own + regions

    def merge(self, parts: list[tuple[list[str], bool, bool, bool]]) -> list[str]:
        """The regions of a finding from all its anatomy. "right pleural opacity along the lower chest wall": a side
        said for the finding's other anatomy applies to its unsided zone words. "improved lung volumes with
        bibasilar atelectasis": a generic whole-organ phrase adds no lung that a specific part already covers."""
        if len(parts) == 1:  # one anatomy: nothing to weigh against
            return list(parts[0][0])
        specific = {r for rs, _, generic, _ in parts if not generic for r in rs}
        inside = self.strictly_inside
        parts = [p for p in parts if not (p[2] and any(inside[r] & specific for r in p[0]))]
        named = {self.side_of[r] for rs, loose, *_ in parts if not loose for r in rs} & {"left", "right"}
        precise = {r for rs, loose, generic, _ in parts if not loose and not generic for r in rs}
        merged: list[str] = []
        for rs, loose, generic, _ in parts:
            merged += [r for r in rs if r not in merged and (not loose or len(named) != 1
                                                             or self.side_of[r] in named | {"none"})
                       and not (loose and inside[r] & precise)]  # "pleural opacity in the left upper lobe"
        return merged

    def place(self, f: M, regions: Optional[list[str]], side: Optional[str]) -> tuple[list[str], bool]:
        """Final (regions, located) of a mention with a side word: bilateral additions to the regions it has, else
        its defaults on the side said."""
        if regions is not None:  # [] when the anatomy lies outside the atlas
            if regions and side == "both":
                # "bilateral opacities, worst in the right lower lobe": both lungs and the named zone
                both = [r for r in self.sided(f.label, "right") + self.sided(f.label, "left") if r not in regions]
                return both + regions, True
            return regions, True
        if side in ("left", "right"):
            return self.sided(f.label, side), True
        if side == "both":  # "bilateral chest tubes"
            return list(dict.fromkeys(self.sided(f.label, "right") + self.sided(f.label, "left"))), True
        return list(self.defaults[f.label]), False

    def device_at_its_tip(self, ctx: Context, findings: list[M], links: dict[int, list[str]],
                           finding_side: dict[int, str]) -> None:
        """A device placed only by a side word lies where the text puts its tip in the same clause (GUIDELINES 4.9:
        "left-sided pigtail catheter with its tip over the left apex" -> left apex), when that place is on its side."""
        if not finding_side:
            return
        for ti in range(len(findings)):
            di = self.device_of(ctx, findings, ti) if ti in links else None
            if di is None or di in links or finding_side.get(di) is None:
                continue
            regions = self.allowed_part(findings[di].label, links[ti])
            if regions and self.on_side(regions, finding_side[di]):
                links[di] = regions

    def device_of(self, ctx: Context, findings: list[M], ti: int) -> Optional[int]:
        """Index of the device whose part (a tip) `findings[ti]` is: the nearest device mention before it in its
        clause, if no other finding comes between."""
        devices, tip = self.part_of[findings[ti].label], findings[ti]
        if not devices or ti == 0:
            return None
        dev = findings[ti - 1]
        if dev.label in devices and ctx.sent[dev.start] == ctx.sent[tip.start] and ctx.between(dev.end, tip.start)[0]:
            return ti - 1
        return None
