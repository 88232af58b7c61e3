"""NER / RE / RE+ scoring, micro and macro, nested and discontinuous entities, and the `evaluate` module."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_jointie.metrics import compute_joint_ie_metrics

GOLD = {
    "entities": [
        {"start": 0, "end": 2, "type": "Peop"},
        {"start": 4, "end": 5, "type": "Loc"},
        {"start": 4, "end": 6, "type": "Loc"},  # nested with the previous one
        {"start": 7, "end": 10, "type": "ADR", "fragments": [[7, 8], [9, 10]]},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "Live_In"}, {"head": 0, "tail": 2, "type": "Work_For"}],
}


def test_perfect_prediction_scores_100_everywhere():
    scores = compute_joint_ie_metrics([GOLD], [GOLD])
    assert all(value == 100.0 for value in scores.values())


def test_counts_by_hand():
    prediction = {
        "entities": [
            {"start": 0, "end": 2, "type": "Org", "score": 0.9},  # wrong type: NER miss, RE hit, RE+ miss
            {"start": 4, "end": 5, "type": "Loc"},
            {"start": 7, "end": 10, "type": "ADR"},  # continuous, gold is discontinuous: miss
        ],
        "relations": [{"head": 0, "tail": 1, "type": "Live_In"}, {"head": 1, "tail": 0, "type": "Live_In"}],
    }
    scores = compute_joint_ie_metrics([prediction], [GOLD])
    assert scores["ner_precision"] == pytest.approx(100 / 3) and scores["ner_recall"] == 25.0
    assert scores["re_precision"] == 50.0 and scores["re_recall"] == 50.0 and scores["re_f1"] == 50.0
    assert scores["re_strict_f1"] == 0.0
    # macro over the types seen: Peop 0, Loc (p=1, r=.5 -> 66.7), ADR 0, Org 0
    assert scores["ner_macro_f1"] == pytest.approx((2 / 3 * 100) / 4)
    # with declared types the average runs over exactly those
    declared = compute_joint_ie_metrics([prediction], [GOLD], entity_types=["Loc", "Peop", "ADR"])
    assert declared["ner_macro_f1"] == pytest.approx((2 / 3 * 100) / 3)


def test_duplicates_count_once_and_empty_inputs_are_zero():
    duplicated = {"entities": GOLD["entities"] * 2, "relations": []}
    assert compute_joint_ie_metrics([duplicated], [GOLD])["ner_f1"] == 100.0
    empty = {"entities": [], "relations": []}
    assert compute_joint_ie_metrics([empty], [empty])["ner_f1"] == 0.0


def test_errors():
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        compute_joint_ie_metrics([GOLD], [GOLD, GOLD])
    broken = {"entities": [], "relations": [{"head": 0, "tail": 1, "type": "r"}]}
    with pytest.raises(ValueError, match="prediction 0: relation .* missing entity"):
        compute_joint_ie_metrics([broken], [GOLD])


def test_evaluate_module_gives_the_same_numbers():
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(Path(__file__).resolve().parents[1] / "metrics" / "joint_ie"))
    prediction = {"entities": GOLD["entities"][:2], "relations": GOLD["relations"][:1]}
    expected = compute_joint_ie_metrics([prediction, GOLD], [GOLD, GOLD])
    assert metric.compute(predictions=[prediction, GOLD], references=[GOLD, GOLD]) == pytest.approx(expected)
