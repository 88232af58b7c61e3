"""The benchmark harnesses' own logic: BIO encoding of the token-classification baseline and RESULTS.md rows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import accuracy  # noqa: E402
import token_classification_baseline as baseline  # noqa: E402


def test_bio_tags_round_trip_and_keep_the_longer_of_overlapping_entities():
    labels = baseline.bio_labels(["Loc", "Peop"])
    assert labels == ["O", "B-Loc", "I-Loc", "B-Peop", "I-Peop"]
    ids = {label: i for i, label in enumerate(labels)}
    row = {
        "tokens": ["John", "Smith", "saw", "New", "York", "City", "Hall"],
        "entities": [
            {"start": 0, "end": 2, "type": "Peop"},
            {"start": 3, "end": 5, "type": "Loc"},  # nested in the next one: dropped from the BIO targets
            {"start": 3, "end": 7, "type": "Loc"},
        ],
    }
    tags = [labels[i] for i in baseline.bio_tags(row, ids)]
    assert tags == ["B-Peop", "I-Peop", "O", "B-Loc", "I-Loc", "I-Loc", "I-Loc"]
    assert baseline.bio_entities(tags) == [
        {"start": 0, "end": 2, "type": "Peop"}, {"start": 3, "end": 7, "type": "Loc"}
    ]


def test_bio_entities_reads_adjacent_and_ill_formed_runs():
    tags = ["B-Loc", "B-Loc", "I-Loc", "I-Peop", "O", "I-Loc", "I-Loc"]
    assert baseline.bio_entities(tags) == [
        {"start": 0, "end": 1, "type": "Loc"},
        {"start": 1, "end": 3, "type": "Loc"},
        {"start": 3, "end": 4, "type": "Peop"},  # an I- of another type starts a new entity
        {"start": 5, "end": 7, "type": "Loc"},  # an I- after O starts one too
    ]


def test_add_row_inserts_into_the_accuracy_table_before_later_sections(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Accuracy\n\nintro\n\n" + accuracy.HEADER + "| a | row |\n\n# Throughput\n\n| x |\n")
    monkeypatch.setattr(accuracy, "RESULTS", results)
    accuracy.add_row("| b | row |\n")
    assert results.read_text() == (
        "# Accuracy\n\nintro\n\n" + accuracy.HEADER + "| a | row |\n| b | row |\n\n# Throughput\n\n| x |\n"
    )


def test_score_cells_show_no_relation_scores_for_entity_only_models():
    scores = {"test_ner_f1": 69.016, "test_re_f1": 0.0, "test_re_strict_f1": 0.0,
              "test_ner_macro_f1": 70.0, "test_re_macro_f1": 50.0, "test_re_strict_macro_f1": 49.996}
    assert accuracy.score_cells(scores, macro=False, predicts_relations=False) == "69.02 | – | –"
    assert accuracy.score_cells(scores, macro=True, predicts_relations=True) == "70.00 | 50.00 | 50.00"


def test_epochs_cell_names_the_default_epochs_and_the_calibration_split(tmp_path):
    import json

    (tmp_path / "training_setup.json").write_text(json.dumps(
        {"from_training_defaults": {"num_train_epochs": 15}, "calibrate_thresholds": True,
         "selection_split": "10% of fold0_train held out"}))
    assert accuracy.epochs_cell(tmp_path, None) == "15 (thresholds calibrated on 10% of fold0_train held out)"
    assert accuracy.epochs_cell(tmp_path, 6.0) == "6 (thresholds calibrated on 10% of fold0_train held out)"
    assert accuracy.epochs_cell(tmp_path / "baseline", 15) == "15"
