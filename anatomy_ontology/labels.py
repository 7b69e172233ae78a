"""Pydantic model for label sets: report-level label columns (CheXpert's 14 observations) as groups of findings."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, field_validator


class RegionState(BaseModel):
    """A sentence mapped to one of `regions` (the region→sentence map) that holds one of `words`, one of
    `with_words` when given, none of `unless_words` and no mention of the observation gives the observation `label`
    ("stable cardiomediastinal silhouette": uncertain for an enlarged cardiomediastinum)."""

    model_config = ConfigDict(extra="forbid")
    regions: list[str]
    words: list[str]
    with_words: list[str] = []
    unless_words: list[str] = []
    label: Literal[1, 0, -1]

    @field_validator("words", "with_words", "unless_words")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [" ".join(w.lower().split()) for w in v]


class WordMention(BaseModel):
    """Mentions of `finding` whose text holds one of `words` ("nodular opacity": a lung lesion), of any existence
    or only of `existence`."""

    model_config = ConfigDict(extra="forbid")
    finding: str
    words: list[str]
    existence: Optional[Literal["present", "absent", "uncertain"]] = None


class Observation(BaseModel):
    """One label column: `name` (the column header), the findings whose mentions it aggregates (`hedged_findings`:
    signs that suggest the observation, whose mentions count as uncertain at most), the words that make
    a mention not count for it (`skip_words`, found in the mention's text), the mentions of other findings it takes
    by their words (`word_mentions`) and its `region_states`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    findings: list[str] = []
    hedged_findings: list[str] = []
    skip_words: list[str] = []
    word_mentions: list[WordMention] = []
    region_states: list[RegionState] = []
    note: Optional[str] = None


class LabelSet(BaseModel):
    """A report-level labelling layout: the text column, then one column per observation in file order.

    `no_finding` names a column that is 1 only when no other observation except those of `no_finding_ignores` is
    positive or uncertain (else blank); `convention` is the profile its labels are read under by default.
    """

    model_config = ConfigDict(extra="forbid")
    id: str
    description: str
    text_column: str = "Reports"
    convention: Optional[str] = None
    no_finding: Optional[str] = None
    no_finding_ignores: list[str] = []
    observations: list[Observation]
    note: Optional[str] = None

    @field_validator("observations")
    @classmethod
    def _unique(cls, v: list[Observation]) -> list[Observation]:
        names = [o.name for o in v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"observation '{dup}' is listed twice")
        return v

    @property
    def columns(self) -> list[str]:
        """The observation columns in order, `no_finding` first when the set has one."""
        head = [self.no_finding] if self.no_finding else []
        return head + [o.name for o in self.observations]
