"""Table-driven parser suite: hand-written chest X-ray sentences and the triplets GUIDELINES.md says they hold.

Every text here is our own writing. Expectations come from annotations/GUIDELINES.md and the ontology's defaults,
not from running the parser: a failing case is either a wrong expectation (fixed here) or a parser bug (reported).
"""
from __future__ import annotations

from typing import Optional

import pytest

import asg_parse
from asg_parse.schema import ParsedReport

# region ids (anatomy_ontology/data/regions.yaml)
RL, LL = "right lung", "left lung"
RUZ, RMZ, RLZ = "right upper lung zone", "right mid lung zone", "right lower lung zone"
LUZ, LMZ, LLZ = "left upper lung zone", "left mid lung zone", "left lower lung zone"
RHI, LHI = "right hilar structures", "left hilar structures"
RAP, LAP = "right apical zone", "left apical zone"
RCP, LCP = "right costophrenic angle", "left costophrenic angle"
RHD, LHD = "right hemidiaphragm", "left hemidiaphragm"
CS, MED, SPINE, AO = "cardiac silhouette", "mediastinum", "spine", "aortic arch"
CARINA, SVC = "carina", "svc"
RCL, LCL = "right clavicle", "left clavicle"

P, A, U = "present", "absent", "uncertain"

# finding ids (anatomy_ontology/data/findings.yaml)
EFF, PTX, EDEMA, ATEL, CONS = "pleural effusion", "pneumothorax", "edema", "atelectasis", "consolidation"
OPAC, PNA, CMEG, ECM = "opacity", "pneumonia", "cardiomegaly", "enlarged cardiomediastinum"


def both(finding: str, existence: str, regions: tuple[str, ...] = (RL, LL)) -> set[tuple]:
    """One triplet per region."""
    return {(r, finding, existence) for r in regions}


NO_EFF = both(EFF, A, (RCP, LCP))
NO_PTX = both(PTX, A)


@pytest.fixture(scope="module")
def nlp(asg_nlp):
    return asg_nlp


def triples(report: ParsedReport) -> set[tuple[Optional[str], str, str]]:
    return {(t.region, t.finding, t.existence) for t in report.triplets}


def _case(id_: str, text: str, expected: set[tuple]):
    return pytest.param(text, expected, id=id_)


# ------------------------------------------------------------------------------------------------ triplet table
CASES = [
    # --- an interpretation after a comma starts a new clause; a list goes on
    _case("clause-compatible", "No acute cardiopulmonary abnormality, findings compatible with emphysema.",
          both("emphysema", P)),
    _case("list-consistent", "No pneumothorax, or findings consistent with pulmonary edema.",
          NO_PTX | both("edema", A)),
    _case("hedge-findings-for", "Concerning findings for fibrosis in the lung bases.",
          both("fibrosis", U, ("right lower lung zone", "left lower lung zone"))),
    # --- a side adverb right after the finding; a finding word before it shares the side
    _case("trailing-bilaterally", "Airspace opacities bilaterally, most prominent in the lung bases.",
          both("opacity", P) | both("opacity", P, ("right lower lung zone", "left lower lung zone"))),
    _case("shared-trailing-side", "Calcified pleural plaques bilaterally.",
          both("calcification", P) | both("pleural thicken", P)),
    # --- the lobe named in the operation
    _case("lobectomy-zone", "Status post left lower lobectomy.", {("left lower lung zone", "sternotomy", P)}),
    _case("normal-variant", "Mediastinal contour is within limits of normal.",
          {("mediastinum", "enlarged cardiomediastinum", A)}),
    _case("bone-anchors", "Left humeral head bone anchors.", {(None, "hardware", P)}),
    # --- a generic whole-organ phrase adds no lung that a specific word covers
    _case("generic-organ", "Improved lung volumes with bibasilar atelectasis.",
          both("atelectasis", P, ("right lower lung zone", "left lower lung zone"))),
    _case("generic-organ-alone", "Low lung volumes.", both("hypoinflation", P)),
    _case("unsided-ancestor", "Ill-defined pleural parenchymal opacity in the left upper lobe.",
          {("left upper lung zone", "opacity", P)}),
    _case("zone-adjective-own-side", "Opacities in the right upper and left lower lobes.",
          {("right upper lung zone", "opacity", P), ("left lower lung zone", "opacity", P)}),
    _case("coordinated-after-side", "Mediastinal and right hilar calcifications, mediastinal clips.",
          {("mediastinum", "calcification", P), ("right hilar structures", "calcification", P),
           ("mediastinum", "clip", P)}),
    _case("device-not-from-finding", "Small residual right pneumothorax after chest tube placement.",
          {("right lung", "pneumothorax", P), (None, "tube", P)}),
    _case("outside-takes-adjacent-side-only", "Status post right mastectomy with axillary surgical clips.",
          {("right lung", "sternotomy", P), (None, "clip", P)}),
    _case("nodularity", "Nodularity in the left upper lobe.", {("left upper lung zone", "nodule", P)}),
    # --- GUIDELINES 4.7: the lungs as the subject do not locate what is negated after them
    _case("generic-lung-subject", "The lungs are clear without effusion.", NO_EFF),
    _case("generic-lung-subject-no-defaults", "The lungs are expanded and there is no nodule or mass.",
          both("nodule", A) | {(None, "mass", A)}),
    _case("unsided-rib-still-both", "No rib fractures.", both("fracture", A)),
    _case("finding-word-in-region-name", "Cardiomediastinal silhouettes are within normal limits.",
          {("mediastinum", "enlarged cardiomediastinum", A), ("cardiac silhouette", "cardiomegaly", A)}),
    _case("partial-clearing", "Partial clearing of the right lower lobe opacity.", {("right lower lung zone", "opacity", P)}),
    # --- the imaged body part is not a location
    _case("exam-chest", "Frontal and lateral views of the chest show normal size of the cardiac silhouette.",
          {("cardiac silhouette", "cardiomegaly", A)}),
    # --- anatomy outside the atlas (GUIDELINES 4.10): no region, and its side word is its own
    _case("outside-shoulder", "Degenerative changes of the right shoulder.", {(None, "degenerative change", P)}),
    _case("outside-axilla", "Left axillary surgical clips.", {(None, "clip", P)}),
    _case("outside-breast", "Bilateral breast implants. No pneumothorax.", {(None, "breast implant", P)} | NO_PTX),
    _case("outside-humerus", "Right humeral head fracture.", {(None, "fracture", P)}),
    _case("outside-and-inside", "Surgical clips in the left axilla and left chest wall.", {(LL, "clip", P)}),
    # --- negation forms
    _case("neg-no", "No pleural effusion.", NO_EFF),
    _case("neg-no-ptx", "No pneumothorax.", NO_PTX),
    _case("neg-no-airspace", "No focal airspace disease.", both(OPAC, A)),
    _case("neg-without", "The lungs are clear without focal consolidation.", both(CONS, A)),
    _case("neg-free-of", "The lungs are free of consolidation.", both(CONS, A)),
    _case("neg-negative-for", "Negative for pneumothorax.", NO_PTX),
    _case("neg-no-evidence-of", "There is no evidence of pneumonia.", both(PNA, A)),
    _case("neg-no-evidence-of-edema", "No evidence of pulmonary edema.", both(EDEMA, A)),
    _case("neg-clear-of", "The costophrenic angles are clear of effusion.", NO_EFF),
    _case("neg-has-resolved", "The previously seen right pleural effusion has resolved.", {(RCP, EFF, A)}),
    _case("neg-resolved-lobar", "The left lower lobe pneumonia has resolved.", {(LLZ, PNA, A)}),
    _case("neg-resolution-of", "Interval resolution of the right upper lobe consolidation.", {(RUZ, CONS, A)}),
    _case("neg-not-seen", "A pneumothorax is not seen.", NO_PTX),
    _case("neg-not-identified", "Focal consolidation is not identified.", both(CONS, A)),
    _case("neg-no-identified", "No acute fracture is identified.", {(None, "fracture", A)}),
    _case("neg-no-longer", "The left apical pneumothorax is no longer seen.", {(LAP, PTX, A)}),
    _case("neg-removal-of", "Interval removal of the right chest tube.", {(RL, "tube", A)}),
    _case("neg-removed", "The endotracheal tube has been removed.", {(None, "tube", A)}),
    _case("neg-heart-not-enlarged", "The heart is not enlarged.", {(CS, CMEG, A)}),
    _case("neg-mediastinum-not-widened", "The mediastinum is not widened.", {(MED, ECM, A)}),
    _case("neg-absent", "Pleural effusions are absent.", NO_EFF),
    # --- uncertainty
    _case("unc-possible", "Possible small right pleural effusion.", {(RCP, EFF, U)}),
    _case("unc-may", "There may be mild interstitial edema.", both(EDEMA, U)),
    _case("unc-cannot-be-excluded", "Right lower lobe pneumonia cannot be excluded.", {(RLZ, PNA, U)}),
    _case("unc-suggestive-of", "Findings are suggestive of pneumonia in the left lower lobe.", {(LLZ, PNA, U)}),
    _case("unc-versus", "Left basilar atelectasis versus consolidation.", {(LLZ, ATEL, U), (LLZ, CONS, U)}),
    _case("lean-likely-interpretation", "Right lower lobe opacity, likely atelectasis.",
          {(RLZ, OPAC, P), (RLZ, ATEL, P)}),
    _case("lean-likely-predicate", "Mild pulmonary edema is likely.", both(EDEMA, P)),
    _case("lean-probable", "Probable left lower lobe pneumonia.", {(LLZ, PNA, P)}),
    _case("unc-less-likely", "Aspiration is less likely.", {(None, "aspiration", U)}),
    _case("link-coordinated-zones", "There is scarring in the right mid and upper lung zones.",
          {(RMZ, "scar", P), (RUZ, "scar", P)}),
    _case("link-premodifier-chain", "Tortuous calcified aorta.",
          {("aortic arch", "tortuous aorta", P), ("aortic arch", "calcification", P)}),
    _case("link-bilateral-plus-zone", "Bilateral airspace opacities, most severe in the right lower lobe.",
          {("right lung", OPAC, P), ("left lung", OPAC, P), (RLZ, OPAC, P)}),
    _case("link-side-before-zone-phrase", "Opacities in the right lower lung representing atelectasis.",
          {(RLZ, OPAC, P), (RLZ, ATEL, P)}),
    _case("state-nearest-anatomy", "Stable heart size, moderately enlarged tortuous aorta.",
          {("aortic arch", "tortuous aorta", P)}),
    _case("device-takes-tip-location", "Right-sided dialysis catheter with its tip in the right atrium.",
          {("right atrium", "catheter", P), ("right atrium", "tip", P)}),
    _case("neg-adjective-list", "No large, loculated pleural effusion is seen.", both(EFF, A, (RCP, LCP))),
    _case("pseudo-age-indeterminate", "Age-indeterminate compression deformity of a thoracic vertebral body.",
          {(SPINE, "deformity", P)}),
    _case("dense-nodule-is-a-density", "Dense nodule in the right lower lobe.",
          {(RLZ, "nodule", P), (RLZ, OPAC, P)}),
    _case("dense-consolidation-is-consolidation", "Dense consolidation in the left lower lobe.", {(LLZ, CONS, P)}),
    _case("unc-suspicious-for", "Findings suspicious for a right upper lobe mass.", {(RUZ, "mass", U)}),
    _case("unc-question-of", "Question of a small left apical pneumothorax.", {(LAP, PTX, U)}),
    _case("unc-possibly-retrocardiac", "Retrocardiac opacity, possibly atelectasis.", {(LLZ, OPAC, P), (LLZ, ATEL, U)}),
    _case("unc-concerning-for", "Patchy right lower lobe opacity concerning for pneumonia.",
          {(RLZ, OPAC, P), (RLZ, PNA, U)}),
    _case("unc-borderline-heart", "Heart size is borderline.", {(CS, CMEG, U)}),
    # --- negated hedges
    _case("neghedge-no-definite", "No definite focal consolidation.", both(CONS, A)),
    _case("neghedge-no-convincing", "No convincing evidence of pneumonia.", both(PNA, A)),
    _case("neghedge-to-suggest", "There is no focal opacity to suggest pneumonia.", both(OPAC, A) | both(PNA, A)),
    _case("neghedge-unlikely", "Pneumonia is unlikely.", both(PNA, A)),
    # --- pseudo-negation
    _case("pseudo-no-change", "No change in the small left pleural effusion.", {(LCP, EFF, P)}),
    _case("pseudo-no-interval-change", "No interval change in the calcified right upper lobe granuloma.",
          {(RUZ, "granuloma", P)}),
    _case("pseudo-not-only", "There is not only cardiomegaly but also pulmonary edema.", {(CS, CMEG, P)} | both(EDEMA, P)),
    _case("pseudo-no-significant-change", "No significant change in the moderate cardiomegaly.", {(CS, CMEG, P)}),
    # --- clause scope
    _case("scope-but", "No effusion, but there is atelectasis.", NO_EFF | {(None, ATEL, P)}),
    _case("scope-semicolon", "No pneumothorax; small left pleural effusion.", NO_PTX | {(LCP, EFF, P)}),
    _case("scope-however", "No pleural effusion, however there is mild cardiomegaly.", NO_EFF | {(CS, CMEG, P)}),
    _case("scope-although", "No pneumothorax, although there is a small left effusion.", NO_PTX | {(LCP, EFF, P)}),
    _case("scope-new-clause", "No edema, atelectasis is present at the left base.", both(EDEMA, A) | {(LLZ, ATEL, P)}),
    _case("scope-separate-sentences", "No pneumothorax. Small right pleural effusion.", NO_PTX | {(RCP, EFF, P)}),
    # --- lists under one negation
    _case("list-or", "No pneumothorax, effusion, or consolidation.", NO_PTX | NO_EFF | both(CONS, A)),
    _case("list-lungs-clear-without", "The lungs are clear without consolidation, edema or effusion.",
          both(CONS, A) | both(EDEMA, A) | NO_EFF),
    _case("list-there-is-no", "There is no focal consolidation, pleural effusion or pneumothorax.",
          both(CONS, A) | NO_EFF | NO_PTX),
    _case("list-or-is-seen", "No pleural effusion or pneumothorax is seen.", NO_EFF | NO_PTX),
    _case("list-negative-for", "Negative for edema, effusion, and pneumothorax.", both(EDEMA, A) | NO_EFF | NO_PTX),
    # --- laterality
    _case("lat-left-effusion", "Small left pleural effusion.", {(LCP, EFF, P)}),
    _case("lat-right-ptx", "Small right pneumothorax.", {(RL, PTX, P)}),
    _case("lat-bilateral-effusions", "Small bilateral pleural effusions.", both(EFF, P, (RCP, LCP))),
    _case("lat-bibasilar", "Bibasilar atelectasis.", both(ATEL, P, (RLZ, LLZ))),
    _case("lat-left-gt-right", "Left greater than right pleural effusions.", both(EFF, P, (RCP, LCP))),
    _case("lat-rll", "Right lower lobe consolidation.", {(RLZ, CONS, P)}),
    _case("lat-lingula", "Patchy opacity in the lingula.", {(LMZ, OPAC, P)}),
    _case("lat-retrocardiac", "Retrocardiac opacity.", {(LLZ, OPAC, P)}),
    _case("lat-apices", "Scarring at the apices.", both("scar", P, (RAP, LAP))),
    _case("lat-rml", "Right middle lobe pneumonia.", {(RMZ, PNA, P)}),
    _case("lat-left-basilar", "Left basilar atelectasis.", {(LLZ, ATEL, P)}),
    _case("lat-left-base", "Opacity at the left base.", {(LLZ, OPAC, P)}),
    _case("lat-bases", "Streaky opacities at both bases.", both(OPAC, P, (RLZ, LLZ))),
    _case("lat-biapical", "Biapical pleural thickening.", both("pleural thicken", P, (RAP, LAP))),
    _case("lat-bilateral-perihilar", "Bilateral perihilar opacities.", both(OPAC, P, (RHI, LHI))),
    _case("lat-two-zones", "Opacities in the right middle and lower lobes.", {(RMZ, OPAC, P), (RLZ, OPAC, P)}),
    _case("lat-two-places", "Calcified granulomas in the left upper lobe and right hilum.",
          {(LUZ, "granuloma", P), (RHI, "granuloma", P)}),
    _case("lat-rib-fractures", "Healing left rib fractures.", {(LL, "fracture", P)}),
    _case("lat-hemidiaphragm", "Elevation of the right hemidiaphragm.", {(RHD, "elevated hemidiaphragm", P)}),
    _case("lat-apical-ptx", "Small left apical pneumothorax.", {(LAP, PTX, P)}),
    _case("lat-cp-angle", "Blunting of the left costophrenic angle.", {(LCP, "blunt", P)}),
    _case("lat-hilar-adenopathy", "Right hilar adenopathy.", {(RHI, "lymphadenopathy", P)}),
    _case("lat-bilateral-lower-lobes", "Bilateral lower lobe opacities.", both(OPAC, P, (RLZ, LLZ))),
    _case("lat-effusion-on-the-right", "Small pleural effusion on the right.", {(RCP, EFF, P)}),
    _case("lat-left-chest-wall-pacer", "Left chest wall pacemaker.", {(LL, "pacemaker", P)}),
    _case("lat-left-chest-tube", "Left chest tube in place.", {(LL, "tube", P)}),
    # --- default regions
    _case("def-cardiomegaly", "Cardiomegaly.", {(CS, CMEG, P)}),
    _case("def-moderate-cardiomegaly", "Moderate cardiomegaly is present.", {(CS, CMEG, P)}),
    _case("def-no-effusion", "No effusion.", NO_EFF),
    _case("def-no-edema", "No pulmonary edema.", both(EDEMA, A)),
    # GUIDELINES 4.6: the vascular words of a congestion form are its name, not a place (present, no location)
    # GUIDELINES 4.7: the lungs as subject do not locate a negated finding; "in the lungs" is a place and does
    _case("place-in-the-lungs", "No focal infiltrates or masses in the lungs.",
          both("infiltration", A) | both("mass", A)),
    _case("subject-lungs-negated", "The lungs are clear without masses.", {(None, "mass", A)}),
    # a coordinated modifier sharing the next mention's head names its own finding
    _case("elliptical-pleural-or-pericardial", "No pleural or pericardial effusion is evident.",
          NO_EFF | {(CS, "pericardial effusion", A)}),
    # an unsided zone word takes the side said for its finding
    _case("zone-takes-finding-side", "Small left pneumothorax, best seen at the apex.", {("left apical zone", PTX, P)}),
    # GUIDELINES 4.9: a device's tip lies where the device does, its side included
    _case("tip-shares-device-side", "Right chest tube tip is unchanged.", {(RL, "tube", P), (RL, "tip", P)}),
    # vocabulary: irregular plurals, abbreviations, bowel segments; "lung" inside "lung carcinoma" is its name
    _case("plural-hemithoraces", "Increased opacification of both lower hemithoraces.",
          {(RLZ, OPAC, P), (LLZ, OPAC, P)}),
    _case("abbrev-ogt", "ogt in stomach.", {("abdomen", "tube", P)}),
    _case("abdomen-duodenum", "Feeding tube with tip in the proximal duodenum.",
          {("abdomen", "tube", P), ("abdomen", "tip", P)}),
    _case("name-lung-carcinoma", "Right upper lobe mass, highly suspicious for primary lung carcinoma.",
          {(RUZ, "mass", P), (RUZ, "malignancy", U)}),
    # GUIDELINES 4.2/4.5/4.10: "pulmonary" alone is an unsided lung word; in a listed form it places a lung-wide
    # finding in both lungs; the main pulmonary artery lies outside the atlas
    _case("pulmonary-locates", "Progression of pulmonary metastatic disease.", both("mass", P)),
    _case("pulmonary-in-form", "Mild pulmonary edema.", both(EDEMA, P)),
    _case("pulmonary-artery-outside", "Swan-Ganz catheter tip in the main pulmonary artery.",
          {(None, "line", P), (None, "tip", P)}),
    _case("tip-takes-device-side", "Left chest tube with tip at the apex.",
          {("left apical zone", "tube", P), ("left apical zone", "tip", P)}),
    _case("device-at-its-tip", "A left-sided pigtail catheter has been placed, with its tip over the left apex.",
          {("left apical zone", "drainage", P), ("left apical zone", "tip", P)}),
    # measurements between a device and its landmark add no distance (GUIDELINES 4.9)
    _case("measure-landmark", "Endotracheal tube is in standard position, approximately 5 cm from the carina.",
          {(CARINA, "tube", P)}),
    # GUIDELINES 4.8: an interpretation lies where its host does
    _case("interpretation-inherits", "Opacification of both lower hemithoraces, which likely reflects layering "
          "pleural effusions.", {(RLZ, OPAC, P), (LLZ, OPAC, P), (RLZ, EFF, P), (LLZ, EFF, P)}),
    # a host placed by its side word alone gives only that side ("X or Y" alternatives, GUIDELINES 4.8)
    _case("side-only-host", "Small right pleural effusion or pleural thickening.",
          {(RCP, EFF, P), (RL, "pleural thicken", P)}),
    # a comparison closing a list item describes that item, not the next finding
    _case("trailing-comparison", "Bibasilar opacities, l>r, likely atelectasis.",
          {(RLZ, OPAC, P), (LLZ, OPAC, P), (RLZ, ATEL, P), (LLZ, ATEL, P)}),
    _case("premodifying-comparison", "Left greater than right effusions.", {(RCP, EFF, P), (LCP, EFF, P)}),
    # "X of <anatomy naming a finding>": X is that finding's change and lies there too
    _case("of-named-anatomy", "Postoperative changes of right upper lobectomy.", both("sternotomy", P, (RUZ,))),
    # a restatement takes the place the report gave the finding, also where a rule gave it (GUIDELINES 4.5)
    _case("restated-after-inheritance", "FINDINGS: Left lower lobe opacity with minimal residual atelectasis.\n"
          "IMPRESSION: Improving opacity; minimal residual atelectasis.", {(LLZ, OPAC, P), (LLZ, ATEL, P)}),
    # coordinated subjects of one normal statement: each keeps its own place
    _case("coordinated-subjects", "Heart size and pulmonary vascular engorgement appear within limits of normal.",
          {(CS, CMEG, A), (RHI, "engorgement", A), (LHI, "engorgement", A)}),
    _case("bihilar-prominence", "There is bihilar prominence.", both("lymphadenopathy", P, (RHI, LHI))),
    _case("measure-belongs-before", "Bilateral pulmonary nodules, the largest in the right lower lobe measuring 1.5 cm.",
          both("nodule", P, (RL, LL, RLZ))),
    # circulatory support devices
    _case("device-iabp", "Intra-aortic balloon pump tip at the aortic arch.", {(AO, "device", P), (AO, "tip", P)}),
    _case("device-ecmo", "ECMO cannula in the SVC.", {(SVC, "catheter", P)}),
    # abdominal organ adjectives name the abdomen
    _case("abdomen-hepatic", "This may represent a calcified hepatic cyst.",
          {("abdomen", "calcification", U), ("abdomen", "cyst", U)}),
    _case("abdomen-intraperitoneal", "No free intraperitoneal air.", {("abdomen", "pneumoperitoneum", A)}),
    _case("hedge-presumably", "Stable lingular nodule, presumably granuloma.",
          {("left mid lung zone", "nodule", P), ("left mid lung zone", "granuloma", U)}),
    _case("name-pulmonary-vasculature", "Mild prominence of the pulmonary vasculature.", {(None, "congestion", P)}),
    _case("name-pulmonary-vascularity", "Increased pulmonary vascularity. No effusion.",
          {(None, "congestion", P)} | NO_EFF),
    _case("def-hiatal-hernia", "Small hiatal hernia.", {(MED, "hernia", P)}),
    _case("def-degenerative", "Mild degenerative changes.", {(SPINE, "degenerative change", P)}),
    _case("def-scoliosis", "Mild scoliosis.", {(SPINE, "scoliosis", P)}),
    _case("def-tortuous-aorta", "Tortuous aorta.", {(AO, "tortuous aorta", P)}),
    _case("def-null-device", "Median sternotomy wires are intact.", {(None, "wire", P)}),
    _case("def-null-mass", "No mass.", {(None, "mass", A)}),
    _case("upper-limits-of-normal", "Heart and mediastinum are at the upper limits of normal size.", {(CS, CMEG, A)}),
    _case("def-no-chf", "Cardiomegaly without radiographic evidence of heart failure.",
          {(CS, CMEG, P)} | both("heart failure", A)),
    # --- GUIDELINES rule 5: present/uncertain unlocated bilateral-default findings get region None
    _case("rule5-opacity", "Patchy opacity.", {(None, OPAC, P)}),
    _case("rule5-edema", "Mild edema.", {(None, EDEMA, P)}),
    _case("rule5-atelectasis", "Atelectasis.", {(None, ATEL, P)}),
    _case("rule5-effusion", "Small pleural effusion.", {(None, EFF, P)}),
    _case("rule5-congestion", "Mild pulmonary vascular congestion.", {(None, "congestion", P)}),
    _case("rule5-uncertain", "Possible pneumonia.", {(None, PNA, U)}),
    # --- whole-organ normal statements
    _case("normal-heart-size", "Heart size is normal.", {(CS, CMEG, A)}),
    _case("normal-heart-in-size", "The heart is normal in size.", {(CS, CMEG, A)}),
    _case("normal-heart-size-first", "Normal heart size.", {(CS, CMEG, A)}),
    _case("normal-wnl", "Heart size within normal limits.", {(CS, CMEG, A)}),
    _case("normal-cardiomediastinal", "Cardiomediastinal silhouette is normal.", {(CS, CMEG, A), (MED, ECM, A)}),
    _case("normal-heart-and-mediastinum", "Heart and mediastinum are normal.", {(CS, CMEG, A), (MED, ECM, A)}),
    _case("normal-mediastinal-contours", "Mediastinal contours are unremarkable.", {(MED, ECM, A)}),
    _case("state-heart-enlarged", "The heart is enlarged.", {(CS, CMEG, P)}),
    _case("state-mediastinum-widened", "The mediastinum is widened.", {(MED, ECM, P)}),
    _case("state-low-volumes", "Low lung volumes.", both("hypoinflation", P)),
    _case("state-hyperinflated", "The lungs are hyperinflated.", both("hyperinflate", P)),
    _case("normal-heart-short", "Normal heart.", {(CS, CMEG, A)}),
    _case("normal-upper-normal", "Heart size upper normal.", {(CS, CMEG, A)}),
    _case("normal-heart-ok", "Heart ok.", {(CS, CMEG, A)}),
    _case("normal-mediastinum-width", "Mediastinum is normal in width.", {(MED, ECM, A)}),
    _case("normal-heart-size-and-mediastinal", "Heart size and mediastinal contours are normal.",
          {(CS, CMEG, A), (MED, ECM, A)}),
    _case("unc-borderline-first", "Borderline heart size.", {(CS, CMEG, U)}),
    _case("nomention-heart-stable", "Heart size is stable.", set()),
    _case("nomention-lungs-clear", "The lungs are clear.", set()),
    _case("nomention-cardiopulmonary", "No acute cardiopulmonary process.", set()),
    _case("nomention-bones", "The osseous structures are intact.", set()),
    # --- history / comparison / differentials
    _case("hist-stable-scar", "Stable left lower lobe scarring.", {(LLZ, "scar", P)}),
    _case("hist-known-mass", "Known left hilar mass.", {(LHI, "mass", P)}),
    _case("hist-persistent", "Persistent right middle lobe opacity.", {(RMZ, OPAC, P)}),
    _case("diff-or", "Left basilar atelectasis or scar.", {(LLZ, ATEL, P), (LLZ, "scar", P)}),
    _case("diff-hedged", "Possibly atelectasis or scar at the left base.", {(LLZ, ATEL, U), (LLZ, "scar", U)}),
    _case("rule8-guideline-example", "Left retrocardiac opacity, likely atelectasis.", {(LLZ, OPAC, P), (LLZ, ATEL, P)}),
    _case("rule8-accompanying", "Left lower lobe pneumonia with parapneumonic effusion.", {(LLZ, PNA, P), (LCP, EFF, P)}),
    _case("rule8-host-keeps-defaults", "Pulmonary edema with bilateral perihilar haziness.",
          both(EDEMA, P) | {(RHI, OPAC, P), (LHI, OPAC, P)}),
    _case("interp-observed-descriptor", "Right hilar prominence suspicious for adenopathy.",
          {(RHI, "lymphadenopathy", P), (RHI, "lymphadenopathy", U)}),
    _case("hist-status-post", "Status post median sternotomy.", {(None, "sternotomy", P)}),
    _case("diff-improving", "Improving right lower lobe pneumonia.", {(RLZ, PNA, P)}),
    # --- devices
    _case("dev-ett-carina", "Endotracheal tube tip 4 cm above the carina.", {(CARINA, "tube", P), (CARINA, "tip", P)}),
    _case("dev-picc-svc", "Right PICC with tip in the SVC.", {(SVC, "line", P), (SVC, "tip", P)}),
    _case("dev-ng-stomach", "Nasogastric tube terminates in the stomach.", {("abdomen", "tube", P)}),
    _case("dev-tubes-removed", "Endotracheal and nasogastric tubes have been removed.", {(None, "tube", A)}),
    _case("dev-tip-clavicles", "ETT tip at the level of the clavicles.",
          {("trachea", "tube", P), ("trachea", "tip", P)}),
    _case("dev-tip-out-of-view", "Feeding tube passes below the diaphragm with the tip out of view.",
          {(RHD, "tube", P), (LHD, "tube", P), (None, "tip", P)}),
    # --- sections
    _case("sec-indication-ignored", "INDICATION: Rule out pneumonia.\nFINDINGS: No focal consolidation.",
          both(CONS, A)),
    _case("sec-history-ignored", "HISTORY: Prior pneumothorax.\nIMPRESSION: No pneumothorax.", NO_PTX),
    _case("sec-comparison-ignored", "COMPARISON: Chest x-ray with left pleural effusion.\nFINDINGS: Stable cardiomegaly.",
          {(CS, CMEG, P)}),
    _case("sec-technique-ignored", "TECHNIQUE: PA and lateral views.\nIMPRESSION: Mild cardiomegaly.", {(CS, CMEG, P)}),
    _case("sec-headerless", "Small left pleural effusion. No pneumothorax.", {(LCP, EFF, P)} | NO_PTX),
    _case("sec-findings-and-impression",
          "FINDINGS: Right lower lobe consolidation.\nIMPRESSION: Right lower lobe pneumonia.",
          {(RLZ, CONS, P), (RLZ, PNA, P)}),
    # --- numbered lists
    _case("num-inline", "IMPRESSION: 1. Small left pleural effusion. 2. No pneumothorax.", {(LCP, EFF, P)} | NO_PTX),
    _case("num-lines", "IMPRESSION:\n1. Right lower lobe pneumonia.\n2. Stable cardiomegaly.",
          {(RLZ, PNA, P), (CS, CMEG, P)}),
    _case("num-glued", "IMPRESSION: 1.No acute cardiopulmonary process. 2.Mild degenerative changes of the thoracic spine.",
          {(SPINE, "degenerative change", P)}),
    # --- de-identification tokens
    _case("xxxx-wires", "XXXX sternotomy wires are intact.", {(None, "wire", P)}),
    _case("xxxx-opacity", "Stable XXXX opacity in the right upper lobe.", {(RUZ, OPAC, P)}),
    _case("xxxx-negated", "No XXXX pneumothorax.", NO_PTX),
    _case("xxxx-tip", "The XXXX tip is in the SVC.", {(SVC, "tip", P), (SVC, "device", P)}),
    _case("xxxx-report", "FINDINGS: XXXX XXXX are normal. Heart size is normal. No effusion.",
          {(CS, CMEG, A)} | NO_EFF),
    # --- tokenization inside reports
    _case("tok-xray", "Chest x-ray shows no pneumothorax.", NO_PTX),
    _case("tok-vertebral-levels", "Mild compression deformity of the T6-T7 vertebral bodies.", {(SPINE, "deformity", P)}),
    _case("tok-vertebral-level", "Mild wedge deformity at T6-T7.", {(SPINE, "deformity", P)}),
    _case("tok-decimal", "A 1.2 cm nodule in the right upper lobe.", {(RUZ, "nodule", P)}),
    _case("tok-glued-apex", "Calcified granuloma in the right apex.There is no pneumothorax.",
          {(RAP, "granuloma", P)} | NO_PTX),
    _case("tok-glued-no", "Small left effusion.No pneumothorax.", {(LCP, EFF, P)} | NO_PTX),
]


def test_table_is_large_enough():
    assert len(CASES) >= 90
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("text, expected", CASES)
def test_triplets(nlp, text: str, expected: set[tuple]):
    report = asg_parse.parse(text, nlp=nlp)
    assert triples(report) == expected


# ------------------------------------------------------------------------------------------------ cues
CUES = [
    pytest.param("No pleural effusion.", EFF, "No", id="no"),
    pytest.param("The lungs are clear without focal consolidation.", CONS, "without", id="without"),
    pytest.param("The lungs are free of consolidation.", CONS, "free of", id="free-of"),
    pytest.param("Negative for pneumothorax.", PTX, "Negative for", id="negative-for"),
    pytest.param("There is no evidence of pneumonia.", PNA, "no evidence of", id="no-evidence-of"),
    pytest.param("The costophrenic angles are clear of effusion.", EFF, "clear of", id="clear-of"),
    pytest.param("The right pleural effusion has resolved.", EFF, "has resolved", id="has-resolved"),
    pytest.param("A pneumothorax is not seen.", PTX, "not seen", id="not-seen"),
    pytest.param("Focal consolidation is not identified.", CONS, "not identified", id="not-identified"),
    pytest.param("Interval removal of the right chest tube.", "tube", "removal of", id="removal-of"),
    pytest.param("Clearing of left base airspace disease.", "opacity", "Clearing of", id="clearing-of"),
    pytest.param("The heart is not enlarged.", CMEG, "not", id="not-enlarged"),
    pytest.param("Possible small right pleural effusion.", EFF, "Possible", id="possible"),
    pytest.param("There may be mild interstitial edema.", EDEMA, "may", id="may"),
    pytest.param("Right lower lobe pneumonia cannot be excluded.", PNA, "cannot be excluded", id="cannot-be-excluded"),
    pytest.param("Findings are suggestive of pneumonia.", PNA, "suggestive of", id="suggestive-of"),
    pytest.param("Right lower lobe opacity, likely atelectasis.", ATEL, None, id="likely-leaning"),
    pytest.param("Heart size is normal.", CMEG, "normal", id="normal"),
    pytest.param("Heart size within normal limits.", CMEG, "within normal limits", id="within-normal-limits"),
    pytest.param("Normal heart size.", CMEG, "Normal", id="normal-first"),
    pytest.param("Heart size is borderline.", CMEG, "borderline", id="borderline"),
    # present mentions (pseudo-negated, historical, affirmed) carry no cue
    pytest.param("No change in the small left pleural effusion.", EFF, None, id="pseudo-no-change"),
    pytest.param("No interval change in the right upper lobe nodule.", "nodule", None, id="pseudo-no-interval-change"),
    pytest.param("Right lower lobe opacity, likely atelectasis.", OPAC, None, id="observation-of-hedge"),
    pytest.param("Stable cardiomegaly.", CMEG, None, id="stable"),
]


@pytest.mark.parametrize("text, finding, cue", CUES)
def test_cue(nlp, text: str, finding: str, cue: Optional[str]):
    report = asg_parse.parse(text, nlp=nlp)
    cues = {t.cue for t in report.triplets if t.finding == finding}
    assert cues == {cue}


def test_versus_cue_on_both_alternatives(nlp):
    report = asg_parse.parse("Left basilar atelectasis versus consolidation.", nlp=nlp)
    assert {(t.finding, t.cue) for t in report.triplets} == {(ATEL, "versus"), (CONS, "versus")}


def test_likely_is_a_leaning_not_a_hedge_as_existence_yaml_decides(nlp):
    from asg_parse.pipeline.resources import get_ontology

    onto = get_ontology()
    cues = {c.text: c for c in onto.cues}
    assert cues["likely"].trigger_class == cues["most likely"].trigger_class == "leaning"
    assert onto.convention(None).classes["leaning"] == P and cues["less likely"].kind == "uncertainty"
    report = asg_parse.parse("Findings most likely represent atelectasis.", nlp=nlp)
    assert {(t.existence, t.cue) for t in report.triplets if t.finding == ATEL} == {(P, None)}


# ------------------------------------------------------------------------------------------------ spans
@pytest.mark.parametrize("text, finding, span", [
    pytest.param("Small left pleural effusion.", EFF, "pleural effusion", id="size-side-dropped"),
    pytest.param("Left lower lobe consolidation.", CONS, "consolidation", id="location-dropped"),
    pytest.param("Calcified granuloma in the right apex.", "granuloma", "Calcified granuloma", id="longest-form"),
    pytest.param("Heart size is normal.", CMEG, "Heart size is normal", id="normal-statement"),
    pytest.param("The heart is enlarged.", CMEG, "enlarged", id="state-word"),
    pytest.param("The heart is not enlarged.", CMEG, "enlarged", id="negated-state-word"),
])
def test_mention_span(nlp, text: str, finding: str, span: str):
    report = asg_parse.parse(text, nlp=nlp)
    spans = {t.text for t in report.triplets if t.finding == finding}
    assert spans == {span}
    for t in report.triplets:
        assert text[t.start:t.end] == t.text


def test_coordinated_ellipsis_gives_two_mentions(nlp):
    report = asg_parse.parse("Endotracheal and nasogastric tubes have been removed.", nlp=nlp)
    assert {(t.text, t.finding, t.existence) for t in report.triplets} == {
        ("Endotracheal", "tube", A), ("nasogastric tubes", "tube", A)}


def test_calcified_granuloma_is_one_mention(nlp):
    report = asg_parse.parse("Calcified granuloma in the right apex.", nlp=nlp)
    assert {t.finding for t in report.triplets} == {"granuloma"}


# ------------------------------------------------------------------------------------------------ sentences
def test_worked_example_from_guidelines(nlp):
    text = ("INDICATION: Cough.\n"
            "FINDINGS: The lungs are clear. No effusion. Heart size is normal.\n"
            "IMPRESSION: 1. Possible small left pleural effusion.")
    r = asg_parse.parse(text, nlp=nlp)
    got = {(t.region, t.finding, t.existence, t.sentence, t.text, t.cue) for t in r.triplets}
    assert got == {(RCP, EFF, A, 2, "effusion", "No"), (LCP, EFF, A, 2, "effusion", "No"),
                   (CS, CMEG, A, 3, "Heart size is normal", "normal"),
                   (LCP, EFF, U, 4, "pleural effusion", "Possible")}
    assert r.tags == {EFF: -1, CMEG: 0}
    assert r.region_sentences == {RL: [1], LL: [1], RCP: [2], LCP: [2, 4], CS: [3]}
    for s in r.sentences:
        assert text[s.start:s.end] == s.text
    assert [(s.text, s.section) for s in r.sentences] == [
        ("Cough.", "indication"), ("The lungs are clear.", "findings"), ("No effusion.", "findings"),
        ("Heart size is normal.", "findings"), ("Possible small left pleural effusion.", "impression")]


def test_numbered_items_are_sentences_without_enumerators(nlp):
    r = asg_parse.parse("IMPRESSION: 1. Small effusion. 2. No pneumothorax.", nlp=nlp)
    assert [s.text for s in r.sentences] == ["Small effusion.", "No pneumothorax."]
    assert {t.sentence for t in r.triplets if t.finding == PTX} == {1}


def test_numbered_items_on_lines(nlp):
    r = asg_parse.parse("IMPRESSION:\n1. Right lower lobe pneumonia.\n2. Stable cardiomegaly.", nlp=nlp)
    assert [s.text for s in r.sentences] == ["Right lower lobe pneumonia.", "Stable cardiomegaly."]
    assert all(s.section == "impression" for s in r.sentences)


def test_headerless_text_is_findings(nlp):
    r = asg_parse.parse("Small left pleural effusion. No pneumothorax.", nlp=nlp)
    assert [s.section for s in r.sentences] == ["findings", "findings"]


def test_indication_sentences_listed_but_not_annotated(nlp):
    r = asg_parse.parse("INDICATION: Left chest pain, rule out pneumonia.\nFINDINGS: The lungs are clear.", nlp=nlp)
    assert [s.section for s in r.sentences] == ["indication", "findings"]
    assert r.triplets == []
    assert r.tags == {}
    assert r.region_sentences == {RL: [1], LL: [1]}


def test_glued_period_splits_sentences(nlp):
    r = asg_parse.parse("Calcified granuloma in the right apex.There is no pneumothorax.", nlp=nlp)
    assert [s.text for s in r.sentences] == ["Calcified granuloma in the right apex.", "There is no pneumothorax."]


def test_decimal_does_not_split(nlp):
    r = asg_parse.parse("A 1.2 cm nodule in the right upper lobe. No effusion.", nlp=nlp)
    assert [s.text for s in r.sentences] == ["A 1.2 cm nodule in the right upper lobe.", "No effusion."]


# ------------------------------------------------------------------------------------------------ region_sentences
REGION_SENTENCES = [
    pytest.param("The lungs are clear.", {RL: [0], LL: [0]}, id="lungs-clear"),
    pytest.param("No acute cardiopulmonary process.", {RL: [0], LL: [0], CS: [0]}, id="cardiopulmonary"),
    pytest.param("The left lung is clear.", {LL: [0]}, id="left-lung-direct"),
    pytest.param("Cardiomegaly.", {CS: [0]}, id="finding-default"),
    pytest.param("No effusion.", {RCP: [0], LCP: [0]}, id="absent-default"),
    pytest.param("The cardiomediastinal silhouette is stable.", {CS: [0], MED: [0]}, id="cardiomediastinal"),
    pytest.param("The osseous structures are intact.", {SPINE: [0], RCL: [0], LCL: [0]}, id="osseous"),
    pytest.param("The costophrenic angles are sharp.", {RCP: [0], LCP: [0]}, id="cp-angles"),
    pytest.param("The lungs are clear. Small left pleural effusion.", {RL: [0], LL: [0], LCP: [1]}, id="two-sentences"),
    pytest.param("Bibasilar atelectasis.", {RLZ: [0], LLZ: [0]}, id="bibasilar"),
    pytest.param("Patchy opacity.", {}, id="unlocated-present-has-no-region"),
]


@pytest.mark.parametrize("text, expected", REGION_SENTENCES)
def test_region_sentences(nlp, text: str, expected: dict[str, list[int]]):
    assert asg_parse.parse(text, nlp=nlp).region_sentences == expected


def test_region_sentences_keys_follow_region_order(nlp):
    from asg_parse.pipeline.resources import get_ontology

    order = get_ontology().region_order
    r = asg_parse.parse("No acute cardiopulmonary process. Degenerative changes of the spine. No effusion.", nlp=nlp)
    keys = list(r.region_sentences)
    assert keys == sorted(keys, key=order.index)


# ------------------------------------------------------------------------------------------------ tags
TAGS = [
    pytest.param("Small left pleural effusion. No pneumothorax. Possible right lower lobe pneumonia.",
                 {EFF: 1, PTX: 0, PNA: -1}, id="one-each"),
    pytest.param("No left pleural effusion. Small right pleural effusion.", {EFF: 1}, id="present-beats-absent"),
    pytest.param("Possible right lower lobe pneumonia. No left lower lobe pneumonia.", {PNA: -1},
                 id="uncertain-beats-absent"),
    pytest.param("Possible left lower lobe pneumonia. Right lower lobe pneumonia.", {PNA: 1},
                 id="present-beats-uncertain"),
    pytest.param("Calcified granuloma in the right apex.", {}, id="non-asg-finding-untagged"),
    pytest.param("Mild scoliosis. No pneumothorax.", {PTX: 0}, id="extra-findings-left-out"),
    pytest.param("The lungs are clear.", {}, id="no-mentions"),
]


@pytest.mark.parametrize("text, expected", TAGS)
def test_tags(nlp, text: str, expected: dict[str, int]):
    assert asg_parse.parse(text, nlp=nlp).tags == expected


def test_tags_follow_asg_order(nlp):
    from asg_parse.pipeline.resources import get_ontology

    order = get_ontology().asg_tags
    r = asg_parse.parse("Cardiomegaly. No pneumothorax. Small left pleural effusion. Bibasilar atelectasis.", nlp=nlp)
    assert list(r.tags) == [t for t in order if t in r.tags]
    assert r.tags == {EFF: 1, PTX: 0, ATEL: 1, CMEG: 1}


def test_impossible_link_falls_back_to_defaults_with_a_warning(nlp):
    report = asg_parse.parse("Left hemidiaphragm pneumothorax is absent. Cardiac pneumothorax.", nlp=nlp)
    regions = {t.region for t in report.triplets if t.finding == PTX}
    assert CS not in regions and LHD not in regions
    assert any("cannot locate 'pneumothorax'" in w and "not an allowed region" in w for w in report.warnings)
    absent = {t.region for t in report.triplets if t.finding == PTX and t.existence == A}
    assert absent == {RL, LL}  # an absent mention keeps both default lungs
