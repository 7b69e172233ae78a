"""Metric arithmetic of asg_parse.evaluation.scoring on tiny hand-made reports, each number checkable by hand."""
import pytest

from asg_parse.evaluation import scoring as ev

TEXT = "No pleural effusion. Mild cardiomegaly. Left basilar atelectasis."
TAGS = ["pleural effusion", "cardiomegaly", "atelectasis", "fracture"] + [f"tag{i}" for i in range(36)]  # 40 tags


def span(phrase: str) -> tuple[int, int]:
    s = TEXT.index(phrase)
    return s, s + len(phrase)


def trip(region, finding, existence, phrase, sentence):
    s, e = span(phrase)
    return {"region": region, "finding": finding, "existence": existence, "sentence": sentence, "start": s,
            "end": e, "text": phrase, "cue": None}


def sents(*phrases):
    return [{"text": p, "start": span(p)[0], "end": span(p)[1], "section": "findings"} for p in phrases]


GOLD = {
    "id": "r1", "text": TEXT,
    "sentences": sents("No pleural effusion.", "Mild cardiomegaly.", "Left basilar atelectasis."),
    "triplets": [
        trip("right costophrenic angle", "pleural effusion", "absent", "pleural effusion", 0),
        trip("left costophrenic angle", "pleural effusion", "absent", "pleural effusion", 0),
        trip("cardiac silhouette", "cardiomegaly", "present", "cardiomegaly", 1),
        trip("left lower lung zone", "atelectasis", "present", "atelectasis", 2),
    ],
    "region_sentences": {"right costophrenic angle": [0], "left costophrenic angle": [0],
                         "cardiac silhouette": [1], "left lower lung zone": [2]},
    "tags": {"pleural effusion": 0, "cardiomegaly": 1, "atelectasis": 1},
}
PRED = {
    "id": "r1",
    # segmentation differs: the first two sentences are merged
    "sentences": sents("No pleural effusion. Mild cardiomegaly.", "Left basilar atelectasis."),
    "triplets": [
        trip("right costophrenic angle", "pleural effusion", "absent", "pleural effusion", 0),
        trip("left costophrenic angle", "pleural effusion", "absent", "pleural effusion", 0),
        trip("cardiac silhouette", "cardiomegaly", "uncertain", "cardiomegaly", 0),  # wrong existence
        trip("left lung", "atelectasis", "present", "basilar atelectasis", 1),  # wrong region; longer span overlaps
        trip(None, "fracture", "present", "Mild", 0),  # spurious mention
    ],
    "region_sentences": {"right costophrenic angle": [0], "cardiac silhouette": [0], "left lung": [1]},
    "tags": {"pleural effusion": 0, "cardiomegaly": -1, "atelectasis": 1, "fracture": 1},
}


@pytest.fixture()
def result():
    return ev.evaluate_records({"r1": GOLD}, {"r1": PRED}, asg_tags=TAGS)


def test_overlap_is_strict_on_touching_spans():
    assert ev.overlaps((0, 5), (4, 9))
    assert not ev.overlaps((0, 5), (5, 9))


def test_matching_is_one_to_one_and_maximum():
    # greedy by largest overlap would give gold 0 -> pred 0 and leave gold 1 unmatched
    gold = [("a", (0, 10)), ("a", (0, 3))]
    pred = [("a", (0, 6)), ("a", (8, 10))]
    assert ev.match_spans(gold, pred) == [(0, 1), (1, 0)]
    # one pred cannot serve two gold items; keys must be equal
    assert ev.match_spans([("a", (0, 5)), ("a", (6, 10))], [("a", (3, 8))]) == [(0, 0)]
    assert ev.match_spans([("a", (0, 5))], [("b", (0, 5))]) == []


def test_mentions_merge_triplets_of_one_span():
    assert len(ev.mentions(GOLD)) == 3


def test_mention_level(result):
    m = result.mention.as_dict()
    assert (m["tp"], m["fp"], m["fn"]) == (3, 1, 0)
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == 1.0 and m["f1"] == pytest.approx(6 / 7)
    me = result.mention_existence.as_dict()
    assert (me["tp"], me["fp"], me["fn"]) == (2, 2, 1)
    assert me["f1"] == pytest.approx(4 / 7)


def test_triplet_level(result):
    t = result.triplet.as_dict()
    assert (t["tp"], t["fp"], t["fn"]) == (2, 3, 2)
    assert t["precision"] == pytest.approx(0.4) and t["recall"] == pytest.approx(0.5)
    assert t["f1"] == pytest.approx(4 / 9)


def test_existence_confusion(result):
    c = result.confusion
    assert c["absent"]["absent"] == 1 and c["present"]["present"] == 1 and c["present"]["uncertain"] == 1
    assert sum(sum(row.values()) for row in c.values()) == 3  # matched mentions only
    assert result.existence_accuracy == pytest.approx(2 / 3)


def test_region_map_aligns_sentences_by_overlap(result):
    total = result.region_map_total.as_dict()
    # gold pairs: rca s0 (hit), lca s0 (miss), cardiac s1 (hit via merged pred sentence), llz s2 (miss)
    # pred pairs: rca p0 (ok), cardiac p0 (ok), left lung p1 (wrong)
    assert (total["tp"], total["fn"], total["fp"], total["pred_tp"]) == (2, 2, 1, 2)
    assert total["recall"] == pytest.approx(0.5) and total["precision"] == pytest.approx(2 / 3)
    assert total["f1"] == pytest.approx(4 / 7)
    assert result.region_map["left lung"].as_dict()["precision"] == 0.0
    assert result.region_map["cardiac silhouette"].as_dict()["f1"] == 1.0


def test_region_map_one_pred_sentence_covering_two_gold_sentences():
    gold = {"id": "x", "sentences": sents("No pleural effusion.", "Mild cardiomegaly."),
            "region_sentences": {"cardiac silhouette": [0, 1]}}
    pred = {"id": "x", "sentences": sents("No pleural effusion. Mild cardiomegaly."),
            "region_sentences": {"cardiac silhouette": [0]}}
    counts, wrong, missed = ev.region_map_items(gold, pred)
    d = counts["cardiac silhouette"].as_dict()
    assert (d["recall"], d["precision"]) == (1.0, 1.0) and not wrong and not missed


def test_tag_vector_accuracy(result):
    tags = result.tags
    assert (tags["equal"], tags["total"]) == (38, 40)  # cardiomegaly 1 vs -1, fracture unmentioned vs 1
    assert tags["accuracy"] == pytest.approx(0.95)
    assert tags["mentioned_total"] == 4 and tags["accuracy_mentioned"] == pytest.approx(0.5)


def test_per_finding(result):
    pf = result.per_finding
    assert pf["pleural effusion"]["triplet"].as_dict()["f1"] == 1.0
    assert pf["cardiomegaly"]["mention"].as_dict()["f1"] == 1.0
    assert pf["cardiomegaly"]["mention_existence"].as_dict()["f1"] == 0.0
    assert pf["fracture"]["mention"].as_dict()["fp"] == 1


def test_worst_report_diff(result):
    diff = result.diffs[0]
    assert diff.n_errors == 3 + 2 + 1 + 1 + 2
    assert {t["finding"] for t in diff.triplet_fn} == {"cardiomegaly", "atelectasis"}


def test_ids_on_one_side_are_listed_not_scored():
    res = ev.evaluate_records({"r1": GOLD, "r2": GOLD}, {"r1": PRED, "r3": PRED}, asg_tags=TAGS)
    assert res.n_reports == 1 and res.missing_in_pred == ["r2"] and res.missing_in_gold == ["r3"]


def test_derive_tags():
    trips = [{"finding": "atelectasis", "existence": "absent"}, {"finding": "atelectasis", "existence": "uncertain"},
             {"finding": "cardiomegaly", "existence": "absent"}, {"finding": "pleural effusion", "existence": "present"},
             {"finding": "pleural effusion", "existence": "absent"}, {"finding": "copd", "existence": "present"}]
    assert ev.derive_tags(trips, TAGS) == {"pleural effusion": 1, "cardiomegaly": 0, "atelectasis": -1}


def test_a_gold_mention_matches_only_one_of_two_overlapping_predictions():
    pred = dict(PRED, triplets=[trip("right costophrenic angle", "pleural effusion", "absent", "pleural effusion", 0),
                                trip("right costophrenic angle", "pleural effusion", "absent", "effusion", 0)])
    res = ev.evaluate_records({"r1": GOLD}, {"r1": pred}, asg_tags=TAGS)
    assert res.mention.as_dict()["tp"] == 1 and res.mention.as_dict()["fp"] == 1
