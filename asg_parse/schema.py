"""The fixed output schema of asg-parse: one ParsedReport per report, serialised as one JSON object."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_serializer

Existence = Literal["present", "absent", "uncertain"]
TAG_VALUE = {"present": 1, "absent": 0, "uncertain": -1}


class Sentence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    start: int
    end: int
    section: str


class Triplet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: Optional[str]
    finding: str
    existence: Existence
    sentence: int
    start: int
    end: int
    text: str
    cue: Optional[str] = None
    cue_class: Optional[str] = None  # the class of `cue` (existence.yaml), so a convention can be re-applied
    # who set `existence` ("rules" or "model"): present only when a learned existence model is loaded
    decided_by: Optional[Literal["rules", "model"]] = None

    @model_serializer(mode="wrap")
    def _drop_unset_decided_by(self, handler):  # type: ignore[no-untyped-def]
        data = handler(self)
        if data.get("decided_by") is None:
            data.pop("decided_by", None)
        return data


class ParsedReport(BaseModel):
    """One report's parse. `tags` holds the mentioned ASG tags: 1 present, 0 absent, -1 uncertain."""

    model_config = ConfigDict(extra="forbid")
    id: str
    sentences: list[Sentence] = Field(default_factory=list)
    triplets: list[Triplet] = Field(default_factory=list)
    region_sentences: dict[str, list[int]] = Field(default_factory=dict)
    tags: dict[str, Literal[1, 0, -1]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    error: Optional[str] = None

    def to_json(self) -> str:
        """One JSON line; `error` is written only when set."""
        return self.model_dump_json(exclude={"error"} if self.error is None else None)


# the fields of a sentence and of a triplet in record order: the columns of their rows (`Triplets.rows`)
SENTENCE_FIELDS = tuple(Sentence.model_fields)
TRIPLET_FIELDS = tuple(f for f in Triplet.model_fields if f != "decided_by")  # a row has no `decided_by`
