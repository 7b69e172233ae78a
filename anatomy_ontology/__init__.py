"""Curated chest X-ray anatomy ontology: regions, findings, existence cues, sections and an atlas prior.

The data is YAML in `data/` (regions.yaml, findings.yaml, existence.yaml, sections.yaml, labels.yaml, atlas.yaml);
the code only reads and validates it:

    schema.py    pydantic models of regions, findings, sections, boxes
    cues.py      existence cues and the convention profiles that read their classes
    labels.py    report-level label sets (the CheXpert labeler's observations, the 40 ASG tags)
    loader.py    loads our YAML merged with a user's ontology directory; one-line OntologyError per problem
    ontology.py  the validated Ontology and the look-up tables the parser uses
"""
from .cues import Convention, Cue
from .labels import LabelSet, Observation
from .loader import DATA_DIR, OntologyError, load_ontology
from .ontology import Ontology
from .schema import Box, Finding, Home, Region, RegionGroup, Section, SideWords, State, Zone

__all__ = ["Box", "Convention", "Cue", "LabelSet", "Observation", "DATA_DIR", "Finding", "Home", "Ontology",
           "OntologyError", "Region", "RegionGroup",
           "Section", "SideWords", "State", "Zone", "load_ontology"]
