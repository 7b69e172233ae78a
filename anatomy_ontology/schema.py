"""Pydantic models for the curated ontology: regions, zones, region groups, findings' homes, findings, sections, atlas
boxes."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

Side = Literal["left", "right", "none"]


class Entry(BaseModel):
    """Common fields of every reviewable entry."""

    model_config = ConfigDict(extra="forbid")
    id: str
    note: Optional[str] = None
    source: Optional[str] = None

    @field_validator("id")
    @classmethod
    def _id_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("id must not be blank")
        return v.strip()


class Region(Entry):
    """One Chest ImaGenome region: side, parent and the words reports use for it."""

    side: Side
    parent: Optional[str] = None
    zone: Optional[str] = None  # side-less zone key shared by the left/right twins
    variants: list[str] = Field(default_factory=list)


class Zone(Entry):
    """A side-less anatomical zone ("base", "upper lobe"); the side comes from context."""

    variants: list[str] = Field(default_factory=list)
    plural: list[str] = Field(default_factory=list)  # forms that mean both sides ("bases", "apices")
    adjectives: list[str] = Field(default_factory=list)  # "middle" in "right middle and lower lobes"


class RegionGroup(Entry):
    """A phrase that names several regions at once ("bibasilar", "cardiomediastinal silhouette")."""

    regions: list[str]
    variants: list[str] = Field(default_factory=list)
    generic: bool = False  # a whole-organ phrase ("lung volumes"): adds no region a more specific word gives


class Home(Entry):
    """Where the findings of `findings` lie: the regions of `groups` and `regions`, with every part of them unless
    `parts` is off. The benchmarks' region-map recall asks that a report with one of these observations maps its
    home to a sentence."""

    findings: list[str]
    groups: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    parts: bool = True


class SideWords(BaseModel):
    """Laterality vocabulary."""

    model_config = ConfigDict(extra="forbid")
    left: list[str]
    right: list[str]
    both: list[str]


class State(BaseModel):
    """A state word that, said of one of `regions`, is a mention of the finding ("heart ... enlarged")."""

    model_config = ConfigDict(extra="forbid")
    regions: list[str]
    words: list[str]
    absent_words: list[str] = Field(default_factory=list)  # "heart size is normal": an absent mention
    uncertain_words: list[str] = Field(default_factory=list)  # "heart size is borderline": an uncertain mention
    # when given, the anatomy said must hold one of these words ("the left pulmonary artery is enlarged"), and the
    # statement is this finding's instead of that of a state without such words for the same regions
    anatomy_words: list[str] = Field(default_factory=list)


class Implication(BaseModel):
    """A mention of this finding also stands for `finding` when its sentence names none of `unless`
    ("XXXX tip in the SVC": a de-identified device whose tip is described)."""

    model_config = ConfigDict(extra="forbid")
    finding: str
    unless: list[str] = Field(default_factory=list)


class Finding(Entry):
    """A finding concept: surface forms, default and allowed regions, ASG tag membership."""

    asg_tag: bool = False
    forms: list[str] = Field(default_factory=list)
    states: list[State] = Field(default_factory=list)
    default_regions: list[str] = Field(default_factory=list)
    allowed_regions: list[str] = Field(default_factory=list)  # empty: anywhere; descendants included
    modifier_of: list[str] = Field(default_factory=list)  # "calcified ... granuloma": part of that finding
    implies: Optional[Implication] = None
    silent: bool = False  # a word that matters only through `implies`; not reported as a triplet itself
    laterality: bool = True  # False: a side word names the access route ("right subclavian line"), not a location
    lateral_forms: list[str] = Field(default_factory=list)  # forms whose side word does locate ("right chest tube")


class Section(Entry):
    """A report section and its header variants."""

    headers: list[str]
    parse: bool = False  # whether triplets are extracted from it by default


class Box(BaseModel):
    """A normalized (0..1) box of the frontal-film atlas prior."""

    model_config = ConfigDict(extra="forbid")
    region: str
    box: tuple[float, float, float, float]

    @field_validator("box")
    @classmethod
    def _box_valid(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = v
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise ValueError(f"box {list(v)} must satisfy 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1")
        return v
