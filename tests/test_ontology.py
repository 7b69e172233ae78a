"""anatomy_ontology: the shipped data (regions, ASG tags, hierarchy, lexical variants) and one validation error
per kind of mistake, each naming the file, the entry and the problem; user directories extend and override."""
from __future__ import annotations

from pathlib import Path

import pytest

import asg_parse
from anatomy_ontology import load_ontology
from anatomy_ontology.loader import OntologyError

REGIONS = [
    "right lung", "right upper lung zone", "right mid lung zone", "right lower lung zone", "right hilar structures",
    "right apical zone", "right costophrenic angle", "right hemidiaphragm",
    "left lung", "left upper lung zone", "left mid lung zone", "left lower lung zone", "left hilar structures",
    "left apical zone", "left costophrenic angle", "left hemidiaphragm",
    "trachea", "spine", "right clavicle", "left clavicle", "aortic arch", "mediastinum", "upper mediastinum", "svc",
    "cardiac silhouette", "cavoatrial junction", "right atrium", "carina", "abdomen",
]
ASG_TAGS = [
    "pleural effusion", "opacity", "pneumothorax", "edema", "atelectasis", "tube", "consolidation",
    "enlarged cardiomediastinum", "tip", "pneumonia", "line", "cardiomegaly", "fracture", "calcification", "device",
    "engorgement", "nodule", "wire", "pacemaker", "pleural thicken", "marking", "scar", "hyperinflate", "blunt",
    "collapse", "emphysema", "aerate", "mass", "infiltration", "obscure", "deformity", "hernia", "drainage",
    "distention", "shift", "stent", "lesion", "hardware", "dilation", "aspiration",
]
EXTRA_FINDINGS = ["granuloma", "scoliosis", "hypoinflation", "congestion", "tortuous aorta", "atherosclerosis",
                  "degenerative change"]


@pytest.fixture(scope="module")
def onto():
    return load_ontology()


@pytest.fixture(scope="module")
def nlp(asg_nlp):
    return asg_nlp


# ------------------------------------------------------------------------------------------------ shipped data
def test_regions_are_the_29_imagenome_ids_in_order(onto):
    assert len(REGIONS) == 29
    assert onto.region_order == REGIONS
    assert list(onto.regions) == REGIONS


def test_asg_tags_in_paper_order(onto):
    assert len(ASG_TAGS) == 40
    assert onto.asg_tags == ASG_TAGS
    assert list(onto.findings)[:40] == ASG_TAGS  # GUIDELINES section 6: the first 40 findings
    assert all(onto.findings[t].asg_tag for t in ASG_TAGS)


def test_extra_findings_present_and_not_tags(onto):
    for f in EXTRA_FINDINGS:
        assert f in onto.findings
        assert not onto.findings[f].asg_tag


def test_every_region_has_the_side_its_name_says(onto):
    for rid, region in onto.regions.items():
        expected = "right" if rid.startswith("right") else "left" if rid.startswith("left") else "none"
        assert region.side == expected, rid


@pytest.mark.parametrize("side", ["right", "left"])
def test_lung_contains_its_zones(onto, side: str):
    parts = {f"{side} upper lung zone", f"{side} mid lung zone", f"{side} lower lung zone",
             f"{side} hilar structures", f"{side} apical zone", f"{side} costophrenic angle"}
    assert parts <= onto.descendants(f"{side} lung")
    other = "left" if side == "right" else "right"
    assert not any(r.startswith(other) for r in onto.descendants(f"{side} lung"))
    for p in parts:
        assert onto.ancestors(p)[0] == f"{side} lung"


def test_mediastinum_contains_its_parts(onto):
    parts = {"trachea", "aortic arch", "upper mediastinum", "svc", "cardiac silhouette", "cavoatrial junction",
             "carina", "right atrium"}
    assert parts <= onto.descendants("mediastinum")
    assert onto.ancestors("right atrium") == ["cardiac silhouette", "mediastinum"]
    assert onto.regions["mediastinum"].parent is None
    assert "right lung" not in onto.descendants("mediastinum")


def test_default_and_allowed_regions_are_known(onto):
    for f in onto.findings.values():
        assert set(f.default_regions) <= set(onto.regions), f.id
        allowed = onto.allowed(f.id)
        if allowed is not None:
            assert set(f.default_regions) <= allowed, f.id
    assert onto.findings["cardiomegaly"].default_regions == ["cardiac silhouette"]
    assert onto.findings["pleural effusion"].default_regions == ["right costophrenic angle", "left costophrenic angle"]
    assert onto.allowed("pneumothorax") >= {"right apical zone", "left costophrenic angle"}


def test_atlas_boxes_cover_known_regions(onto):
    assert set(onto.atlas) <= set(onto.regions)
    for x1, y1, x2, y2 in onto.atlas.values():
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1


def test_likely_is_documented_as_a_leaning(onto):
    cues = {c.text: c for c in onto.cues}
    assert cues["likely"].trigger_class == "leaning" and cues["less likely"].trigger_class == "hedge"
    assert onto.convention("asg").reading(cues["likely"]) == "present"
    assert onto.convention(None).reading(cues["less likely"]) == "uncertain"
    text = (Path(__file__).resolve().parents[1] / "anatomy_ontology" / "data" / "existence.yaml").read_text()
    assert '"likely"' in text and "PRESENT" in text


@pytest.mark.parametrize("cue, kind", [
    ("no", "negation"), ("without", "negation"), ("free of", "negation"), ("negative for", "negation"),
    ("resolved", "negation"), ("no evidence of", "negation"), ("clear of", "negation"),
    ("may", "uncertainty"), ("possible", "uncertainty"), ("cannot be excluded", "uncertainty"),
    ("suggestive of", "uncertainty"), ("versus", "uncertainty"),
    ("no change", "negation"), ("not only", "pseudo"), ("no interval change", "negation"), ("but", "terminator"),
])
def test_issue_cues_listed(onto, cue: str, kind: str):
    assert {c.kind for c in onto.cues if c.text == cue} == {kind}


def test_statements_of_no_change_read_by_profile(onto):
    """'no change in X' is a negation cue of class unchanged: a pseudo-cue (present) under asg and chexpert, a
    negation under linguistic, as BioScope marks it."""
    cues = {c.text: c for c in onto.cues}
    for text in ("no change", "no interval change", "no significant change in"):
        assert cues[text].trigger_class == "unchanged"
        assert [onto.convention(p).reading(cues[text]) for p in ("asg", "chexpert", "linguistic")] == \
            ["present", "present", "absent"]


# ------------------------------------------------------------------------------------------------ lexical variants
NOUN_PHRASES = [
    ("left base", {"left lower lung zone"}),
    ("left lower lobe", {"left lower lung zone"}),
    ("lingula", {"left mid lung zone"}),
    ("right middle lobe", {"right mid lung zone"}),
    ("apices", {"right apical zone", "left apical zone"}),
    ("bases", {"right lower lung zone", "left lower lung zone"}),
    ("heart", {"cardiac silhouette"}),
    ("cardiac contours", {"cardiac silhouette"}),
    ("cardiomediastinal silhouette", {"cardiac silhouette", "mediastinum"}),
    ("right hemidiaphragm", {"right hemidiaphragm"}),
    ("hemidiaphragms", {"right hemidiaphragm", "left hemidiaphragm"}),
    ("left costophrenic angle", {"left costophrenic angle"}),
    ("right costophrenic sulcus", {"right costophrenic angle"}),
    ("thoracic spine", {"spine"}),
    ("T-spine", {"spine"}),
    ("left clavicle", {"left clavicle"}),
    ("aortic knob", {"aortic arch"}),
]
ADJECTIVES = [
    ("left basilar", {"left lower lung zone"}),
    ("retrocardiac", {"left lower lung zone"}),
    ("bibasilar", {"right lower lung zone", "left lower lung zone"}),
    ("biapical", {"right apical zone", "left apical zone"}),
    ("perihilar", {"right hilar structures", "left hilar structures"}),
    ("bilateral", {"right lung", "left lung"}),
]


@pytest.mark.parametrize("phrase, regions", NOUN_PHRASES, ids=[p for p, _ in NOUN_PHRASES])
def test_anatomy_variant_names_regions(nlp, phrase: str, regions: set[str]):
    r = asg_parse.parse(f"The {phrase} appears stable.", nlp=nlp)
    assert set(r.region_sentences) == regions


@pytest.mark.parametrize("phrase, regions", ADJECTIVES, ids=[p for p, _ in ADJECTIVES])
def test_anatomy_modifier_locates_finding(nlp, phrase: str, regions: set[str]):
    r = asg_parse.parse(f"Stable {phrase} scarring.", nlp=nlp)
    assert {(t.region, t.finding) for t in r.triplets} == {(reg, "scar") for reg in regions}


@pytest.mark.parametrize("text, finding", [
    ("Small bilateral effusions.", "pleural effusion"),
    ("The left lung base is atelectatic.", "atelectasis"),
    ("The lungs are hyperexpanded.", "hyperinflate"),
    ("Low lung volumes.", "hypoinflation"),
    ("Enlarged heart.", "cardiomegaly"),
    ("Calcified granulomas.", "granuloma"),
    ("Levoscoliosis of the thoracic spine.", "scoliosis"),
    ("Mild pulmonary vascular congestion.", "congestion"),
    ("Tortuous thoracic aorta.", "tortuous aorta"),
    ("Aortic atherosclerosis.", "atherosclerosis"),
    ("Degenerative changes of the spine.", "degenerative change"),
], ids=lambda v: v if " " not in v else v.split()[0] + "..." + v.split()[-1])
def test_finding_forms(nlp, text: str, finding: str):
    assert {t.finding for t in asg_parse.parse(text, nlp=nlp).triplets} == {finding}


# ------------------------------------------------------------------------------------------------ validation errors
def write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text(text, encoding="utf-8")
    return p


def load_error(d: Path) -> OntologyError:
    with pytest.raises(OntologyError) as info:
        load_ontology(d)
    msg = str(info.value)
    assert "\n" not in msg  # one line, no traceback text
    assert isinstance(info.value, ValueError)
    return info.value


def test_error_surface_form_mapped_to_two_findings(tmp_path: Path):
    path = write(tmp_path, "findings.yaml", "findings:\n  - id: fluid collection\n    forms: [collection, effusion]\n")
    err = load_error(tmp_path)
    msg = str(err)
    assert str(path) in msg and "fluid collection" in msg
    assert "effusion" in msg and "pleural effusion" in msg and "surface form" in msg


def test_error_surface_form_mapped_to_two_regions(tmp_path: Path):
    path = write(tmp_path, "regions.yaml", "regions:\n  - id: lower spine\n    side: none\n    variants: [thoracic spine]\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "lower spine" in msg and "thoracic spine" in msg and "'spine'" in msg


def test_error_unknown_parent(tmp_path: Path):
    path = write(tmp_path, "regions.yaml", "regions:\n  - id: azygos region\n    side: right\n    parent: right chest\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "azygos region" in msg and "unknown parent" in msg and "right chest" in msg


def test_error_unknown_region_in_default_regions(tmp_path: Path):
    path = write(tmp_path, "findings.yaml",
                 "findings:\n  - id: azygos lobe\n    forms: [azygos fissure]\n    default_regions: [right upper lobe]\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "azygos lobe" in msg and "unknown region" in msg and "right upper lobe" in msg
    assert "default_regions" in msg


def test_error_unknown_region_in_group(tmp_path: Path):
    path = write(tmp_path, "regions.yaml", "groups:\n  - id: trilobar\n    regions: [right lung, middle lung]\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "trilobar" in msg and "unknown region" in msg and "middle lung" in msg


def test_error_parent_cycle(tmp_path: Path):
    path = write(tmp_path, "regions.yaml",
                 "regions:\n  - id: zone a\n    side: none\n    parent: zone b\n"
                 "  - id: zone b\n    side: none\n    parent: zone a\n")
    err = load_error(tmp_path)
    msg = str(err)
    assert str(path) in msg and "cycle" in msg
    assert err.entry in {"zone a", "zone b"} and f"'{err.entry}'" in msg


def test_error_bad_side(tmp_path: Path):
    path = write(tmp_path, "regions.yaml", "regions:\n  - id: sternum\n    side: middle\n")
    err = load_error(tmp_path)
    msg = str(err)
    assert str(path) in msg and "sternum" in msg and "side" in msg
    assert "left" in msg and "right" in msg and "none" in msg  # says what is allowed


def test_error_zone_region_without_side(tmp_path: Path):
    path = write(tmp_path, "regions.yaml", "regions:\n  - id: middle base\n    side: none\n    zone: lower lung zone\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "middle base" in msg and "side" in msg


def test_error_invalid_yaml(tmp_path: Path):
    path = write(tmp_path, "findings.yaml", "findings:\n  - id: azygos lobe\n    forms: [azygos fissure\n")
    err = load_error(tmp_path)
    msg = str(err)
    assert str(path) in msg and "invalid YAML" in msg and "line" in msg


def test_error_unknown_top_level_key(tmp_path: Path):
    path = write(tmp_path, "findings.yaml", "finding:\n  - id: azygos lobe\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "unknown top-level key" in msg and "'finding'" in msg and "findings" in msg


def test_error_misspelt_file_name(tmp_path: Path):
    path = write(tmp_path, "finding.yaml", "findings:\n  - id: azygos lobe\n    forms: [azygos fissure]\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "not an ontology file name" in msg and "findings.yaml" in msg


def test_error_unknown_field_in_entry(tmp_path: Path):
    path = write(tmp_path, "findings.yaml", "findings:\n  - id: azygos lobe\n    form: [azygos fissure]\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "azygos lobe" in msg and "form" in msg


def test_error_duplicate_entry_in_one_file(tmp_path: Path):
    path = write(tmp_path, "findings.yaml",
                 "findings:\n  - id: azygos lobe\n    forms: [azygos fissure]\n  - id: azygos lobe\n    forms: [azygos]\n")
    msg = str(load_error(tmp_path))
    assert str(path) in msg and "azygos lobe" in msg and "duplicate" in msg


def test_error_path_not_a_directory(tmp_path: Path):
    msg = str(load_error(tmp_path / "missing"))
    assert "missing" in msg and "not a directory" in msg


# ------------------------------------------------------------------------------------------------ user directories
USER_FINDINGS = """\
findings:
  # override one of ours: a hiatal hernia drawn in the abdomen instead of the mediastinum
  - id: hernia
    asg_tag: true
    forms: [hernia, hernias, hiatal hernia, hiatus hernia]
    default_regions: [abdomen]
  # extend with a new concept
  - id: azygos lobe
    forms: [azygos lobe, azygos fissure]
    default_regions: [right upper lung zone]
"""


def test_user_directory_overrides_and_extends(tmp_path: Path, onto):
    write(tmp_path, "findings.yaml", USER_FINDINGS)
    user = load_ontology(tmp_path)
    assert user.findings["hernia"].default_regions == ["abdomen"]
    assert "morgagni hernia" not in user.findings["hernia"].forms  # an override replaces the entry
    assert user.findings["azygos lobe"].default_regions == ["right upper lung zone"]
    assert list(user.findings)[-1] == "azygos lobe"
    assert user.asg_tags == ASG_TAGS  # overriding in place keeps the tag order
    assert user.region_order == REGIONS
    assert onto.findings["hernia"].default_regions == ["mediastinum"]  # ours untouched
    nlp = asg_parse.load(ontology=tmp_path)
    r = asg_parse.parse("Small hiatal hernia. Incidental azygos fissure.", nlp=nlp)
    assert {(t.region, t.finding, t.existence) for t in r.triplets} == {
        ("abdomen", "hernia", "present"), ("right upper lung zone", "azygos lobe", "present")}


def test_user_directory_alone(tmp_path: Path):
    write(tmp_path, "regions.yaml", "regions:\n  - id: chest\n    side: none\n")
    write(tmp_path, "findings.yaml", "findings:\n  - id: lump\n    asg_tag: true\n    default_regions: [chest]\n")
    alone = load_ontology(tmp_path, base=False)
    assert alone.region_order == ["chest"] and alone.asg_tags == ["lump"]
