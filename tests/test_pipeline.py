"""The joint-ie pipeline: text, batches and pre-tokenized input, character offsets, windowing, bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit
from transformers import pipeline

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


@pytest.mark.parametrize("bad, error, message", [
    ("", ValueError, "empty or whitespace-only"),
    ("   \n", ValueError, "empty or whitespace-only"),
    (42, TypeError, "expects a string"),
    ([], TypeError, "expects a string"),
    ([3.5], TypeError, "cannot read an input of type float"),
    ({"tokens": []}, ValueError, "pre-tokenized input"),
])
def test_bad_input_errors(ie, bad, error, message):
    with pytest.raises(error, match=message):
        ie(bad)
