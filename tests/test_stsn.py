"""STSN: extended BIO targets, the Align Module, Eqs. 9/13/17/18 by hand, negative sampling, overfitting to exact
predictions (flat, nested and two-fold overlapping entities), save/load, the pipeline, ablation switches, config."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from transformers import AutoConfig, AutoModel, BertConfig, pipeline

from hf_jointie import StsnConfig, StsnModel
from hf_jointie.data import has_overlapping_entities
from hf_jointie.models.stsn.modeling_stsn import bio_tag_targets, sample_negatives
from hf_jointie.training import JointIEDataCollator, JointIETrainer, JointIETrainingArguments

#: Two-fold overlapping entities sharing their head, as in the paper's Fig. 4 ("Codeine intoxication" / "Codeine").
OVERLAP_ROW = {
    "id": "toy-overlap",
    "tokens": ["Boston", "Acme", "hired", "Mary", "."],
    "entities": [
        {"start": 0, "end": 2, "type": "Org"},
        {"start": 0, "end": 1, "type": "Loc"},
        {"start": 3, "end": 4, "type": "Peop"},
    ],
    "relations": [{"head": 2, "tail": 0, "type": "Work_For"}, {"head": 0, "tail": 1, "type": "Located_In"}],
}
ROWS = TOY_ROWS + [OVERLAP_ROW]
#: The extended BIO tags of ROWS by hand (Sect. 4.1.2): New York City / New York and Boston Acme / Boston overlap.
HAND_TAGS = [
    ["B-Peop", "I-Peop", "O", "O", "B-Loc", "O"],
    ["B-Peop", "O", "O", "B-Org", "I-Org", "O", "B-Loc/B-Loc", "I-Loc/I-Loc", "I-Loc", "O"],
    ["B-Org", "I-Org", "O", "B-Peop", "O", "B-Loc", "O"],
    ["O", "O", "O", "O"],
    ["B-Org/B-Loc", "I-Org", "O", "B-Peop", "O"],
]


def _tag(name: str) -> int:
    """Label id of an (extended) BIO tag: primary * (2T + 1) + secondary."""
    def plain(tag: str) -> int:
        return 0 if tag == "O" else 1 + 2 * ENTITY_TYPES.index(tag[2:]) + (tag[0] == "I")

    primary, _, secondary = name.partition("/")
    return plain(primary) * (2 * len(ENTITY_TYPES) + 1) + (plain(secondary) if secondary else 0)


def _encoder(tokenizer) -> BertConfig:
    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def _model(tokenizer, **kwargs) -> StsnModel:
    torch.manual_seed(0)
    kwargs.setdefault("dropout", 0.0)
    kwargs.setdefault("extended_bio", True)  # ROWS hold overlapping entities
    config = StsnConfig(encoder_config=_encoder(tokenizer), entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                        **kwargs)
    return StsnModel(config)


def _batch(tokenizer, rows=ROWS):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(rows)
    return batch, batch.pop("references")


@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    """A model overfit on the toy rows, saved with its tokenizer."""
    model = _model(tokenizer)
    batch, _ = _batch(tokenizer)
    overfit(model, batch, steps=100)
    directory = tmp_path_factory.mktemp("stsn")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, directory


def test_extended_bio_tags_the_papers_figure_4_example():
    # "Codeine intoxication in the neonate ." : AE [0, 2), DRUG [0, 1) -> B-AE/B-DRUG I-AE O O O O
    ae, drug, plain = 0, 1, 5  # two types: O, B-AE, I-AE, B-DRUG, I-DRUG
    labels = torch.tensor([[[0, 1, drug], [0, 2, ae]]])  # given in the "wrong" order: Definition 2 must reorder
    tags = bio_tag_targets(labels, 6, num_types=2, extended=True)
    b_ae, i_ae, b_drug = 1 + 2 * ae, 2 + 2 * ae, 1 + 2 * drug
    assert tags.tolist() == [[b_ae * plain + b_drug, i_ae * plain, 0, 0, 0, 0]]
    # plain BIO tags only the preceding entity; crossing overlap: a word only the second entity covers keeps its tag
    assert bio_tag_targets(labels, 6, 2, extended=False).tolist() == [[b_ae, i_ae, 0, 0, 0, 0]]
    crossing = torch.tensor([[[0, 2, ae], [1, 3, drug], [-1, -1, -1]]])
    i_drug = 2 + 2 * drug
    assert bio_tag_targets(crossing, 4, 2, True).tolist() == [[b_ae * plain, i_ae * plain + b_drug, i_drug * plain, 0]]
    # a third entity on a doubly tagged word is not tagged; a later disjoint entity goes back to the first layer
    three = torch.tensor([[[0, 3, ae], [0, 2, drug], [1, 2, ae], [4, 5, drug]]])
    expected = [b_ae * plain + b_drug, i_ae * plain + 2 + 2 * drug, i_ae * plain, 0, b_drug * plain]
    assert bio_tag_targets(three, 5, 2, True).tolist() == [expected]


def test_sample_negatives_draws_at_most_count_from_candidates():
    torch.manual_seed(0)
    candidates = torch.zeros(3, 4, 5, dtype=torch.bool)
    candidates[0, :2] = True  # 10 candidates
    candidates[1, 3, 1] = True  # 1 candidate
    chosen = sample_negatives(candidates, 4)
    assert chosen.flatten(1).sum(1).tolist() == [4, 1, 0]
    assert not (chosen & ~candidates).any()
    assert not sample_negatives(candidates, 0).any()
    draws = {tuple(sample_negatives(candidates, 4)[0].flatten().nonzero().flatten().tolist()) for _ in range(10)}
    assert len(draws) > 1


def test_align_module_max_pools_subwords(tokenizer):
    model = _model(tokenizer).eval()
    batch, _ = _batch(tokenizer, [TOY_ROWS[2]])  # "Johnsonville" -> johnson ##ville
    with torch.no_grad():
        words = model.aligned_word_states(batch["input_ids"], batch["attention_mask"], batch["word_index"],
                                          batch["word_mask"].bool())
        hidden = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert batch["input_ids"].size(1) == 10  # [CLS] acme corp hired johnson ##ville from boston . [SEP]
    assert torch.equal(words[0, 3], hidden[0, 4:6].max(0).values)
    assert torch.equal(words[0, [0, 1, 2, 4, 5, 6]], hidden[0, [1, 2, 3, 6, 7, 8]])


def test_loss_terms_match_equations_9_13_17_18(tokenizer):
    """Out of training every candidate span and every ordered pair of distinct gold entities is an instance."""
    model = _model(tokenizer).eval()
    batch, _ = _batch(tokenizer)
    output = model(**batch)
    assert torch.allclose(output.loss, output.tag_loss + output.entity_loss + output.relation_loss)
    tag_terms, span_terms, pair_terms = [], [], []
    for row, sentence in enumerate(ROWS):
        n = len(sentence["tokens"])
        gold = {(e["start"], e["end"]): ENTITY_TYPES.index(e["type"]) for e in sentence["entities"]}
        tags = torch.tensor([_tag(tag) for tag in HAND_TAGS[row]])
        tag_terms.append(F.cross_entropy(output.tag_logits[row, :n], tags, reduction="none"))
        for start in range(n):
            for width in range(min(10, n - start)):
                target = gold.get((start, start + width + 1), -1) + 1
                span_terms.append(F.cross_entropy(output.span_logits[row, start, width], torch.tensor(target)))
        entities = sentence["entities"]
        relations = {(r["head"], r["tail"], RELATION_TYPES.index(r["type"])) for r in sentence["relations"]}
        for h in range(len(entities)):
            for t in range(len(entities)):
                if h != t:
                    target = torch.tensor([float((h, t, k) in relations) for k in range(len(RELATION_TYPES))])
                    ends = [torch.tensor([x]) for x in (entities[h]["start"], entities[h]["end"],
                                                        entities[t]["start"], entities[t]["end"])]
                    logits = model.relation_logits(output.relation_hidden_states, torch.tensor([row]), *ends)[0]
                    pair_terms.append(F.binary_cross_entropy_with_logits(logits, target, reduction="none"))
    assert torch.allclose(output.tag_loss, torch.cat(tag_terms).mean(), atol=1e-5)
    assert torch.allclose(output.entity_loss, torch.stack(span_terms).mean(), atol=1e-5)
    assert torch.allclose(output.relation_loss, torch.cat(pair_terms).mean(), atol=1e-5)


def test_stacked_attention_follows_equations_3_to_7_and_feeds_each_decoder_its_stream(tokenizer):
    """By hand: `H_C = [H_E; H_R] W_C + b_C` (Eq. 3); E&R-L-A updates `H_L` first and L-E-A / L-R-A read the *updated*
    `H_L` (Eq. 4); every unit is multi-head attention + FFN, each sub-layer `LayerNorm(x + sublayer(x))` (post-norm,
    Eqs. 5-7); tagging reads `H_L^N`, span NER `H_E^N` (Eq. 11) and RE `H_R^N` (Eq. 15)."""
    model = _model(tokenizer, num_attention_layers=2).eval()
    batch, _ = _batch(tokenizer, TOY_ROWS[:2])
    mask = batch["word_mask"].bool()
    with torch.no_grad():
        output = model(**batch)
        embedded = model.aligned_word_states(batch["input_ids"], batch["attention_mask"], batch["word_index"], mask)
        labels, entities, relations = (getattr(model, f"{name}_map")(embedded) for name in ("label", "entity",
                                                                                          "relation"))

        def unit(module, query, memory):
            attended = module.attention(query, memory, memory, key_padding_mask=~mask, need_weights=False)[0]
            hidden = F.layer_norm(query + attended, (32,), module.attention_norm.weight, module.attention_norm.bias)
            ffn = module.ffn[2](torch.relu(module.ffn[0](hidden)))
            return F.layer_norm(hidden + ffn, (32,), module.ffn_norm.weight, module.ffn_norm.bias)

        for layer in model.layers:
            combined = layer.combine(torch.cat([entities, relations], dim=-1))
            labels = unit(layer.label_attention, labels, combined)
            entities = unit(layer.entity_attention, entities, labels)
            relations = unit(layer.relation_attention, relations, labels)
        assert torch.allclose(output.tag_logits, model.tag_classifier(labels), atol=1e-5)
        assert torch.allclose(output.relation_hidden_states, relations, atol=1e-5)
        width = model.width_embedding.weight
        span = torch.cat([entities[1, 3], entities[1, 4], width[1]])  # "Acme Corp" of the second row
        assert torch.allclose(output.span_logits[1, 3, 1], model.span_classifier(span), atol=1e-5)


def test_attention_units_are_head_parameters_of_the_optimiser(tokenizer, tmp_path):
    """The nine attention units (3 per layer) and every other added module train at `head_learning_rate`; only the
    pretrained encoder is in the backbone group."""
    model = _model(tokenizer)
    args = JointIETrainingArguments(output_dir=str(tmp_path), learning_rate=1e-5, head_learning_rate=1e-3,
                                    report_to="none")
    optimizer = JointIETrainer(model=model, args=args).create_optimizer()
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    units = [p for layer in model.layers for p in layer.parameters()]
    assert len([m for m in model.modules() if type(m).__name__ == "StsnAttentionUnit"]) == 9
    assert {rate[id(p)] for p in units} == {1e-3}
    assert {rate[id(p)] for p in model.encoder.parameters()} == {1e-5}
    assert len(rate) == len(list(model.parameters()))


def test_overlapping_entities_in_the_data_choose_the_extended_scheme():
    assert not has_overlapping_entities(TOY_ROWS[:1]) and has_overlapping_entities(ROWS)
    nested_later = {"entities": [{"start": 0, "end": 5}, {"start": 1, "end": 2}, {"start": 3, "end": 4}]}
    assert has_overlapping_entities([nested_later])
    assert not has_overlapping_entities([{"entities": [{"start": 0, "end": 2}, {"start": 2, "end": 3}]}])


def test_relation_context_is_the_max_pool_between_the_arguments(tokenizer):
    model = _model(tokenizer).eval()
    states = torch.randn(1, 9, 32)
    row = torch.tensor([0, 0, 0])
    h_start, h_end, t_start, t_end = (torch.tensor(v) for v in ([0, 6, 2], [2, 9, 4], [6, 0, 4], [7, 1, 5]))
    logits = model.relation_logits(states, row, h_start, h_end, t_start, t_end)
    width = model.width_embedding.weight
    contexts = (states[0, 2:6].max(0).values, states[0, 1:6].max(0).values, torch.zeros(32))  # last: adjacent
    expected = []
    for hs, he, ts, te, context in zip(h_start, h_end, t_start, t_end, contexts):
        head = [states[0, hs], states[0, he - 1], width[he - hs - 1]]
        tail = [states[0, ts], states[0, te - 1], width[te - ts - 1]]
        expected.append(model.relation_classifier(torch.cat(head + tail + [context])))
    assert torch.allclose(logits, torch.stack(expected), atol=1e-5)


def test_training_loss_uses_gold_and_sampled_negatives(tokenizer):
    """With no negatives, L_E (Eq. 13) is the cross-entropy over gold spans and L_R over related gold pairs only."""
    model = _model(tokenizer, num_negative_entities=0, num_negative_relations=0).train()
    batch, _ = _batch(tokenizer, [TOY_ROWS[0]])
    output = model(**batch)
    gold = output.span_logits[0, [0, 4], [1, 0]]
    assert torch.allclose(output.entity_loss, F.cross_entropy(gold, torch.tensor([3, 1])), atol=1e-5)
    logits = model.relation_logits(output.relation_hidden_states, torch.tensor([0]), torch.tensor([0]),
                                   torch.tensor([2]), torch.tensor([4]), torch.tensor([5]))
    target = torch.tensor([[1.0, 0.0, 0.0]])
    assert torch.allclose(output.relation_loss, F.binary_cross_entropy_with_logits(logits, target))
    sampled = _model(tokenizer, num_negative_entities=3).train()(**batch).entity_loss
    assert not torch.allclose(sampled, output.entity_loss)


def test_overfits_flat_nested_and_overlapping_entities_to_exact_predictions(tokenizer, trained):
    model, _ = trained
    batch, references = _batch(tokenizer)
    with torch.inference_mode():
        predictions = model.decode(model(**batch), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]
    assert all(0.4 <= x["score"] <= 1.0 for p in predictions for x in p["entities"] + p["relations"])


def test_decode_thresholds(tokenizer):
    model = _model(tokenizer).eval()
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        output = model(**{k: v for k, v in batch.items() if not k.endswith("labels") and k != "entity_fragments"})
        everything = model.decode(output, batch, relation_threshold=0.0)
        nothing = model.decode(output, batch, threshold=1.0)
    assert output.loss is None and all(not p["entities"] for p in nothing)
    model.config.nested = False
    flat = model.decode(output, batch)
    for prediction in flat:
        spans = [(e["start"], e["end"]) for e in prediction["entities"]]
        assert all(b[0] >= a[1] or a[0] >= b[1] for i, a in enumerate(spans) for b in spans[i + 1 :])
    assert sum(map(len, (p["entities"] for p in flat))) < sum(map(len, (p["entities"] for p in everything)))
    for prediction, row in zip(everything, ROWS):
        k = len(prediction["entities"])
        assert len(prediction["relations"]) == k * (k - 1) * len(RELATION_TYPES)
        for entity in prediction["entities"]:
            assert 0 <= entity["start"] < entity["end"] <= min(len(row["tokens"]), entity["start"] + 10)


def test_save_load_round_trip_and_auto_classes(tokenizer, trained):
    model, directory = trained
    config = AutoConfig.from_pretrained(directory)
    assert isinstance(config, StsnConfig) and config.num_heads == 8 and config.relation_threshold == 0.4
    loaded = AutoModel.from_pretrained(directory).eval()
    assert isinstance(loaded, StsnModel)
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        assert torch.allclose(model(**batch).loss, loaded(**batch).loss)
        assert loaded.decode(loaded(**batch), batch) == model.decode(model(**batch), batch)
    built = AutoModel.from_config(AutoConfig.for_model(
        "stsn", encoder_config=_encoder(tokenizer).to_dict(), entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES))
    assert isinstance(built, StsnModel) and len(built.layers) == 3
    assert all(unit.attention.num_heads == 8 for layer in built.layers
               for unit in (layer.label_attention, layer.entity_attention, layer.relation_attention))


def test_pipeline_through_the_shared_path(trained):
    _, directory = trained
    ie = pipeline("joint-ie", model=str(directory))
    text = "Boston Acme hired Mary."
    result = ie(text)
    assert sorted((e["text"], e["type"]) for e in result["entities"]) == [
        ("Boston", "Loc"), ("Boston Acme", "Org"), ("Mary", "Peop")]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in result["entities"])
    named = {(result["entities"][r["head"]]["text"], result["entities"][r["tail"]]["text"], r["type"])
             for r in result["relations"]}
    assert named == {("Mary", "Boston Acme", "Work_For"), ("Boston Acme", "Boston", "Located_In")}


@pytest.mark.parametrize(
    ("flags", "follows", "ignores"),
    [
        ({}, ("entity_map", "relation_map"), ()),
        ({"interaction": "ner_to_re"}, ("entity_map",), ("relation_map",)),
        ({"interaction": "re_to_ner"}, ("relation_map",), ("entity_map",)),
        ({"interaction": "none"}, (), ("entity_map", "relation_map")),
    ],
)
def test_interaction_ablations_route_e_and_r_l_a(tokenizer, flags, follows, ignores):
    """The tag logits read H_L, which (Sect. 4.4.2) attends to H_C, H_E, H_R or itself depending on the ablation."""
    model = _model(tokenizer, **flags).eval()
    assert all((layer.combine is not None) == (not flags) for layer in model.layers)
    batch, _ = _batch(tokenizer, TOY_ROWS[:2])
    with torch.no_grad():
        before = model(**batch).tag_logits
        for name in follows + ignores:
            getattr(model, name).weight.add_(0.5)
            after = model(**batch).tag_logits
            assert torch.allclose(before, after) == (name in ignores), name
            before = after


def test_without_label_and_stacked_attention_ablations_build_and_train(tokenizer):
    without_label = _model(tokenizer, use_tagging=False, use_stacked_attention=False)
    assert without_label.tag_classifier is None and without_label.label_map is None and len(without_label.layers) == 0
    only_tagging = _model(tokenizer, use_stacked_attention=False, extended_bio=False)
    assert only_tagging.tag_classifier.out_features == 2 * len(ENTITY_TYPES) + 1
    batch, _ = _batch(tokenizer)
    output = without_label.train()(**batch)
    assert output.tag_loss is None and torch.allclose(output.loss, output.entity_loss + output.relation_loss)
    output.loss.backward()
    for model in (without_label, only_tagging, _model(tokenizer, use_tagging=False, num_attention_layers=1)):
        assert math.isfinite(overfit(model, batch, steps=2))


def test_config_rejects_bad_values(tokenizer):
    encoder = _encoder(tokenizer)
    with pytest.raises(ValueError, match="num_heads"):
        StsnConfig(encoder_config=encoder, entity_types=["A"], relation_types=["r"], num_heads=5)
    with pytest.raises(ValueError, match="interaction"):
        StsnConfig(encoder_config=encoder, entity_types=["A"], relation_types=["r"], interaction="both")
    with pytest.raises(ValueError, match="relation_threshold"):
        StsnConfig(encoder_config=encoder, entity_types=["A"], relation_types=["r"], relation_threshold=1.5)
    with pytest.raises(ValueError, match="max_span_width"):
        StsnConfig(encoder_config=encoder, entity_types=["A"], relation_types=["r"], max_span_width=0)
    with pytest.raises(ValueError, match="relation_types"):
        StsnModel(StsnConfig(encoder_config=encoder, entity_types=["A"], relation_types=[]))
