"""Pydantic model for label sets: report-level label columns (CheXpert's 14 observations) as groups of findings."""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, field_validator


class Observation(BaseModel):
    """One label column: `name` (the column header) and the findings whose mentions it aggregates."""

    model_config = ConfigDict(extra="forbid")
    name: str
    findings: list[str] = []
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
