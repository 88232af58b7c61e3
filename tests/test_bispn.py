"""BiSPN: Hungarian matching vs brute force, the loss equations by hand, each loss weight switch, overfitting to exact
predictions, the consistent decoding rule, save/load, Auto classes, the joint-ie pipeline, a T5 backbone."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from transformers import AutoConfig, AutoModel, T5Config, pipeline

from hf_jointie import BispnConfig, BispnModel
from hf_jointie.models.bispn import BispnOutput, hungarian_match
from hf_jointie.training import JointIEDataCollator

SMALL = {"num_entity_queries": 6, "num_relation_queries": 4, "num_shared_decoder_layers": 1, "dropout": 0.0}
WEIGHTS = (
    "entity_loss_weight", "relation_loss_weight", "consistency_loss_weight", "has_relation_loss_weight",
    "linking_loss_weight",
)
TERMS = ("entity_loss", "relation_loss", "consistency_loss", "has_relation_loss", "linking_loss")
#: The paper's equations read literally: one-to-one matching and an unweighted null label.
ONE_TO_ONE = {"entity_label_repeats": 1, "relation_label_repeats": 1, "null_label_weight": 1.0}


def _model(encoder_config, **kwargs) -> BispnModel:
    torch.manual_seed(0)
    config = BispnConfig(
        encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES, **{**SMALL, **kwargs}
    )
    return BispnModel(config)


def _batch(tokenizer, rows=TOY_ROWS):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(rows)
    return batch, batch.pop("references")


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A tiny BiSPN overfitted on the toy rows (shared by the overfitting, save/load and pipeline tests)."""
    from transformers import BertConfig

    encoder = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    model = _model(encoder)
    batch, references = _batch(tokenizer)
    overfit(model, batch, steps=250)
    return model, batch, references


def test_hungarian_matches_brute_force_over_permutations():
    generator = torch.Generator().manual_seed(0)
    for queries, gold in [(4, 3), (5, 2), (3, 3), (2, 4)]:
        cost = torch.rand(3, queries, gold + 1, generator=generator)  # one padding column that must be ignored
        num_gold = torch.tensor([gold, gold - 1, 0])
        assignment = hungarian_match(cost, num_gold)
        for row in range(3):
            count = int(num_gold[row])
            matched = assignment[row][assignment[row] >= 0]
            assert len(set(matched.tolist())) == len(matched) == min(queries, count)
            assert all(0 <= g < count for g in matched.tolist())
            total = sum(float(cost[row, q, g]) for q, g in enumerate(assignment[row].tolist()) if g >= 0)
            if queries >= count:  # every gold item gets a distinct query
                perms = itertools.permutations(range(queries), count)  # perm[g] = the query of gold item g
                best = min((sum(float(cost[row, q, g]) for g, q in enumerate(perm)) for perm in perms), default=0.0)
            else:  # every query gets a distinct gold item
                perms = itertools.permutations(range(count), queries)  # perm[q] = the gold item of query q
                best = min(sum(float(cost[row, q, g]) for q, g in enumerate(perm)) for perm in perms)
            assert total == pytest.approx(best, abs=1e-6)


def test_one_to_many_matching_offers_every_gold_item_in_turn():
    """`repeats`: each gold item is offered `repeats // count` times (the first `repeats % count` once more), at most
    once per query; the assignment is optimal over those offers, and more gold items than `repeats` are all offered."""
    generator = torch.Generator().manual_seed(1)
    cost = torch.rand(2, 6, 3, generator=generator)
    assignment = hungarian_match(cost, torch.tensor([2, 3]), repeats=5)
    for row, count in ((0, 2), (1, 3)):
        offered = [g % count for g in range(5)]
        matched = assignment[row][assignment[row] >= 0].tolist()
        assert sorted(matched) == sorted(offered)  # all five offers taken, by five distinct queries
        total = sum(float(cost[row, q, g]) for q, g in enumerate(assignment[row].tolist()) if g >= 0)
        best = min(
            sum(float(cost[row, q, offered[column]]) for column, q in enumerate(perm))
            for perm in itertools.permutations(range(6), 5)
        )
        assert total == pytest.approx(best, abs=1e-6)
    # more offers than queries: every query is matched; more gold items than offers: each gold item at most once
    assert (hungarian_match(cost, torch.tensor([2, 3]), repeats=50) >= 0).all()
    many = hungarian_match(torch.rand(1, 6, 4, generator=generator), torch.tensor([4]), repeats=2)[0]
    assert sorted(many[many >= 0].tolist()) == [0, 1, 2, 3]


def test_one_to_many_loss_with_balanced_null_weight(tokenizer, tiny_bert_config):
    """Eq. 14 with the one-to-many matching and the balanced null weight: 2 gold entities offered twice each to 6
    queries; the 2 unmatched queries' null terms weigh 4 / 2 each. Checked against brute force over all offers."""
    rows = [{
        "tokens": ["john", "lives", "in", "boston"],
        "entities": [{"start": 0, "end": 1, "type": "Peop"}, {"start": 3, "end": 4, "type": "Loc"}],
        "relations": [{"head": 0, "tail": 1, "type": "Live_In"}],
    }]
    model = _model(tiny_bert_config, entity_label_repeats=4, null_label_weight=None).eval()
    batch, _ = _batch(tokenizer, rows)
    out = model(**batch)
    ls = {k: torch.log_softmax(getattr(out, f"entity_{k}_logits")[0], -1) for k in ("start", "end", "type")}
    gold = [(0, 0, ENTITY_TYPES.index("Peop")), (3, 3, ENTITY_TYPES.index("Loc"))] * 2  # the four offers

    def prob(q, entity):
        return sum(float(ls[k][q, i].detach().exp()) for k, i in zip(("start", "end", "type"), entity))

    perm = max(itertools.permutations(range(6), 4), key=lambda p: sum(prob(q, gold[g]) for g, q in enumerate(p)))
    expected = -sum(ls["start"][q, gold[g][0]] + ls["end"][q, gold[g][1]] + ls["type"][q, gold[g][2]]
                    for g, q in enumerate(perm))
    expected -= 2.0 * sum(ls["type"][q, len(ENTITY_TYPES)] for q in range(6) if q not in perm)
    assert torch.allclose(out.entity_loss, expected, atol=1e-5)
    # a fixed weight replaces the ratio
    fixed = _model(tiny_bert_config, entity_label_repeats=4, null_label_weight=0.25).eval()(**batch).entity_loss
    expected_fixed = expected + 1.75 * sum(ls["type"][q, len(ENTITY_TYPES)] for q in range(6) if q not in perm)
    assert torch.allclose(fixed, expected_fixed, atol=1e-5)


def test_loss_equations_by_hand(tokenizer, tiny_bert_config):
    """One sentence, one gold entity in one gold triple: Eqs. 14-16, 18, 20-22 and 27 written out with loops."""
    rows = [{
        "tokens": ["john", "lives", "in", "boston"],
        "entities": [{"start": 0, "end": 1, "type": "Peop"}, {"start": 3, "end": 4, "type": "Loc"}],
        "relations": [{"head": 0, "tail": 1, "type": "Live_In"}],
    }]
    model = _model(tiny_bert_config, **ONE_TO_ONE).eval()
    batch, _ = _batch(tokenizer, rows)
    out = model(**batch)
    ls = {name: torch.log_softmax(getattr(out, f"{name}_logits")[0], -1) for name in (
        "entity_start", "entity_end", "entity_type", "argument_start", "argument_end", "argument_type",
        "relation_type")}
    gold = [(0, 0, ENTITY_TYPES.index("Peop")), (3, 3, ENTITY_TYPES.index("Loc"))]
    null, me, mr = len(ENTITY_TYPES), 6, 4

    def entity_prob(prefix, q, entity):
        s, e, t = entity
        return sum(ls[f"{prefix}_{k}"][q, i].exp() for k, i in (("start", s), ("end", e), ("type", t)))

    # entities: brute-force matching, then Eq. 14
    def matched_prob(perm):  # perm[g] = the entity query of gold entity g
        return sum(entity_prob("entity", q, gold[g]) for g, q in enumerate(perm))

    match = max(itertools.permutations(range(me), 2), key=lambda perm: float(matched_prob(perm).detach()))
    expected = 0.0
    for q in range(me):
        if q in match:
            s, e, t = gold[match.index(q)]
            expected -= ls["entity_start"][q, s] + ls["entity_end"][q, e] + ls["entity_type"][q, t]
        else:
            expected -= ls["entity_type"][q, null]
    assert torch.allclose(out.entity_loss, expected, atol=1e-5)
    # triple: the relation query maximising the summed probabilities, then Eqs. 15-16
    rel = RELATION_TYPES.index("Live_In")
    costs = [
        ls["relation_type"][j, rel].exp()
        + entity_prob("argument", j, gold[0])
        + entity_prob("argument", mr + j, gold[1])
        for j in range(mr)
    ]
    j_star = max(range(mr), key=lambda j: float(costs[j].detach()))
    expected = -sum(ls["relation_type"][j, rel if j == j_star else len(RELATION_TYPES)] for j in range(mr))
    for q, (s, e, t) in ((j_star, gold[0]), (mr + j_star, gold[1])):
        expected -= ls["argument_start"][q, s] + ls["argument_end"][q, e] + ls["argument_type"][q, t]
    for q in range(2 * mr):
        if q not in (j_star, mr + j_star):
            expected -= ls["argument_type"][q, null]
    assert torch.allclose(out.relation_loss, expected, atol=1e-5)
    # Eq. 20: both matched entity queries are in the triple
    y = torch.tensor([1.0 if q in match else 0.0 for q in range(me)])
    assert torch.allclose(out.has_relation_loss, F.binary_cross_entropy_with_logits(out.has_relation_logits[0], y))
    # Eq. 27
    link = torch.zeros(me, mr)
    link[match[0], j_star] = link[match[1], j_star] = 1.0
    assert torch.allclose(out.linking_loss, F.binary_cross_entropy_with_logits(out.link_logits[0], link))

    # Eqs. 18, 21-22 with explicit KL divergences
    def kl(prefix_p, a, prefix_q, b):
        return sum(F.kl_div(ls[f"{prefix_q}_{k}"][b], ls[f"{prefix_p}_{k}"][a], log_target=True, reduction="sum")
                   for k in ("start", "end", "type"))

    rel_to_ent = sum(min(kl("entity", a, "argument", b) for a in range(me)) for b in range(2 * mr))
    omega = [a for a in range(me) if torch.sigmoid(out.has_relation_logits[0, a]) >= 0.5]
    ent_to_rel = sum((min(kl("argument", b, "entity", a) for b in range(2 * mr)) for a in omega), torch.tensor(0.0))
    assert torch.allclose(out.consistency_loss, rel_to_ent + ent_to_rel, atol=1e-4)
    config = model.config
    total = sum(getattr(config, w) * getattr(out, t) for w, t in zip(WEIGHTS, TERMS))
    assert torch.allclose(out.loss, total) and config.has_relation_loss_weight == config.consistency_loss_weight


@pytest.mark.parametrize("term", range(len(TERMS)))
def test_each_loss_weight_switches_its_term(tokenizer, tiny_bert_config, term):
    """With only one weight non-zero the loss is that term, and heads that only other terms train get no gradient."""
    weights = {name: float(i == term) for i, name in enumerate(WEIGHTS)}
    model = _model(tiny_bert_config, **weights)
    batch, _ = _batch(tokenizer)
    out = model(**batch)
    assert torch.allclose(out.loss, getattr(out, TERMS[term]))
    out.loss.backward()
    trained_by = {  # a head -> the terms whose gradient reaches it
        "relation_type": {"relation_loss"}, "has_relation": {"has_relation_loss"}, "link_bilinear": {"linking_loss"},
        "entity_start": {"entity_loss", "consistency_loss"},
    }
    for head, terms in trained_by.items():
        grads = [p.grad for p in getattr(model, head).parameters()]
        reached = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
        assert reached == (TERMS[term] in terms), head


def test_overfits_to_exact_predictions(trained):
    model, batch, references = trained
    with torch.inference_mode():
        predictions = model.decode(model(**batch), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]
    assert all(0.5 < item["score"] <= 1.0 for p in predictions for key in ("entities", "relations") for item in p[key])


def _forced_output(entity, head, tail, num_words=4, me=1, mr=1) -> BispnOutput:
    """Logits that decode to `entity` for every entity query and to the triple (head, tail, Live_In) for every relation
    query; spans are (start, inclusive end, type)."""
    big = 20.0

    def one_hot(size, index, queries):
        return torch.full((1, queries, size), -big).index_fill_(2, torch.tensor([index]), big)

    def argument(which):
        return torch.cat([one_hot(num_words, span[which], mr) for span in (head, tail)], 1)

    return BispnOutput(
        entity_start_logits=one_hot(num_words, entity[0], me), entity_end_logits=one_hot(num_words, entity[1], me),
        entity_type_logits=one_hot(len(ENTITY_TYPES) + 1, entity[2], me), has_relation_logits=torch.zeros(1, me),
        argument_start_logits=argument(0), argument_end_logits=argument(1),
        argument_type_logits=torch.cat([one_hot(len(ENTITY_TYPES) + 1, span[2], mr) for span in (head, tail)], 1),
        relation_type_logits=one_hot(len(RELATION_TYPES) + 1, RELATION_TYPES.index("Live_In"), mr),
        link_logits=torch.zeros(1, me, mr),
    )


def test_decoding_keeps_entity_and_relation_sets_consistent(tiny_bert_config):
    peop, loc = ENTITY_TYPES.index("Peop"), ENTITY_TYPES.index("Loc")
    batch = {"word_mask": torch.ones(1, 4, dtype=torch.bool)}
    # both arguments are decoded entities (queries 0 and 2 give the same entity: merged) -> the triple is kept
    model = _model(tiny_bert_config).eval()
    out = _forced_output((0, 1, peop), (0, 1, peop), (3, 3, loc), me=3)
    for name in ("start", "end", "type"):  # entity query 1 gives the tail
        getattr(out, f"entity_{name}_logits")[0, 1] = getattr(out, f"argument_{name}_logits")[0, 1]
    [prediction] = model.decode(out, batch)
    assert strip_scores(prediction) == {
        "entities": [(0, 2, "Peop", ()), (3, 4, "Loc", ())],
        "relations": {((0, 2, "Peop", ()), (3, 4, "Loc", ()), "Live_In")},
    }
    # the tail is not a decoded entity: "filter" drops the triple, "add" adds the entity
    out = _forced_output((0, 1, peop), (0, 1, peop), (3, 3, loc))
    [filtered] = model.decode(out, batch)
    assert strip_scores(filtered) == {"entities": [(0, 2, "Peop", ())], "relations": set()}
    model.config.relation_arguments = "add"
    [added] = model.decode(out, batch)
    assert strip_scores(added) == strip_scores(prediction)
    assert model.decode(out, batch, threshold=1.0, relation_threshold=1.0) == [{"entities": [], "relations": []}]


def test_save_load_round_trip_auto_classes_and_pipeline(tmp_path, tokenizer, trained):
    model, batch, _ = trained
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, BispnConfig) and config.num_entity_queries == 6 and config.hidden_size == 32
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, BispnModel)
    with torch.inference_mode():
        assert torch.allclose(model(**batch).loss, loaded(**batch).loss)
        assert model.decode(model(**batch), batch) == loaded.decode(loaded(**batch), batch)
    text = "John Smith lives in Boston ."
    result = pipeline("joint-ie", model=str(tmp_path))(text)
    entities = {(e["text"], e["type"]) for e in result["entities"]}
    assert entities == {("John Smith", "Peop"), ("Boston", "Loc")}
    by_id = {e["id"]: e["text"] for e in result["entities"]}
    relations = {(by_id[r["head"]], by_id[r["tail"]], r["type"]) for r in result["relations"]}
    assert relations == {("John Smith", "Boston", "Live_In")}


def test_auto_config_for_model_and_t5_encoder(tokenizer):
    t5 = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    config = AutoConfig.for_model(
        "bispn", encoder_config=t5.to_dict(), entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES, **SMALL
    )
    assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == (32, 4, 64)
    model = AutoModel.from_config(config)
    assert type(model.encoder).__name__ == "T5Stack" and len(model.encoder_query_layers) == 2
    batch, _ = _batch(tokenizer)
    assert torch.isfinite(model(**batch).loss)


def test_paper_defaults_and_bad_config_values(tiny_bert_config):
    config = BispnConfig(encoder_config=tiny_bert_config, entity_types=["A"], relation_types=["r"])
    assert (config.num_entity_queries, config.num_relation_queries, config.num_shared_decoder_layers) == (30, 25, 4)
    assert (config.consistency_loss_weight, config.linking_loss_weight) == (1e-3, 1e-4)
    assert (config.entity_label_repeats, config.relation_label_repeats, config.null_label_weight) == (10, 15, None)
    for field, value in [("num_entity_queries", 0), ("num_attention_heads", 3), ("linking_loss_weight", -1.0),
                         ("relation_arguments", "drop"), ("entity_threshold", 2.0), ("entity_label_repeats", 0),
                         ("null_label_weight", -0.5)]:
        with pytest.raises(ValueError, match=field):
            BispnConfig(encoder_config=tiny_bert_config, entity_types=["A"], relation_types=["r"], **{field: value})
    with pytest.raises(ValueError, match="relation_types"):
        BispnModel(BispnConfig(encoder_config=tiny_bert_config, entity_types=["A"], relation_types=[]))


def _layer_output(output) -> torch.Tensor:
    """The hidden states a transformers layer returns (a tensor, or a tuple starting with it)."""
    return output[0] if isinstance(output, tuple) else output


def test_queries_pass_the_backbones_own_layers_under_one_way_attention(tokenizer, tiny_bert_config):
    """Sect. 3.2.1: the encoder runs on [tokens; queries] with the tokens x queries block masked. Running the
    pretrained BertLayer itself on the concatenation with that mask gives, in the query rows, what the model computes
    without adding a parameter; the token rows are unchanged by the queries."""
    model = _model(tiny_bert_config).eval()
    assert model.shares_encoder_layers and len(model.encoder_query_layers) == 0
    batch, _ = _batch(tokenizer, TOY_ROWS[:2])
    hidden = model.encoder.embeddings(input_ids=batch["input_ids"])
    queries = torch.cat([model.entity_queries.weight, model.relation_queries.weight]).expand(2, -1, -1)
    length, count = hidden.size(1), queries.size(1)
    real = torch.cat([batch["attention_mask"].bool(), torch.ones(2, count, dtype=torch.bool)], 1)
    allowed = real[:, None, :].expand(-1, length + count, -1).clone()
    allowed[:, :length, length:] = False  # tokens never see queries (one-way)
    mask = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float).min)[:, None]
    states = torch.cat([hidden, queries], 1)
    with torch.no_grad():
        for layer in model.encoder.encoder.layer:
            states = _layer_output(layer(states, attention_mask=mask))
        alone = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        real_tokens = batch["attention_mask"].bool()
        assert torch.allclose(states[:, :length][real_tokens], alone[real_tokens], atol=1e-5)
        captured = {}
        handle = model.shared_decoder[0].register_forward_pre_hook(lambda module, args: captured.update(q=args[1]))
        model(**batch)
        handle.remove()
    assert torch.allclose(captured["q"], states[:, length:], atol=1e-5)


def test_shared_decoder_starts_from_the_encoders_top_layers(tokenizer, tiny_bert_config, tmp_path):
    """`post_load_backbone` copies encoder layer L - N + k into shared-decoder block k: on tokens alone, a copied
    block computes exactly the pretrained layer."""
    from transformers import BertModel

    torch.manual_seed(1)
    BertModel(tiny_bert_config).save_pretrained(tmp_path)
    model = BispnModel.from_encoder_pretrained(
        tmp_path, ENTITY_TYPES, RELATION_TYPES, **{**SMALL, "num_shared_decoder_layers": 2}
    ).eval()
    tokens = torch.randn(2, 5, 32)
    padding = torch.zeros(2, 5, dtype=torch.bool)
    with torch.no_grad():
        for block, layer in zip(model.shared_decoder, model.encoder.encoder.layer):
            expected = _layer_output(layer(tokens))
            assert torch.allclose(block(tokens, torch.zeros(2, 1, 32), padding)[0], expected, atol=1e-4)
    fresh = _model(tiny_bert_config, init_decoder_from_encoder=False)
    fresh.post_load_backbone()
    assert not torch.allclose(fresh.shared_decoder[0].ffn[0].weight, fresh.encoder.encoder.layer[0].intermediate.dense.weight)


def test_flat_decoding_keeps_the_best_of_overlapping_entities_and_boundary_threshold(tiny_bert_config):
    peop, loc = ENTITY_TYPES.index("Peop"), ENTITY_TYPES.index("Loc")
    batch = {"word_mask": torch.ones(1, 4, dtype=torch.bool)}
    model = _model(tiny_bert_config).eval()
    out = _forced_output((0, 1, peop), (0, 1, peop), (3, 3, loc), me=2)
    # entity query 1: the overlapping span (1, 2) as Loc, less certain of its type than query 0
    out.entity_start_logits[0, 1] = torch.tensor([-20.0, 20.0, -20.0, -20.0])
    out.entity_end_logits[0, 1] = torch.tensor([-20.0, -20.0, 20.0, -20.0])
    out.entity_type_logits[0, 1] = torch.full((len(ENTITY_TYPES) + 1,), -1.0).index_fill_(0, torch.tensor([loc]), 1.0)
    [nested] = model.decode(out, batch)
    assert [(e["start"], e["end"]) for e in nested["entities"]] == [(0, 2), (1, 3)]
    model.config.nested = False
    [flat] = model.decode(out, batch)
    assert strip_scores(flat)["entities"] == [(0, 2, "Peop", ())]
    # boundary threshold: spread the start over two words -> P_start * P_end = 0.5
    out.entity_start_logits[0, 0] = torch.tensor([20.0, 20.0, -20.0, -20.0])
    model.config.entity_boundary_threshold = 0.6
    assert [(e["start"], e["end"]) for e in model.decode(out, batch)[0]["entities"]] == [(1, 3)]


def test_one_adamw_step_of_the_papers_weighted_loss_trains_every_consistency_and_linking_head(tokenizer,
                                                                                                tiny_bert_config):
    """At the paper's alpha = 1e-3, beta = 1e-4 the has-relation MLP (Eq. 19) and the biaffine linking layer (Eq. 25)
    are trained only by their own terms, and AdamW's normalised step moves them by ~lr; the consistency KL terms
    reach the boundary predictors. Turning a weight to 0 leaves its head untouched."""
    batch, _ = _batch(tokenizer)

    def step(**weights):
        model = _model(tiny_bert_config, **weights).train()
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
        model(**batch).loss.backward()
        optimizer.step()
        return {name: float((p.detach() - before[name]).abs().max()) for name, p in model.named_parameters()}

    moved = step()
    for name in ("has_relation.0.weight", "has_relation.3.weight", "link_bilinear.weight", "link_entity_linear.weight"):
        assert moved[name] > 5e-4, name
    off = step(has_relation_loss_weight=0.0, linking_loss_weight=0.0)
    assert off["has_relation.3.weight"] == 0.0 and off["link_bilinear.weight"] == 0.0
    # the KL terms alone move the entity boundary predictor (only through L_rel->ent and L_ent->rel)
    only_kl = step(entity_loss_weight=0.0, relation_loss_weight=0.0, has_relation_loss_weight=0.0,
                   linking_loss_weight=0.0)
    assert only_kl["entity_start.query.weight"] > 5e-4 and only_kl["relation_type.0.weight"] == 0.0


def test_freeze_backbone_callback_freezes_the_encoder_for_the_first_epochs(tokenizer, tiny_bert_config, tmp_path):
    from datasets import Dataset

    from hf_jointie.callbacks import FreezeBackboneCallback
    from hf_jointie.training import JointIETrainer, JointIETrainingArguments

    model = _model(tiny_bert_config, freeze_backbone_epochs=1.0)
    snapshots = []

    class Snapshot(FreezeBackboneCallback.__base__):
        def on_epoch_end(self, args, state, control, **kwargs):
            snapshots.append((model.encoder.embeddings.word_embeddings.weight.detach().clone(),
                              model.entity_type[0].weight.detach().clone()))

    start = (model.encoder.embeddings.word_embeddings.weight.detach().clone(), model.entity_type[0].weight.detach().clone())
    args = JointIETrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=2,
                                    learning_rate=1e-2, report_to="none", save_strategy="no", use_cpu=True,
                                    remove_unused_columns=False, disable_tqdm=True)
    trainer = JointIETrainer(model=model, args=args, train_dataset=Dataset.from_list(TOY_ROWS),
                             data_collator=JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES),
                             callbacks=[FreezeBackboneCallback(), Snapshot()])
    trainer.train()
    (encoder_1, head_1), (encoder_2, _) = snapshots
    assert torch.equal(encoder_1, start[0]) and not torch.equal(head_1, start[1])  # epoch 1: only the heads learn
    assert not torch.equal(encoder_2, encoder_1)  # epoch 2: the encoder too
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="epochs"):
        FreezeBackboneCallback(-1)


def test_queries_start_as_embedded_words_and_stay_apart_in_the_pretrained_layers(tokenizer, tiny_bert_config, tmp_path):
    """With `share_encoder_layers`, `from_encoder_pretrained` starts each query as the LayerNormed input embedding of
    a distinct vocabulary word: at `initializer_range` the pretrained layers map every query to nearly one vector
    (MiniLM: mean pairwise cosine 0.999 after six layers, 0.17 from embedded words), and the set predictor cannot
    tell its queries apart. A tiny random encoder does not show the collapse, so this pins the initialisation."""
    from transformers import BertModel

    torch.manual_seed(1)
    BertModel(tiny_bert_config).save_pretrained(tmp_path)
    model = BispnModel.from_encoder_pretrained(tmp_path, ENTITY_TYPES, RELATION_TYPES, **SMALL).eval()
    embeddings = model.encoder.embeddings
    with torch.no_grad():
        words = embeddings.LayerNorm(embeddings.word_embeddings.weight)
        queries = torch.cat([model.entity_queries.weight, model.relation_queries.weight])
        distance = torch.cdist(queries, words, compute_mode="donot_use_mm_for_euclid_dist")
        nearest = distance.argmin(-1)
        assert torch.allclose(distance.min(-1).values, torch.zeros(len(queries)), atol=1e-5)
        assert len(set(nearest.tolist())) == len(queries)
