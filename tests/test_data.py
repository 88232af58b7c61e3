"""The schema loader, its validation errors, label tensors and word/subword alignment."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import ENTITY_TYPES, RELATION_TYPES, SHARED_DATA, TOY_ROWS, requires_shared_data

from hf_jointie.data import (
    FEATURES,
    encode_labels,
    encode_words,
    first_subword_index,
    label_sets,
    load_jointie_dataset,
    normalize_example,
)


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_load_directory_with_features_and_extra_keys(tmp_path):
    rows = [dict(copy.deepcopy(row), extra_key="ignored") for row in TOY_ROWS]
    rows[1]["entities"][0]["fragments"] = [[0, 1]]
    _write(tmp_path / "train.jsonl", rows)
    _write(tmp_path / "test.jsonl", rows[:1])
    data = load_jointie_dataset(tmp_path)
    assert set(data) == {"train", "test"} and data["train"].features == FEATURES
    assert data["train"][1]["entities"][0]["fragments"] == []  # a single fragment equal to the span is continuous
    assert label_sets(data) == (ENTITY_TYPES, RELATION_TYPES)


def test_discontinuous_entities_keep_fragments_and_round_trip(tmp_path):
    row = {"tokens": ["pain", "in", "my", "leg"], "entities": [{"start": 0, "end": 4, "type": "ADR", "fragments": [[0, 1], [3, 4]]}], "relations": []}
    _write(tmp_path / "train.jsonl", [row])
    data = load_jointie_dataset(tmp_path)
    data.save_to_disk(tmp_path / "saved")
    again = load_jointie_dataset(tmp_path / "saved")
    assert again["train"][0]["entities"][0]["fragments"] == [[0, 1], [3, 4]]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"tokens": ["a"], "entities": [{"start": 0, "end": 2, "type": "X"}], "relations": []}, "not inside the sentence"),
        ({"tokens": ["a", "b"], "entities": [{"start": 1, "end": 1, "type": "X"}], "relations": []}, "need start < end"),
        ({"tokens": ["a"], "entities": [{"start": 0, "end": 1, "type": "X"}], "relations": [{"head": 0, "tail": 3, "type": "r"}]}, "missing entity"),
        ({"tokens": ["a"], "entities": []}, "missing key `relations`"),
        ({"tokens": [], "entities": [], "relations": []}, "`tokens` is empty"),
        ({"tokens": ["a", "b", "c"], "entities": [{"start": 0, "end": 3, "type": "X", "fragments": [[0, 2], [1, 3]]}], "relations": []}, "overlap"),
        ({"tokens": ["a"], "entities": [{"start": "0", "end": 1, "type": "X"}], "relations": []}, "must be an integer"),
    ],
)
def test_validation_errors_name_file_line_and_problem(tmp_path, row, message):
    _write(tmp_path / "train.jsonl", [TOY_ROWS[0], row])
    with pytest.raises(ValueError, match=rf"train.jsonl line 2.*{message}"):
        load_jointie_dataset(tmp_path)


def test_parquet_files_load_and_validate(tmp_path):
    load_jointie_dataset(_jsonl_dir(tmp_path))["train"].to_parquet(tmp_path / "train.parquet")
    data = load_jointie_dataset(tmp_path / "train.parquet")
    assert data["train"].features == FEATURES and data["train"]["tokens"] == [row["tokens"] for row in TOY_ROWS]
    bad = load_jointie_dataset(_jsonl_dir(tmp_path))["train"].map(
        lambda row, i: {"entities": [{"start": 0, "end": 99, "type": "X", "fragments": []}]} if i == 1 else {},
        with_indices=True,
    )
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="bad.parquet row 1, entity 0: span"):
        load_jointie_dataset({"train": tmp_path / "bad.parquet"})


def _jsonl_dir(tmp_path):
    directory = tmp_path / "jsonl"
    directory.mkdir(exist_ok=True)
    _write(directory / "train.jsonl", TOY_ROWS)
    return directory


def test_invalid_json_and_unknown_labels(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"tokens": [\n')
    with pytest.raises(ValueError, match="train.jsonl line 1: invalid JSON"):
        load_jointie_dataset(tmp_path)
    with pytest.raises(ValueError, match="unknown entity type 'Loc'"):
        normalize_example(TOY_ROWS[0], entity_types=["Peop"])
    with pytest.raises(ValueError, match="unknown relation type 'Live_In'"):
        encode_labels([TOY_ROWS[0]], ENTITY_TYPES, ["Work_For"])


def test_encode_labels_shapes_and_padding():
    labels = encode_labels(TOY_ROWS, ENTITY_TYPES, RELATION_TYPES)
    assert labels["entity_labels"].shape == (4, 4, 3)
    assert labels["entity_labels"][0, 0].tolist() == [0, 2, ENTITY_TYPES.index("Peop")]
    assert labels["entity_labels"][0, 2].tolist() == [-1, -1, -1]
    assert labels["relation_labels"][1, 1].tolist() == [1, 2, RELATION_TYPES.index("Located_In")]
    assert labels["entity_fragments"][0, 0, 0].tolist() == [0, 2]


def test_word_alignment_uses_first_subword(tokenizer):
    batch = encode_words(tokenizer, [["Johnsonville", "lives"], ["Boston"]])
    # [CLS] johnson ##ville lives [SEP]
    assert batch["word_index"].tolist() == [[1, 3], [1, 0]]
    assert batch["word_mask"].tolist() == [[True, True], [True, False]]
    ids = batch["input_ids"][0, batch["word_index"][0]]
    assert tokenizer.convert_ids_to_tokens(ids.tolist()) == ["johnson", "lives"]


def test_words_without_subwords_borrow_the_previous_position():
    assert first_subword_index([None, 0, 0, 2, None], 3).tolist() == [1, 1, 3]


def test_too_long_sentence_is_an_error_not_a_truncation(tokenizer):
    with pytest.raises(ValueError, match="long-one has 12 subwords, more than max_length=8"):
        encode_words(tokenizer, [["boston"] * 10], max_length=8, names=["long-one"])
    with pytest.raises(TypeError, match="fast tokenizer"):
        encode_words(object(), [["a"]])


@requires_shared_data
def test_conll04_split_sizes():
    data = load_jointie_dataset(SHARED_DATA / "conll04")
    assert {name: len(split) for name, split in data.items()} == {"train": 922, "dev": 231, "test": 288}
    assert sum(len(e) for e in data["test"]["entities"]) == 1079
    assert label_sets(data) == (["Loc", "Org", "Other", "Peop"], ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"])
