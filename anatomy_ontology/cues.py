"""Pydantic model for existence cues (negation, uncertainty, pseudo-cues, terminators, clause words)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, field_validator

# negation / uncertainty: triggers. pseudo: phrases that contain a trigger word but trigger nothing ("no change").
# terminator: ends a trigger's scope ("but"). boundary: a soft separator ("," "and") that ends the scope only when a
# new clause starts after it. predicate: a finite verb that marks such a new clause ("is", "has", "reports").
# list: a coordinator that keeps a negated list together ("or", "nor").
CueKind = Literal["negation", "uncertainty", "pseudo", "terminator", "boundary", "predicate", "list"]
Direction = Literal["preceding", "following", "both"]


class Cue(BaseModel):
    """One cue phrase. `preceding` triggers scope forward over what follows them, `following` backward.

    For a terminator, `direction` says which scopes it cuts: `preceding` cuts only forward scopes, `following` only
    backward ones, `both` all. `window` / `back_window` cap the scope (tokens between the trigger and the entity)
    forward / backward; None means up to the clause boundary. `inside: false` makes a trigger count only outside
    the entity ("normal" in an entity "heart size is normal" describes a normal state, it does not negate it).
    """

    model_config = ConfigDict(extra="forbid")
    text: str
    kind: CueKind
    direction: Direction = "preceding"
    window: Optional[int] = None
    back_window: Optional[int] = None
    inside: bool = True
    note: Optional[str] = None
    source: Optional[str] = None

    @field_validator("text")
    @classmethod
    def _norm(cls, v: str) -> str:
        v = " ".join(v.lower().split())
        if not v:
            raise ValueError("cue text must not be blank")
        return v

    @field_validator("window", "back_window")
    @classmethod
    def _window(cls, v: Optional[int]) -> Optional[int]:
        if v is not None and v < 0:
            raise ValueError("window must be >= 0")
        return v

    @property
    def key(self) -> str:
        return self.text
