"""Pydantic model for existence cues (negation, uncertainty, pseudo-cues, terminators)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, field_validator

CueKind = Literal["negation", "uncertainty", "pseudo", "terminator"]
Direction = Literal["preceding", "following", "both"]


class Cue(BaseModel):
    """One trigger phrase. `preceding` cues scope forward over what follows them, `following` backward."""

    model_config = ConfigDict(extra="forbid")
    text: str
    kind: CueKind
    direction: Direction = "preceding"
    note: Optional[str] = None
    source: Optional[str] = None

    @field_validator("text")
    @classmethod
    def _norm(cls, v: str) -> str:
        v = " ".join(v.lower().split())
        if not v:
            raise ValueError("cue text must not be blank")
        return v

    @property
    def key(self) -> str:
        return self.text
