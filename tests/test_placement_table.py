"""Parser table for placement and vocabulary beyond one hospital: each class of language (docs/parser.md,
"Placement rules"; annotations/GUIDELINES.md section 4) with sentences of our own writing and the triplets the
guidelines give them. Expectations come from the written rules, not from running the parser."""
from __future__ import annotations

import pytest

import asg_parse
# the table helpers and region ids of the main parser table
from test_parser_table import LHI, LL, RHI, RL, RLZ, A, P, U, _case, both, triples

RMZ, LMZ, LUZ, LLZ = "right mid lung zone", "left mid lung zone", "left upper lung zone", "left lower lung zone"
RCP, LCP, RAP, LAP = "right costophrenic angle", "left costophrenic angle", "right apical zone", "left apical zone"
MED, TRACHEA, LHD, CS = "mediastinum", "trachea", "left hemidiaphragm", "cardiac silhouette"


@pytest.fixture(scope="module")
def nlp(asg_nlp):
    return asg_nlp


CASES = [
    # --- pediatric and other institutions' vocabulary
    _case("peribronchial-cuffing", "There is mild peribronchial cuffing.", {(None, "bronchial thickening", P)}),
    _case("reactive-airways", "Reactive airways disease.", {(None, "copd", P)}),
    # (an interpretation inherits its host's place, GUIDELINES 4.8)
    _case("reactive-airways-inherits", "Hyperinflated lungs, likely reactive airway disease.",
          both("hyperinflate", P) | both("copd", P)),
    _case("viral-illness", "Viral illness.", {(None, "pneumonia", P)}),
    _case("viral-infection-absent", "No evidence of viral infection.", both("pneumonia", A)),
    _case("hyperaeration", "Moderate hyperaeration of both lungs.", both("hyperinflate", P)),
    _case("air-space-disease", "Air space disease at the left base.", {(LLZ, "opacity", P)}),
    # --- mid zones said with the side inside the word or after "mid"
    _case("midleft-lung", "Tiny calcified granuloma in the midleft lung.", {(LMZ, "granuloma", P)}),
    _case("midright-lung", "A small nodule projects over the midright lung.", {(RMZ, "nodule", P)}),
    _case("right-midlung", "Linear atelectasis in the right midlung.", {(RMZ, "atelectasis", P)}),
    _case("left-midlung", "Streaky opacity of the left midlung.", {(LMZ, "opacity", P)}),
    # --- calcific density is a calcification
    _case("calcific-density", "Calcific density projects over the left upper lobe.", {(LUZ, "calcification", P)}),
    _case("calcific-density-unplaced", "Stable small calcific density.", {(None, "calcification", P)}),
    # --- more anatomy: mediastinal vessels and the esophagus; the shoulder lies outside the atlas
    _case("esophagus", "The enteric tube courses through the esophagus.", {(MED, "tube", P)}),
    _case("brachiocephalic-vein", "The left subclavian line ends in the left brachiocephalic vein.",
          {(MED, "line", P)}),
    _case("glenoid", "Degenerative changes of the left glenoid.", {(None, "degenerative change", P)}),
    _case("acromioclavicular", "Degenerative change at the right acromioclavicular joint.",
          {(None, "degenerative change", P)}),
    _case("acromion", "Old fracture of the left acromion.", {(None, "fracture", P)}),
    _case("inferior-hemithorax", "Hazy opacity over the right inferior hemithorax.", {(RLZ, "opacity", P)}),
    _case("named-pulmonary-artery", "Swan-Ganz catheter with its tip in the left pulmonary artery.",
          {(LHI, "line", P), (LHI, "tip", P)}),
    _case("enlarged-named-pulmonary-artery", "Enlarged right pulmonary artery.", {(RHI, "dilation", P)}),
    _case("enlargement-of-named-pulmonary-artery", "There is enlargement of the left pulmonary artery.",
          {(LHI, "dilation", P)}),
    # (a trailing side phrase must end its clause: here "left" belongs to the region after it)
    _case("side-before-unknown-anatomy", "A small scar is seen in the left paracardiac region.",
          {(None, "scar", P)}),
    # (a place inside an item that already has its finding is no item start)
    _case("device-item-places", "Two pacing leads, one tip in the right atrium and one tip in the right ventricle.",
          {("right atrium", "wire", P), ("right atrium", "tip", P), ("cardiac silhouette", "tip", P)}),
    # --- a segment of a named lobe lies in that lobe
    _case("superior-segment", "Patchy opacity in the superior segment of the left lower lobe.", {(LLZ, "opacity", P)}),
    _case("segment-phrase-starts-at-the-part", "Cavitary lesion containing a small amount of debris in the superior "
          "segment of the right lower lobe.", {(RLZ, "cyst", P)}),
    _case("apical-segment-of-lower-lobe", "Consolidation in the apical segment of the right lower lobe.",
          {(RLZ, "consolidation", P)}),
    # --- sides and levels: a trailing side phrase applies to its finding
    _case("trailing-side-absent", "No pneumothorax is seen on the right.", {(RL, "pneumothorax", A)}),
    _case("trailing-side-present", "A small effusion is again noted on the left.", {(LCP, "pleural effusion", P)}),
    # a side word of a rib finding stays on that side
    _case("rib-side", "Old fractures of the left seventh and eighth ribs.", {(LL, "fracture", P)}),
    _case("rib-side-trailing", "Healing rib fractures are seen on the right.", {(RL, "fracture", P)}),
    # bony anatomy after "at the level of" is a level: the device lies where its name says, and so does its tip
    _case("level-ett", "Endotracheal tube tip at the level of the clavicular heads.",
          {(TRACHEA, "tube", P), (TRACHEA, "tip", P)}),
    _case("level-no-home", "Right IJ line with its tip at the level of the clavicles.",
          {(None, "line", P), (None, "tip", P)}),
    _case("level-fracture", "Compression fracture at the level of T12.", {("spine", "fracture", P)}),
    # an extent keeps the finding at its own place as well
    _case("extent-apex", "Right effusion tracking up to the apex.", {(RCP, "pleural effusion", P),
                                                                      (RAP, "pleural effusion", P)}),
    _case("extent-sided-apex", "Moderate effusion extending to the left apex.",
          {(LCP, "pleural effusion", P), (LAP, "pleural effusion", P)}),
    _case("extent-device", "Feeding tube extending below the left hemidiaphragm.", {(LHD, "tube", P)}),
    # --- comma lists: a place belongs to the item it starts
    _case("comma-item-place", "Mild hyperexpansion, left apical pleural-parenchymal changes consistent with scarring.",
          {(None, "hyperinflate", P), (LAP, "scar", P)}),
    _case("comma-item-own-finding", "Stable cardiomegaly, right basilar atelectasis.",
          {("cardiac silhouette", "cardiomegaly", P), (RLZ, "atelectasis", P)}),
    _case("comma-trailing-place", "Patchy opacity, left lower lobe.", {(LLZ, "opacity", P)}),
    # --- a fronted place locates the first finding of its clause, across a parenthetical
    _case("fronted-parenthetical", "In the right infrahilar region, seen only on the lateral view, there is a faint "
          "opacity.", {(RHI, "opacity", P)}),
    _case("fronted-plain", "At the left base, there is a small area of consolidation.", {(LLZ, "consolidation", P)}),
    # --- a sentence that only interprets the observation before it takes its place
    _case("interpretation-sentence", "Patchy opacity in the left lower lobe. Atelectasis versus early pneumonia.",
          {(LLZ, "opacity", P), (LLZ, "atelectasis", U), (LLZ, "pneumonia", U)}),
    _case("interpretation-sentence-leaning", "Hazy opacity at the right base. Likely atelectasis.",
          {(RLZ, "opacity", P), (RLZ, "atelectasis", P)}),
    _case("not-an-interpretation", "Small left effusion. Possible pneumonia.",
          {(LCP, "pleural effusion", P), (None, "pneumonia", U)}),
    _case("absent-is-not-an-interpretation", "Patchy opacity in the left lower lobe. No pneumothorax.",
          {(LLZ, "opacity", P)} | both("pneumothorax", A)),
    # (a sentence with "and" or "the" in it has no side word for that: only one-word side phrases are side words)
    _case("interpretation-sentence-with-and", "Streaky opacity in the lingula. It is unchanged and is probably "
          "scarring or atelectasis.", {(LMZ, "opacity", P), (LMZ, "scar", P), (LMZ, "atelectasis", P)}),
    _case("interpretation-sentence-differential", "Focal airspace opacity in the lingula. Pneumonia is in the "
          "differential.", {(LMZ, "opacity", P), (LMZ, "pneumonia", U)}),
    # (a sentence that opens by referring back to the observation, and what it names first or listed with it)
    _case("interpretation-anaphora", "Streaky opacity in the lingula. This likely represents atelectasis.",
          {(LMZ, "opacity", P), (LMZ, "atelectasis", P)}),
    _case("interpretation-appearance", "Bandlike opacities at the right base. The appearance suggests scarring or "
          "atelectasis.", {(RLZ, "opacity", P), (RLZ, "scar", U), (RLZ, "atelectasis", U)}),
    _case("anaphora-later-finding-is-not-interpreted", "Two nodular opacities in the left lung. These lesions are "
          "new and should be rechecked after the edema is treated.",
          {(LL, "opacity", P), (LL, "lesion", P), (None, "edema", P)}),
    # (pleural thickening and blunting are observations a next sentence may interpret)
    _case("interpreted-pleural-thickening", "Focal pleural thickening along the left lateral chest wall. "
          "Alternatively this could be a small loculated effusion.",
          {(LL, "pleural thicken", P), (LL, "pleural effusion", U)}),
    # --- an interpretation inherits a host placed in both lungs by a whole-lung word
    _case("interpretation-of-whole-lung-host", "Diffuse interstitial opacities, likely edema.",
          both("opacity", P) | both("edema", P)),
    _case("which-interpretation-of-whole-lung-host", "Mild interstitial prominence which may reflect early edema.",
          both("interstitial change", P) | both("edema", U)),
    _case("whole-lung-host-gives-no-side-to-a-companion", "Pulmonary edema with small effusions.",
          both("edema", P) | {(None, "pleural effusion", P)}),
    # --- adjacent: on the side of the finding before it
    _case("adjacent-zone-takes-the-side", "Small left pleural effusion with adjacent basilar atelectasis.",
          {(LCP, "pleural effusion", P), (LLZ, "atelectasis", P)}),
    _case("adjacent-next-sentence", "Moderate right pleural effusion. There is adjacent compressive atelectasis.",
          {(RCP, "pleural effusion", P), (RCP, "atelectasis", P)}),
    _case("adjacent-own-place", "Right effusion. Adjacent atelectasis is present in the right lower lobe.",
          {(RCP, "pleural effusion", P), (RLZ, "atelectasis", P)}),
    # --- a named pulmonary artery said to be enlarged is dilated, not a hilar lymphadenopathy
    _case("named-pulmonary-artery-enlarged", "The left pulmonary artery is enlarged.", {(LHI, "dilation", P)}),
    _case("named-pulmonary-artery-prominent", "The right pulmonary artery appears prominent.",
          {(RHI, "dilation", P)}),
    _case("hilum-enlarged-stays-lymphadenopathy", "The right hilum is enlarged.", {(RHI, "lymphadenopathy", P)}),
    # --- "infectious consolidation" is a consolidation and a pneumonia
    _case("infectious-consolidation", "Right lower lobe infectious consolidation.",
          {(RLZ, "consolidation", P), (RLZ, "pneumonia", P)}),
    _case("infectious-consolidation-absent", "No infectious consolidation.",
          both("consolidation", A) | both("pneumonia", A)),
    # --- a telephone line in a report's contact footer is no device
    _case("consult-line-footer", "Physician consult line: (555) 555-0100.", set()),
    _case("phone-line-and-a-real-line", "PICC line tip in the SVC. Questions to the reading room line at 4-0000.",
          {("svc", "line", P), ("svc", "tip", P)}),
    # --- dictation without punctuation: a state word after a copula describes that copula's subject
    _case("dictation-normal", "heart size is normal lungs are clear no effusion",
          {(CS, "cardiomegaly", A), (RCP, "pleural effusion", A), (LCP, "pleural effusion", A)}),
    _case("dictation-enlarged", "the lungs are clear heart is enlarged",
          {(CS, "cardiomegaly", P)}),
    _case("dictation-negation-ends", "no effusion heart is enlarged",
          {(RCP, "pleural effusion", A), (LCP, "pleural effusion", A), (CS, "cardiomegaly", P)}),
    _case("dictation-mediastinum", "lungs are clear heart size is normal mediastinum is unremarkable",
          {(CS, "cardiomegaly", A), (MED, "enlarged cardiomediastinum", A)}),
    # --- whole-lung words: "pulmonary" and "interstitial" in the finding's name place a lung-wide finding
    _case("interstitial-edema", "Unchanged interstitial edema.", both("edema", P)),
    _case("pulmonary-edema-uncertain", "Possible mild pulmonary edema.", both("edema", U)),
    _case("edema-without-place", "Mild edema.", {(None, "edema", P)}),
    _case("interstitial-restated", "Perihilar interstitial edema. Interstitial edema has increased.",
          {(RHI, "edema", P), (LHI, "edema", P)}),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_placement(nlp, text: str, expected: set[tuple]):
    assert triples(asg_parse.parse(text, nlp=nlp)) == expected


REGION_SENTENCES = [
    pytest.param("Unchanged interstitial edema.", {RL: [0], LL: [0]}, id="interstitial-edema"),
    pytest.param("Pulmonary edema.", {RL: [0], LL: [0]}, id="pulmonary-edema"),
    pytest.param("Low lung volumes.", {RL: [0], LL: [0]}, id="low-lung-volumes"),
    pytest.param("Small left effusion. Mild pulmonary edema.", {RL: [1], LL: [1], LCP: [0]}, id="two-sentences"),
    # an unsided zone word locating a sided finding names that side only
    pytest.param("Left effusion tracking up to the apex.", {LAP: [0], LCP: [0]}, id="extent-map-side"),
    # the zone word said with "adjacent" names the host's side only
    pytest.param("Small left pleural effusion with adjacent basilar atelectasis.", {LLZ: [0], LCP: [0]},
                 id="adjacent-map-side"),
]

CHEXPERT_PLACEMENT = [
    # "no new X" is uncertain under the chexpert convention, and placed as the project reads it (a negation): the
    # defaults, as under asg, so the region map does not change with the convention
    _case("no-new-keeps-defaults", "No new focal consolidation or effusion.",
          both("consolidation", U) | both("pleural effusion", U, (RCP, LCP))),
]


@pytest.mark.parametrize("text, expected", CHEXPERT_PLACEMENT)
def test_placement_under_chexpert(text: str, expected: set[tuple]):
    nlp = asg_parse.load(spans=False, convention="chexpert")
    report = asg_parse.parse(text, nlp=nlp)
    assert triples(report) == expected
    assert report.region_sentences == asg_parse.parse(text, nlp=asg_parse.load(spans=False)).region_sentences


@pytest.mark.parametrize("text, expected", REGION_SENTENCES)
def test_whole_lung_sentences_map_to_both_both(nlp, text: str, expected: dict[str, list[int]]):
    assert asg_parse.parse(text, nlp=nlp).region_sentences == expected


DICTATED = [
    pytest.param("heart size is normal lungs are clear no effusion",
                 ["heart size is normal", "lungs are clear", "no effusion"], id="three-clauses"),
    pytest.param("the lungs are clear heart is enlarged", ["the lungs are clear", "heart is enlarged"], id="two"),
    pytest.param("no effusion heart is enlarged", ["no effusion", "heart is enlarged"], id="after-negated-phrase"),
    pytest.param("no acute disease heart size is normal", ["no acute disease", "heart size is normal"],
                 id="two-word-subject"),
    # an adjective of anatomy inside the negated phrase is no new subject
    pytest.param("No acute osseous abnormalities are identified.", ["No acute osseous abnormalities are identified."],
                 id="osseous-adjective"),
    # punctuated text and clauses that go on keep their sentences
    pytest.param("The heart is normal in size and the mediastinum is unremarkable.",
                 ["The heart is normal in size and the mediastinum is unremarkable."], id="goes-on"),
    pytest.param("The lungs are clear and there is no effusion.", ["The lungs are clear and there is no effusion."],
                 id="conjunction"),
]


@pytest.mark.parametrize("text, sentences", DICTATED)
def test_dictated_clauses_are_sentences(nlp, text: str, sentences: list[str]):
    assert [s.text for s in asg_parse.parse(text, nlp=nlp).sentences] == sentences


def test_granular_pipeline_splits_dictation_the_same():
    granular = asg_parse.load()
    assert [s.text for s in granular("heart size is normal lungs are clear").sents] == \
        ["heart size is normal", "lungs are clear"]
