"""The schema loader, its validation errors, label tensors and word/subword alignment."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import ENTITY_TYPES, RELATION_TYPES, SHARED_DATA, TOY_ROWS, requires_shared_data

from hf_jointie.data import (
    FEATURES,
    check_long_examples,
    encode_labels,
    encode_words,
    first_subword_index,
    label_sets,
    load_jointie_dataset,
    merge_windows,
    normalize_example,
    record_locations,
    window_record,
    window_spans,
    word_lengths,
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


def test_window_spans_fill_the_budget_overlap_by_stride_and_cover_every_word():
    lengths = [1, 2, 1, 3, 1, 1, 2]
    assert window_spans(lengths, budget=20) == [(0, 7)]  # a sentence that fits is one window
    # default stride: a quarter of the previous window, here 0 words (windows of 2-3 words)
    assert window_spans(lengths, budget=4) == [(0, 3), (3, 5), (5, 7)]
    assert window_spans(lengths, budget=4, stride=1) == [(0, 3), (2, 4), (3, 5), (4, 7)]
    # a stride as long as the window still moves on by one word
    assert window_spans([1, 1, 1], budget=2, stride=5) == [(0, 2), (1, 3)]
    with pytest.raises(ValueError, match="A single word has 5 subwords, more than the model's window of 4"):
        window_spans([1, 5, 1], budget=4)


def test_word_lengths_count_subwords_per_word_in_one_batch(tokenizer):
    first, second = word_lengths(tokenizer, [["Johnsonville", "lives"], ["Boston"]])
    assert first.tolist() == [2, 1] and second.tolist() == [1]


def test_window_record_keeps_what_a_window_holds_whole_and_counts_the_rest():
    record = {
        "id": "doc",
        "tokens": list("abcdefgh"),
        "entities": [
            {"start": 0, "end": 2, "type": "A", "fragments": []},  # first window only
            {"start": 3, "end": 5, "type": "B", "fragments": []},  # both windows
            {"start": 4, "end": 7, "type": "C", "fragments": []},  # second window only
            {"start": 1, "end": 7, "type": "D", "fragments": []},  # cut by every window
            {"start": 3, "end": 7, "type": "E", "fragments": [[3, 4], [6, 7]]},  # discontinuous, second window
        ],
        "relations": [
            {"head": 0, "tail": 1, "type": "r"},  # share the first window
            {"head": 0, "tail": 2, "type": "r"},  # never share a window
            {"head": 3, "tail": 1, "type": "r"},  # D is in no window
            {"head": 4, "tail": 2, "type": "s"},  # second window
        ],
    }
    windows, lost_entities, lost_relations = window_record(record, [(0, 5), (3, 8)])
    assert (lost_entities, lost_relations) == (1, 2)
    assert [w["id"] for w in windows] == ["doc [words 0:5]", "doc [words 3:8]"]
    assert windows[1]["tokens"] == list("defgh")
    assert [(e["start"], e["end"], e["type"]) for e in windows[0]["entities"]] == [(0, 2, "A"), (3, 5, "B")]
    assert windows[0]["relations"] == [{"head": 0, "tail": 1, "type": "r"}]
    assert [(e["start"], e["end"], e["type"], e["fragments"]) for e in windows[1]["entities"]] == [
        (0, 2, "B", []), (1, 4, "C", []), (0, 4, "E", [[0, 1], [3, 4]])]
    assert windows[1]["relations"] == [{"head": 2, "tail": 1, "type": "s"}]
    # every window is itself a valid record of the schema
    for window in windows:
        normalize_example(window)
    # a record that fits in one window comes back unchanged (and keeps its id)
    one, lost_e, lost_r = window_record(record, [(0, 8)])
    assert (lost_e, lost_r) == (0, 0) and one[0]["id"] == "doc"
    assert one[0]["entities"] == record["entities"] and one[0]["relations"] == record["relations"]


def test_merge_windows_keeps_the_best_score_and_maps_relations_to_document_entities():
    first = {"entities": [{"start": 0, "end": 1, "type": "A", "score": 0.6}, {"start": 3, "end": 4, "type": "B", "score": 0.7}],
             "relations": [{"head": 0, "tail": 1, "type": "r", "score": 0.5}]}
    # the second window starts at word 2: its entity 1..2 is the first window's 3..4
    second = {"entities": [{"start": 1, "end": 2, "type": "B", "score": 0.9},
                           {"start": 2, "end": 5, "type": "C", "score": 0.8, "fragments": [[2, 3], [4, 5]]}],
              "relations": [{"head": 1, "tail": 0, "type": "r", "score": 0.4}]}
    merged = merge_windows([first, second], [0, 2])
    assert merged["entities"] == [
        {"start": 0, "end": 1, "type": "A", "score": 0.6},
        {"start": 3, "end": 4, "type": "B", "score": 0.9},
        {"start": 4, "end": 7, "type": "C", "score": 0.8, "fragments": [[4, 5], [6, 7]]},
    ]
    assert merged["relations"] == [{"head": 0, "tail": 1, "type": "r", "score": 0.5},
                                   {"head": 2, "tail": 1, "type": "r", "score": 0.4}]
    assert merge_windows([first, first], [0, 0]) == merge_windows([first], [0])


def _long_rows():
    short = TOY_ROWS[0]
    long_doc = {"id": "long-a", "tokens": short["tokens"] * 5,
                "entities": [{"start": 6 * i + 4, "end": 6 * i + 5, "type": "Loc"} for i in range(5)]
                + [{"start": 0, "end": 30, "type": "Peop"}],  # the whole document: no window holds it
                "relations": [{"head": 0, "tail": 4, "type": "Live_In"}, {"head": 0, "tail": 1, "type": "Live_In"}]}
    return [short, long_doc, {**long_doc, "id": "long-b"}]


def test_check_long_examples_reports_windows_and_losses_per_split(tmp_path, tokenizer):
    _write(tmp_path / "train.jsonl", _long_rows())
    data = load_jointie_dataset(tmp_path)
    reports = check_long_examples(data, tokenizer, max_length=16)
    report = reports["train"]
    assert [(row, name) for row, name, _ in report.long_examples] == [(1, "long-a"), (2, "long-b")]
    assert report.long_examples[0][2] == 32  # 30 one-subword words and [CLS] [SEP]
    # per long document: the whole-document entity is lost, and the relation between the first and last sentence
    assert (report.lost_entities, report.lost_relations) == (2, 2) and report.windows > 4
    assert "2 of 3 examples are longer than 16 subwords" in report.summary()
    assert check_long_examples(data, tokenizer, max_length=64)["train"].summary() == (
        "train: all 3 examples fit the window of 64 subwords")
    # entity-only models: relations are not counted
    assert check_long_examples(data, tokenizer, max_length=16, count_relations=False)["train"].lost_relations == 0


def test_check_long_examples_lists_every_unusable_example_with_file_line_and_id(tmp_path, tokenizer):
    rows = _long_rows()
    (tmp_path / "train.jsonl").write_text(
        json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]) + "\n")
    data = load_jointie_dataset(tmp_path)
    locations = record_locations(tmp_path)
    assert locations == {"train": ["train.jsonl line 1", "train.jsonl line 3", "train.jsonl line 4"]}
    with pytest.raises(ValueError) as error:
        check_long_examples(data, tokenizer, max_length=16, allow_windows=False, locations=locations)
    message = str(error.value)
    assert message.startswith("2 example(s) are longer than the model's window of 16 subwords")
    assert "train.jsonl line 3 (id 'long-a'): 32 subwords" in message
    assert "train.jsonl line 4 (id 'long-b'): 32 subwords" in message
    # windows cannot split a word: such examples are listed even when windowing is allowed
    _write(tmp_path / "train.jsonl", [rows[0], {**rows[0], "id": "wordy", "tokens": ["Johnson" + "ville" * 6] + rows[0]["tokens"][1:]}])
    with pytest.raises(ValueError, match=r"1 example.*hold a word longer.*window of 8 subwords(.|\n)*"
                                         r"train.jsonl line 2 \(id 'wordy'\): a word of 7 subwords"):
        check_long_examples(load_jointie_dataset(tmp_path), tokenizer, max_length=8,
                            locations=record_locations(tmp_path))
