"""Pydantic model for existence cues (negation, uncertainty, pseudo-cues, terminators, clause words)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# negation / uncertainty: triggers. pseudo: phrases that contain a trigger word but trigger nothing ("not only").
# terminator: ends a trigger's scope ("but"). boundary: a soft separator ("," "and") that ends the scope only when a
# new clause starts after it. predicate: a finite verb that marks such a new clause ("is", "has", "reports").
# list: a coordinator that keeps a negated list together ("or", "nor").
CueKind = Literal["negation", "uncertainty", "pseudo", "terminator", "boundary", "predicate", "list"]
Direction = Literal["preceding", "following", "both"]
# a trigger's class when its entry names none: the class its kind stands for
DEFAULT_CLASS = {"negation": "negation", "uncertainty": "hedge"}
# what a convention profile may make of a cue class
Reading = Literal["present", "absent", "uncertain", "ignore"]


class Cue(BaseModel):
    """One cue phrase. `preceding` triggers scope forward over what follows them, `following` backward.

    For a terminator, `direction` says which scopes it cuts: `preceding` cuts only forward scopes, `following` only
    backward ones, `both` all. `window` / `back_window` cap the scope (tokens between the trigger and the entity)
    forward / backward; None means up to the clause boundary. `inside: false` makes a trigger count only outside
    the entity ("normal" in an entity "heart size is normal" describes a normal state, it does not negate it).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    text: str
    kind: CueKind
    direction: Direction = "preceding"
    window: Optional[int] = None
    back_window: Optional[int] = None
    inside: bool = True
    cue_class: Optional[str] = Field(None, alias="class")
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

    @field_validator("cue_class")
    @classmethod
    def _class(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not v.strip():
            raise ValueError("class must not be blank")
        return v

    @model_validator(mode="after")
    def _class_on_trigger(self) -> "Cue":
        if self.cue_class is not None and self.kind not in DEFAULT_CLASS and self.kind != "list":
            raise ValueError(f"a {self.kind} cue takes no class (only negation, uncertainty and list cues do)")
        return self

    @property
    def key(self) -> str:
        return self.text

    @property
    def trigger_class(self) -> Optional[str]:
        """The class a convention profile reads this cue by (None for the cues it does not read: terminators,
        clause words, and list words without a class)."""
        if self.kind == "list":
            return self.cue_class
        default = DEFAULT_CLASS.get(self.kind)
        return None if default is None else (self.cue_class or default)


class Convention(BaseModel):
    """A labelling convention: what each cue class means (`classes`: class -> present / absent / uncertain /
    ignore). A list word's class (a disjunction: "atelectasis or consolidation") read as `uncertain` makes the
    present findings it joins uncertain; any other reading leaves them as they are. `present` reads the class's
    trigger cues as pseudo-cues (they decide nothing and swallow the shorter cues
    inside them); `ignore` does not read them at all (the words inside them may still be cues: "no new" ignored
    leaves its "no"). A class the profile does not name keeps its kind's reading (negation absent, else
    uncertain)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    description: str
    classes: dict[str, Reading] = {}
    note: Optional[str] = None

    def reread(self, cue_class: Optional[str], existence: str) -> str:
        """A parsed triplet's existence re-read under this profile from its recorded `cue_class` (a class this
        profile reads as present, absent or uncertain); unchanged without a class or for one it ignores."""
        reading = self.classes.get(cue_class) if cue_class else None
        return existence if reading is None or reading == "ignore" else reading

    def reading(self, cue: Cue) -> Optional[str]:
        """What `cue` means under this profile: present / absent / uncertain / ignore, None for a non-trigger."""
        cls = cue.trigger_class
        if cls is None:
            return None
        if cue.kind == "list":  # a disjunction read as uncertain makes the findings it joins uncertain
            return self.classes.get(cls, "present")
        return self.classes.get(cls, "absent" if cue.kind == "negation" else "uncertain")
