"""The joint-ie pipeline: text, batches and pre-tokenized input, character offsets, windowing, streaming input, bad
input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from datasets import Dataset
from transformers import pipeline
from transformers.pipelines.pt_utils import KeyDataset

from hf_jointie import IterConfig, IterModel
from hf_jointie.training import JointIEDataCollator


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, tokenizer):
    """An ITER model overfit on the toy rows, saved with its tokenizer."""
    from transformers import BertConfig

    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0)
    model = IterModel(IterConfig(encoder_config=encoder, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                                 dropout=0.0, max_length=16))
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(TOY_ROWS)
    batch.pop("references")
    overfit(model, batch, steps=150)
    directory = tmp_path_factory.mktemp("iter")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def ie(saved_model):
    return pipeline("joint-ie", model=str(saved_model))


def test_text_gives_character_offsets_entities_and_relations(ie):
    text = "John Smith lives in Boston."
    result = ie(text)
    assert [(e["text"], e["type"]) for e in result["entities"]] == [("John Smith", "Peop"), ("Boston", "Loc")]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in result["entities"])
    assert [(r["head"], r["tail"], r["type"]) for r in result["relations"]] == [(0, 1, "Live_In")]
    assert all(0.5 < x["score"] <= 1 for x in result["entities"] + result["relations"])


def test_batch_and_pretokenized_inputs_keep_order(ie):
    texts = ["Mary works for Acme Corp in New York City.", {"tokens": TOY_ROWS[0]["tokens"]}, "Nothing happened here."]
    results = ie(texts, batch_size=2)
    assert [e["text"] for e in results[0]["entities"]] == ["Mary", "Acme Corp", "New York", "New York City"]
    assert [(e["start"], e["end"]) for e in results[1]["entities"]] == [(0, 2), (4, 5)]
    assert results[1]["entities"][0]["text"] == "John Smith"
    assert results[2] == {"entities": [], "relations": []}


def test_threshold_option(ie):
    assert ie("John Smith lives in Boston.", threshold=1.0)["entities"] == []
    with pytest.raises(ValueError, match="threshold"):
        ie("John Smith lives in Boston.", threshold=2)
    with pytest.raises(TypeError, match="Unknown joint-ie pipeline option"):
        ie("John Smith lives in Boston.", treshold=0.2)


def test_long_text_is_windowed_not_truncated(ie):
    # max_length=16 subwords: the text needs several windows; the last sentence must still be found
    text = " ".join(["Nothing happened here."] * 6 + ["John Smith lives in Boston."])
    preprocessed = ie.preprocess(text)
    assert len(preprocessed["windows"]) > 1 and preprocessed["windows"][-1]["tokens"][-1] == "."
    covered = set()
    for window in preprocessed["windows"]:
        covered.update(range(window["offset"], window["offset"] + len(window["tokens"])))
    assert covered == set(range(len(preprocessed["tokens"])))
    result = ie(text)
    # the entity in the last window, past the first window's end, is found at its character offset
    assert any(e["text"] == "Boston" and e["start"] == text.rindex("Boston") for e in result["entities"])
    assert all(text[e["start"] : e["end"]] == e["text"] for e in result["entities"])


def test_window_merge_is_the_evaluation_rule(ie):
    # two windows (the second starts at word 2) disagree on scores and find two discontinuous entities with the same
    # boundaries and type but different fragments; the pipeline must number entities exactly as `merge_windows` does,
    # or a relation would point at the wrong one
    from hf_jointie.data import merge_windows

    first = {"entities": [{"start": 2, "end": 6, "type": "Loc", "score": 0.6, "fragments": [[2, 4], [5, 6]]},
                          {"start": 4, "end": 5, "type": "Peop", "score": 0.7}],
             "relations": [{"head": 1, "tail": 0, "type": "Live_In", "score": 0.5}]}
    second = {"entities": [{"start": 0, "end": 4, "type": "Loc", "score": 0.9, "fragments": [[0, 1], [3, 4]]},
                           {"start": 2, "end": 3, "type": "Peop", "score": 0.8}],
              "relations": [{"head": 1, "tail": 0, "type": "Live_In", "score": 0.4}]}
    tokens = "a b c d e f g".split()
    document = {"text": None, "tokens": tokens, "offsets": None,
                "windows": [{"offset": 0, "prediction": first}, {"offset": 2, "prediction": second},
                            {"offset": 4, "prediction": None}]}
    result = ie.postprocess(document)
    merged = merge_windows([first, second], [0, 2])
    assert [(e["start"], e["end"], e["type"], e.get("fragments"), e["score"]) for e in result["entities"]] == [
        (e["start"], e["end"], e["type"], e.get("fragments"), e["score"]) for e in merged["entities"]]
    assert result["relations"] == merged["relations"]
    # fragments break the tie: [[2, 3], [5, 6]] (found second, in the second window) comes before [[2, 4], [5, 6]]
    assert [e.get("fragments") for e in result["entities"]] == [[[2, 3], [5, 6]], [[2, 4], [5, 6]], None]
    assert [(r["head"], r["tail"], r["score"]) for r in result["relations"]] == [(2, 0, 0.4), (2, 1, 0.5)]


@pytest.mark.parametrize("bad, error, message", [
    ("", ValueError, "empty or whitespace-only"),
    ("   \n", ValueError, "empty or whitespace-only"),
    (42, TypeError, "expects a string"),
    (b"John", TypeError, "expects a string"),
    ([], TypeError, "expects a string"),
    ([3.5], TypeError, "cannot read an input of type float"),
    ({"tokens": []}, ValueError, "pre-tokenized input"),
])
def test_bad_input_errors(ie, bad, error, message):
    with pytest.raises(error, match=message):
        ie(bad)


#: A batch with a long (windowed) text, pre-tokenized input and texts of different lengths.
STREAM_INPUTS = [
    "John Smith lives in Boston.",
    " ".join(["Nothing happened here."] * 6 + ["Mary works for Acme Corp in New York City."]),
    {"tokens": TOY_ROWS[2]["tokens"]},
    "Acme Corp hired Johnsonville from Boston.",
    "Nothing happened here.",
]


def test_generator_dataset_and_tuple_inputs_give_the_list_results(ie):
    expected = ie(STREAM_INPUTS, batch_size=2)
    assert isinstance(expected, list) and any(result["relations"] for result in expected)
    assert ie(tuple(STREAM_INPUTS), batch_size=2) == expected
    streamed = ie((item for item in STREAM_INPUTS), batch_size=2)
    assert isinstance(streamed, Iterator) and list(streamed) == expected
    texts = [item for item in STREAM_INPUTS if isinstance(item, str)]
    from_dataset = ie(KeyDataset(Dataset.from_dict({"text": texts}), "text"), batch_size=2)
    assert isinstance(from_dataset, Iterator) and list(from_dataset) == ie(texts, batch_size=2)
    # smaller blocks bucket differently: the same predictions, scores equal up to padding round-off
    blocked = ie(iter(STREAM_INPUTS), batch_size=2, block_size=2)
    for got, want in zip(blocked, expected, strict=True):
        assert strip_scores(got) == strip_scores(want)
        scores = [x["score"] for x in got["entities"] + got["relations"]]
        assert scores == pytest.approx([x["score"] for x in want["entities"] + want["relations"]], abs=1e-5)


def test_stream_is_read_lazily_one_block_at_a_time(ie):
    consumed = []

    def texts():
        for i in range(10):
            consumed.append(i)
            yield "John Smith lives in Boston."

    results = ie(texts(), block_size=3)
    assert consumed == []  # nothing is read before the first result is asked for
    first = next(results)
    assert len(consumed) == 3 and first == ie("John Smith lives in Boston.")
    assert len(list(results)) == 9 and len(consumed) == 10


def test_workers_preprocess_in_order_and_report_bad_items(ie):
    expected = ie(STREAM_INPUTS, batch_size=2)
    assert ie(STREAM_INPUTS, batch_size=2, num_workers=2) == expected
    assert list(ie(iter(STREAM_INPUTS), batch_size=2, num_workers=2)) == expected  # an iterable: one worker
    with pytest.raises(TypeError, match="input 1"):
        ie(["John Smith lives in Boston.", 7], num_workers=1)


def test_empty_texts_in_a_batch_get_empty_results(ie):
    results = ie(["John Smith lives in Boston.", "", "  \n\t", {"tokens": []}, "Nothing happened here."])
    assert results[0] == ie("John Smith lives in Boston.") and results[0]["entities"]
    assert results[1:4] == [{"entities": [], "relations": []}] * 3
    assert list(ie(iter(["", "John Smith lives in Boston."])))[0] == {"entities": [], "relations": []}
    with pytest.raises(ValueError, match="empty or whitespace-only"):  # a single empty text keeps its error
        ie(" ")


@pytest.mark.parametrize("bad, index, error", [
    (["John Smith lives in Boston.", 3.5], 1, TypeError),
    ([None, "John Smith lives in Boston."], 0, TypeError),
    (["ok", "ok", {"tokens": ["John", ""]}], 2, ValueError),
])
def test_a_bad_item_in_a_batch_names_its_index(ie, bad, index, error):
    with pytest.raises(error, match=f"input {index}"):
        ie(bad)
    with pytest.raises(error, match=f"input {index}"):
        list(ie(iter(bad)))


def test_progress_bar_shows_the_total_when_the_length_is_known(ie, capsys):
    ie(STREAM_INPUTS, progress=True)
    assert "5/5" in capsys.readouterr().err
    list(ie(iter(STREAM_INPUTS), progress=True))
    err = capsys.readouterr().err
    assert "5it" in err and "/5" not in err
    ie(STREAM_INPUTS)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("option", [{"batch_size": 0}, {"batch_size": "8"}, {"block_size": 0}, {"num_workers": -1},
                                    {"num_workers": 1.5}])
def test_bad_stream_options(ie, option):
    with pytest.raises(ValueError, match=next(iter(option))):
        ie(STREAM_INPUTS, **option)
