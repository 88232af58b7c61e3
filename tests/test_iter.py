"""ITER: losses (Eq. 12, 13), the candidate scheme, the flat and nested decision rules, links (order, inverse),
overfitting to exact predictions, save/load, config layout, backbones."""

from __future__ import annotations

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from transformers import AutoConfig, AutoModel, DebertaV2Config, T5Config

from hf_jointie import IterConfig, IterModel
from hf_jointie.models.iter.modeling_iter import IterOutput, closest_lefts
from hf_jointie.training import JointIEDataCollator


def _model(encoder_config, relation_types=RELATION_TYPES, **kwargs) -> IterModel:
    torch.manual_seed(0)
    config = IterConfig(
        encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=relation_types, dropout=0.0, **kwargs
    )
    return IterModel(config)


def _batch(tokenizer, rows=TOY_ROWS, relation_types=RELATION_TYPES):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, relation_types)(rows)
    return batch, batch.pop("references")


@pytest.mark.parametrize("options", [{}, {"max_nest_depth": 2}, {"inverse_relations": True}])
def test_overfits_to_exact_predictions(tokenizer, tiny_bert_config, options):
    model = _model(tiny_bert_config, **options)
    batch, references = _batch(tokenizer)
    overfit(model, batch, steps=150)
    with torch.inference_mode():
        predictions = model.decode(model(**batch), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]
    assert all(0.5 < e["score"] <= 1.0 for p in predictions for e in p["entities"])


def test_heads_are_gated_bias_free_feed_forward_blocks_with_the_authors_shapes(tiny_bert_config):
    model = _model(tiny_bert_config)
    hidden, d_ff = 32, tiny_bert_config.intermediate_size
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters() if not name.startswith("encoder.")}
    assert shapes == {
        "is_l.gate.weight": (d_ff, hidden), "is_l.wi.weight": (d_ff, hidden), "is_l.wo.weight": (1, d_ff),
        "lr_score.gate.weight": (2 * d_ff, 2 * hidden), "lr_score.wi.weight": (2 * d_ff, 2 * hidden),
        "lr_score.wo.weight": (len(ENTITY_TYPES), 2 * d_ff),
        "rr_score.gate.weight": (2 * d_ff, 2 * hidden), "rr_score.wi.weight": (2 * d_ff, 2 * hidden),
        "rr_score.wo.weight": (len(RELATION_TYPES), 2 * d_ff),
    }
    x = torch.randn(5, hidden)
    head = model.is_l
    assert torch.allclose(head(x), head.wo(head.act(head.gate(x)) * head.wi(x)))
    ungated = _model(tiny_bert_config, use_gate=False, use_scale=False, d_ff=7)
    assert ungated.is_l.gate is None and ungated.lr_score.wi.weight.shape == (7, 2 * hidden)
    assert torch.allclose(ungated.is_l(x), ungated.is_l.wo(ungated.is_l.act(ungated.is_l.wi(x))))


def test_closest_lefts_are_the_nearest_brackets_at_or_before_each_word():
    is_left = torch.tensor([[False, True, False, True, False, False]])
    assert closest_lefts(is_left, 1).squeeze(-1).tolist() == [[-1, 1, 1, 3, 3, 3]]
    assert closest_lefts(is_left, 2).tolist() == [[[-1, -1], [1, -1], [1, -1], [3, 1], [3, 1], [3, 1]]]


def _output(span_logits: torch.Tensor, lefts: torch.Tensor, hidden: int = 32) -> IterOutput:
    words = lefts.size(1)
    return IterOutput(
        left_logits=torch.ones(1, words), span_left=lefts, span_logits=span_logits,
        first_states=torch.zeros(1, words, hidden), last_states=torch.zeros(1, words, hidden),
    )


def test_flat_rule_is_the_log_sum_exp_of_the_types_against_zero(tiny_bert_config):
    """Eq. 13: two types at probability 0.4999 each (softmax with the null logit 0) still make a span: P(span) is
    0.9998, and the span takes the argmax type."""
    model = _model(tiny_bert_config, relation_types=[])
    p = 0.4999
    split = torch.log(torch.tensor(p / (1 - 2 * p)))
    logits = torch.full((1, 2, 1, 3), float("-inf"))
    logits[0, 0, 0, :2] = torch.stack([split, split - 1e-4])  # types 0 and 1 split the probability
    logits[0, 1, 0] = torch.tensor([-1.0, -1.2, -2.0])  # LSE < 0: no span
    lefts = torch.tensor([[[0], [0]]])
    entities = model.decode(_output(logits, lefts), {})[0]["entities"]
    assert [(e["start"], e["end"], e["type"]) for e in entities] == [(0, 1, ENTITY_TYPES[0])]
    assert entities[0]["score"] == pytest.approx(2 * p - 1e-4 * p, abs=1e-4)


def test_nested_rule_is_a_real_type_against_the_none_type(tiny_bert_config):
    model = _model(tiny_bert_config, relation_types=[], max_nest_depth=2)
    assert model.lr_score.wo.weight.shape[0] == len(ENTITY_TYPES) + 1  # the NONE row
    logits = torch.full((1, 2, 2, 4), -5.0)
    logits[0, 1, 0] = torch.tensor([0.5, 0.1, 0.0, 0.2])  # Loc beats NONE (0.2): span [1, 2)
    logits[0, 1, 1] = torch.tensor([3.0, 2.0, 1.0, 4.0])  # NONE beats every type, whatever their LSE: no span
    lefts = torch.tensor([[[0, -1], [1, 0]]])
    entities = model.decode(_output(logits, lefts), {})[0]["entities"]
    assert [(e["start"], e["end"], e["type"]) for e in entities] == [(1, 2, "Loc")]
    assert entities[0]["score"] == pytest.approx(torch.sigmoid(torch.tensor(0.3)).item())


def test_link_head_reads_tail_then_head_and_inverse_types_flip_the_direction(tiny_bert_config):
    model = _model(tiny_bert_config, inverse_relations=True).eval()
    assert model.rr_score.wo.weight.shape[0] == 2 * len(RELATION_TYPES)
    a, b = torch.randn(1, 1, 32), torch.randn(1, 1, 32)
    assert torch.allclose(model.link_logits(a, b)[0, 0, 0], model.rr_score(torch.cat([b, a], -1))[0, 0], atol=1e-5)
    with torch.no_grad():  # only the inverse "Kill" logit fires for head b, tail a: decoded as a -> b
        model.rr_score.wo.weight.zero_()
    states = torch.stack([a[0, 0], b[0, 0]]).unsqueeze(0)
    logits = torch.full((1, 2, 1, 3), float("-inf"))
    logits[0, :, 0, 0] = 5.0
    output = IterOutput(left_logits=torch.ones(1, 2), span_left=torch.tensor([[[0], [1]]]), span_logits=logits,
                        first_states=states, last_states=states)
    original = model.pair_link_logits

    def pair_link_logits(items, heads, tails):
        scores = original(items, heads, tails)
        assert torch.allclose(scores, model.link_logits(items[heads].view(-1, 1, 32), items[tails].view(-1, 1, 32))[:, 0, 0])
        scores[:] = -10.0
        scores[(heads == 1) & (tails == 0), len(RELATION_TYPES) + RELATION_TYPES.index("Live_In")] = 10.0
        return scores

    model.pair_link_logits = pair_link_logits
    relations = model.decode(output, {})[0]["relations"]
    assert [(r["head"], r["tail"], r["type"]) for r in relations] == [(0, 1, "Live_In")]


def test_left_loss_is_equation_12_and_losses_sum(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config).eval()
    batch, _ = _batch(tokenizer)
    output = model(**batch)
    assert torch.allclose(output.loss, output.left_loss + output.span_loss + output.link_loss)
    targets = torch.zeros_like(output.left_logits)
    for row, sentence in enumerate(TOY_ROWS):
        for entity in sentence["entities"]:
            targets[row, entity["start"]] = 1.0
    h = output.left_logits.masked_fill(~batch["word_mask"], 0.0)
    manual = (torch.logsumexp(torch.stack([h, torch.zeros_like(h)]), 0) - targets * h) * batch["word_mask"]
    assert torch.allclose(output.left_loss, manual.sum() / len(TOY_ROWS), atol=1e-5)


def test_span_loss_is_equation_13_on_the_gold_brackets(tokenizer, tiny_bert_config):
    """"boston lives": gold Loc [0, 1). Word 0 ends the entity: LSE(0, h0) - h0[Loc]; word 1 ends nothing and pairs
    with the same bracket: LSE(0, h1) - 0."""
    model = _model(tiny_bert_config).eval()
    rows = [{"tokens": ["boston", "lives"], "entities": [{"start": 0, "end": 1, "type": "Loc"}], "relations": []}]
    batch, _ = _batch(tokenizer, rows)
    output = model(**batch)
    hidden = model.encoder(input_ids=batch["input_ids"]).last_hidden_state
    first, last = hidden[0, batch["word_index"][0]], hidden[0, batch["word_end_index"][0]]
    logits = model.lr_score(torch.cat([first[[0, 0]], last], -1))
    lse = torch.logsumexp(torch.cat([torch.zeros(2, 1), logits], -1), -1)
    expected = lse[0] - logits[0, ENTITY_TYPES.index("Loc")] + lse[1]
    assert torch.allclose(output.span_loss, expected, atol=1e-5)


def test_right_bracket_reads_the_last_subword_of_the_end_word(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config).eval()
    batch, _ = _batch(tokenizer, [TOY_ROWS[2]])
    assert batch["word_end_index"][0, 3] == batch["word_index"][0, 3] + 1  # johnson ##ville
    output = model(**{k: v for k, v in batch.items() if "labels" not in k})
    hidden = model.encoder(input_ids=batch["input_ids"]).last_hidden_state
    assert torch.allclose(output.last_states[0, 3], hidden[0, batch["word_index"][0, 3] + 1])
    assert torch.allclose(output.first_states[0, 3], hidden[0, batch["word_index"][0, 3]])


def test_evaluation_with_labels_decodes_from_the_predicted_brackets(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config).eval()
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        with_labels = model.decode(model(**batch), batch, threshold=0.0)
        without = model.decode(model(**{k: v for k, v in batch.items() if "labels" not in k}), batch, threshold=0.0)
    assert with_labels == without


def test_save_load_round_trip_and_auto_classes(tmp_path, tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config, max_nest_depth=3, inverse_relations=True).eval()
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, IterConfig) and config.max_nest_depth == 3 and config.none_type
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        assert torch.allclose(model(**batch).loss, loaded(**batch).loss)


@pytest.mark.parametrize("backbone", ["t5", "deberta-v2"])
def test_t5_and_deberta_v2_encoders_train(tokenizer, backbone):
    if backbone == "t5":
        encoder = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    else:
        encoder = DebertaV2Config(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=48, max_position_embeddings=64)
    config = AutoConfig.for_model("iter", encoder_config=encoder.to_dict(), entity_types=ENTITY_TYPES,
                                  relation_types=RELATION_TYPES)
    model = AutoModel.from_config(config)
    assert config.d_ff == (64 if backbone == "t5" else 48)
    batch, _ = _batch(tokenizer)
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)


def test_config_rejects_bad_values(tiny_bert_config):
    with pytest.raises(ValueError, match="entity_types"):
        IterModel(IterConfig(encoder_config=tiny_bert_config, entity_types=[], relation_types=["r"]))
    with pytest.raises(ValueError, match="NONE type"):
        IterConfig(encoder_config=tiny_bert_config, entity_types=["A"], max_nest_depth=2, none_type=False)
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['nested'\]"):
        IterConfig(encoder_config=tiny_bert_config, entity_types=["A"], nested=False)
    with pytest.raises(ValueError, match="symmetric_relation_types"):
        IterConfig(encoder_config=tiny_bert_config, entity_types=["A"], relation_types=["r"],
                   symmetric_relation_types=["s"])


def test_symmetric_relations_are_trained_in_both_directions(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config, symmetric_relation_types=["Live_In"])
    batch, references = _batch(tokenizer, TOY_ROWS[:1])
    overfit(model, batch, steps=120)
    with torch.inference_mode():
        relations = strip_scores(model.decode(model(**batch), batch)[0])["relations"]
    expected = strip_scores(references[0])["relations"]
    assert relations == expected | {(tail, head, label) for head, tail, label in expected}


def test_ner_only_model_has_no_rr_score(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config, relation_types=[])
    assert model.rr_score is None
    batch, references = _batch(tokenizer, relation_types=[])
    overfit(model, batch, steps=150)
    with torch.inference_mode():
        output = model(**batch)
        predictions = model.decode(output, batch)
    assert float(output.link_loss) == 0.0
    assert [strip_scores(p)["entities"] for p in predictions] == [strip_scores(r)["entities"] for r in references]
    assert all(p["relations"] == [] for p in predictions)
