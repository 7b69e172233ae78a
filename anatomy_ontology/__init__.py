"""Curated chest X-ray anatomy ontology: regions, findings, existence cues, sections and an atlas prior."""
from .cues import Convention, Cue
from .labels import LabelSet, Observation
from .loader import DATA_DIR, OntologyError, load_ontology
from .ontology import Ontology
from .schema import Box, Finding, Region, RegionGroup, Section, SideWords, State, Zone

__all__ = ["Box", "Convention", "Cue", "LabelSet", "Observation", "DATA_DIR", "Finding", "Ontology", "OntologyError", "Region", "RegionGroup",
           "Section", "SideWords", "State", "Zone", "load_ontology"]
