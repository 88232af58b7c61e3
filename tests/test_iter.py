"""ITER: losses, overfitting to exact predictions (flat and nested), save/load, Auto classes, T5 backbone."""

from __future__ import annotations

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from transformers import AutoConfig, AutoModel, T5Config

from hf_jointie import IterConfig, IterModel
from hf_jointie.training import JointIEDataCollator


def _model(encoder_config, **kwargs) -> IterModel:
    torch.manual_seed(0)
    config = IterConfig(
        encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES, dropout=0.0, **kwargs
    )
    return IterModel(config)


def _batch(tokenizer, model):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(TOY_ROWS)
    return batch, batch.pop("references")


def test_overfits_flat_and_nested_to_exact_predictions(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config)
    batch, references = _batch(tokenizer, model)
    overfit(model, batch, steps=150)
    with torch.inference_mode():
        predictions = model.decode(model(**batch), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]
    assert all(0.5 < e["score"] <= 1.0 for p in predictions for e in p["entities"])


def test_flat_decoding_keeps_thebest_of_overlapping_entities():
    from hf_jointie.modeling_utils import best_of_overlapping

    rows = torch.tensor([0, 0, 0, 1, 1])
    starts, ends = torch.tensor([6, 6, 0, 0, 1]), torch.tensor([8, 9, 1, 2, 3])
    scores = torch.tensor([0.7, 0.9, 0.8, 0.6, 0.6])
    # row 0: [6,8) loses to [6,9); [0,1) overlaps nothing; row 1: a tie goes to the earlier entity
    assert best_of_overlapping(rows, starts, ends, scores).tolist() == [False, True, True, True, False]


def test_loss_terms_and_left_loss_is_equation_12(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config).eval()
    batch, _ = _batch(tokenizer, model)
    output = model(**batch)
    assert torch.allclose(output.loss, output.left_loss + output.span_loss + output.link_loss)
    # Eq. 12: LSE([h, 0]) - (h if the word opens an entity else 0), summed over words, averaged over sentences
    targets = torch.zeros_like(output.left_logits)
    for row, sentence in enumerate(TOY_ROWS):
        for entity in sentence["entities"]:
            targets[row, entity["start"]] = 1.0
    h = output.left_logits
    manual = (torch.logsumexp(torch.stack([h, torch.zeros_like(h)]), 0) - targets * h) * batch["word_mask"]
    assert torch.allclose(output.left_loss, manual.sum() / len(TOY_ROWS), atol=1e-5)


def test_span_loss_matches_equation_13(tokenizer, tiny_bert_config):
    """For a single (bracket, end) pair with gold type t: LSE([h, 0]) - h_t; without a gold type: LSE([h, 0])."""
    model = _model(tiny_bert_config).eval()
    rows = [{"tokens": ["boston"], "entities": [{"start": 0, "end": 1, "type": "Loc"}], "relations": []}]
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(rows)
    batch.pop("references")
    output = model(**batch)
    logits = output.span_logits[0, 0, 0]
    expected = torch.logsumexp(torch.cat([logits, torch.zeros(1)]), 0) - logits[ENTITY_TYPES.index("Loc")]
    assert torch.allclose(output.span_loss, expected, atol=1e-5)


def test_decode_without_labels_and_thresholds(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config).eval()
    batch, _ = _batch(tokenizer, model)
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "word_index", "word_mask")}
    with torch.inference_mode():
        output = model(**batch)
        everything = model.decode(output, batch, threshold=0.0, relation_threshold=0.0)
        nothing = model.decode(output, batch, threshold=1.0)
    assert all(not p["entities"] for p in nothing)
    for prediction, row in zip(everything, TOY_ROWS):
        for entity in prediction["entities"]:
            assert 0 <= entity["start"] < entity["end"] <= len(row["tokens"])
        for relation in prediction["relations"]:
            assert relation["head"] != relation["tail"] and relation["head"] < len(prediction["entities"])


def test_save_load_round_trip_and_auto_classes(tmp_path, tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config, max_span_width=4).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, IterConfig) and config.max_span_width == 4
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, IterModel)
    batch, _ = _batch(tokenizer, model)
    with torch.inference_mode():
        assert torch.allclose(model(**batch).loss, loaded(**batch).loss)


def test_auto_config_for_model_and_t5_encoder(tokenizer):
    t5 = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    config = AutoConfig.for_model("iter", encoder_config=t5.to_dict(), entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES)
    model = AutoModel.from_config(config)
    assert type(model.encoder).__name__ == "T5Stack" and config.encoder_hidden_size == 32
    batch, _ = _batch(tokenizer, model)
    assert torch.isfinite(model(**batch).loss)


def test_config_rejects_bad_values(tiny_bert_config):
    with pytest.raises(ValueError, match="activation"):
        IterConfig(encoder_config=tiny_bert_config, entity_types=["A"], relation_types=["r"], activation="swish")
    with pytest.raises(ValueError, match="entity_types"):
        IterModel(IterConfig(encoder_config=tiny_bert_config, entity_types=[], relation_types=["r"]))
    with pytest.raises(ValueError, match="more than once"):
        IterConfig(encoder_config=tiny_bert_config, entity_types=["A", "A"], relation_types=["r"])


def test_ner_only_model_without_relation_types(tokenizer, tiny_bert_config):
    torch.manual_seed(0)
    model = IterModel(IterConfig(encoder_config=tiny_bert_config, entity_types=ENTITY_TYPES, relation_types=[],
                                 dropout=0.0))
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, [])(TOY_ROWS)
    references = batch.pop("references")
    overfit(model, batch, steps=150)
    with torch.inference_mode():
        output = model(**batch)
        predictions = model.decode(output, batch)
    assert float(output.link_loss) == 0.0
    assert [strip_scores(p)["entities"] for p in predictions] == [strip_scores(r)["entities"] for r in references]
    assert all(p["relations"] == [] for p in predictions)
