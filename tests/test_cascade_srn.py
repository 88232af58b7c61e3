"""Cascade-SRN: SRN gate equations, losses, marker insertion, both fusion variants overfitting to exact predictions,
save/load, Auto classes and the joint-ie pipeline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS, overfit, strip_scores
from transformers import AutoConfig, AutoModel, BertConfig, pipeline

from hf_jointie import CascadeSrnConfig, CascadeSrnModel
from hf_jointie.models.cascade_srn import SelectionRecurrentNetwork
from hf_jointie.models.cascade_srn.srn import MEMORIES, reverse_words, selection_gates
from hf_jointie.training import JointIEDataCollator

#: The toy rows plus two sentences for the pipeline test. `toy-1` and `toy-2` hold candidate subjects with different
#: objects (Appendix B trains every gold entity as a subject), which the literal Eq. 11 cannot represent (see
#: `test_object_module_depends_on_the_subject_outside_its_span`).
LATE_ROWS = TOY_ROWS + [
    {"tokens": ["Acme", "Corp", "hired", "Johnsonville", "."],
     "entities": [{"start": 0, "end": 2, "type": "Org"}, {"start": 3, "end": 4, "type": "Peop"}],
     "relations": [{"head": 1, "tail": 0, "type": "Work_For"}]},
    {"tokens": ["Mary", "lives", "in", "New", "York", "City", "."],
     "entities": [{"start": 0, "end": 1, "type": "Peop"}, {"start": 3, "end": 6, "type": "Loc"}],
     "relations": [{"head": 0, "tail": 1, "type": "Live_In"}]},
]


def _config(encoder_config, **kwargs) -> CascadeSrnConfig:
    return CascadeSrnConfig(
        encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES, dropout=0.0, **kwargs
    )


def _model(encoder_config, **kwargs) -> CascadeSrnModel:
    torch.manual_seed(0)
    return CascadeSrnModel(_config(encoder_config, **kwargs))


def _batch(tokenizer, rows=TOY_ROWS):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(rows)
    return batch, batch.pop("references")


def _inputs(batch):
    return {key: batch[key] for key in ("input_ids", "attention_mask", "word_index", "word_mask")}


@pytest.fixture(scope="module")
def late_model(tokenizer):
    """Late fusion overfitted on `LATE_ROWS` (shared by the overfitting and pipeline tests)."""
    bert = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)
    model = _model(bert, fusion="late")
    batch, _ = _batch(tokenizer, LATE_ROWS)
    overfit(model, batch, steps=400, lr=5e-3)
    return model


def test_selection_gates_on_binary_masters():
    """Eq. 4-5 with 0/1 master gates: an independent gate is on only for a neuron selected by its task alone; a shared
    gate whenever all its tasks select the neuron."""
    for e in (0.0, 1.0):
        for s in (0.0, 1.0):
            for o in (0.0, 1.0):
                gates = selection_gates(torch.tensor([e]), torch.tensor([s]), torch.tensor([o])).squeeze(-1)
                expected = [e * (1 - s) * (1 - o), s * (1 - e) * (1 - o), o * (1 - e) * (1 - s), e * s, e * o, s * o,
                            e * s * o]
                assert gates.tolist() == expected, (e, s, o, gates)


def test_srn_matches_equations_1_to_10_by_hand():
    torch.manual_seed(1)
    srn = SelectionRecurrentNetwork(input_size=3, hidden_size=2)
    x = torch.randn(2, 3, 3)
    W_x, b, W_h = srn.input_gates.weight, srn.input_gates.bias, srn.hidden_gates.weight
    h, c = torch.zeros(2, 2), torch.zeros(2, 2)
    expected = []
    for t in range(3):
        z = x[:, t] @ W_x.T + b + h @ W_h.T
        f, o, c_hat = torch.sigmoid(z[:, 0:2]), torch.sigmoid(z[:, 2:4]), torch.tanh(z[:, 4:6])  # Eq. 1
        c_tilde = f * c  # Eq. 2
        re, rs, ro, te, ts, to = (torch.sigmoid(z[:, 6 + 2 * i: 8 + 2 * i]) for i in range(6))  # Eq. 3 (twice)

        def gates(pe, ps, po):  # Eq. 4-5, written out
            es, eo, so, eso = pe * ps, pe * po, ps * po, pe * ps * po
            return [pe - es - eo + eso, ps - es - so + eso, po - eo - so + eso, es, eo, so, eso]

        memories = [gt * c_tilde + gh * c_hat for gh, gt in zip(gates(re, rs, ro), gates(te, ts, to))]  # Eq. 6-7
        c = torch.tanh(torch.cat(memories, dim=-1) @ srn.cell.weight.T + srn.cell.bias)  # Eq. 8, squashed
        h = o * torch.tanh(c)  # Eq. 9
        expected.append(torch.stack([torch.tanh(m) for m in memories], dim=1))  # Eq. 10
    assert torch.allclose(srn(x), torch.stack(expected, dim=1), atol=1e-6)


def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")


def _span_loss_by_hand(logits, spans, n, weights) -> torch.Tensor:
    """Eq. 14-15 for one item of `(start, end, match)` logits whose gold spans are `(start, end, label)`, over its `n`
    words and the pairs `i <= j`."""
    start, end, match = (logit.clone() for logit in logits)
    start, end, match = start[:n], end[:n], match[:n, :n]
    targets = torch.zeros_like(start), torch.zeros_like(end), torch.zeros_like(match)
    for first, stop, label in spans:
        targets[0][first, label] = targets[1][stop - 1, label] = targets[2][first, stop - 1, label] = 1.0
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool))
    return (weights[0] * _bce(start, targets[0]) + weights[1] * _bce(end, targets[1])
            + weights[2] * _bce(match[upper], targets[2][upper]))


#: Different weights for every term, so that a swapped or shared weight changes the losses.
LOSS_WEIGHTS = [1.0, 0.5, 0.25, 0.9, 0.6, 0.3, 0.8, 0.4, 0.2]


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_subject_loss_by_hand(tokenizer, tiny_bert_config, fusion):
    """L_s (Eq. 14-15, Appendix B): the subject module reads the gold entities as its prior and its targets are the
    head spans of the gold relations (each once), summed over words and pairs, averaged over sentences."""
    model = _model(tiny_bert_config, loss_weights=LOSS_WEIGHTS, fusion=fusion).eval()
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        output = model(**batch)
        logits = model.subject_logits(_inputs(batch), output.srn_states, batch["entity_labels"])
    total = 0.0
    for row, sentence in enumerate(TOY_ROWS):
        entities = sentence["entities"]
        heads = {(entities[r["head"]]["start"], entities[r["head"]]["end"], 0) for r in sentence["relations"]}
        total += _span_loss_by_hand([logit[row] for logit in logits], heads, len(sentence["tokens"]),
                                    LOSS_WEIGHTS[3:6])
    assert torch.allclose(output.subject_loss, total / len(TOY_ROWS), atol=1e-4)


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_object_loss_by_hand(tokenizer, tiny_bert_config, fusion):
    """L_o (Eq. 14-15, Appendix B): every gold entity is a candidate subject; a candidate's targets are the tails of
    the relations whose head has its span, typed by the relation; summed over candidates, averaged over sentences."""
    model = _model(tiny_bert_config, loss_weights=LOSS_WEIGHTS, fusion=fusion).eval()
    batch, _ = _batch(tokenizer)
    candidates = [(row, e["start"], e["end"]) for row, sentence in enumerate(TOY_ROWS) for e in sentence["entities"]]
    rows, starts, ends = (torch.tensor(column) for column in zip(*candidates))
    with torch.inference_mode():
        output = model(**batch)
        logits = model.object_logits(_inputs(batch), output.srn_states, batch["entity_labels"], rows, starts, ends)
    total = 0.0
    for index, (row, start, end) in enumerate(candidates):
        entities = TOY_ROWS[row]["entities"]
        tails = {(entities[r["tail"]]["start"], entities[r["tail"]]["end"], RELATION_TYPES.index(r["type"]))
                 for r in TOY_ROWS[row]["relations"]
                 if (entities[r["head"]]["start"], entities[r["head"]]["end"]) == (start, end)}
        total += _span_loss_by_hand([logit[index] for logit in logits], tails, len(TOY_ROWS[row]["tokens"]),
                                    LOSS_WEIGHTS[6:9])
    assert torch.allclose(output.object_loss, total / len(TOY_ROWS), atol=1e-4)


#: Eq. 11: the SRN representations each module reads.
EQUATION_11 = {"entity": {"e", "es", "eo", "eso"}, "subject": {"s", "es", "so", "eso"},
               "object": {"o", "eo", "so", "eso"}}


@pytest.mark.parametrize("module", sorted(EQUATION_11))
def test_modules_read_the_equation_11_parts(tokenizer, tiny_bert_config, module):
    """Shifting one of the seven SRN representations changes a module's logits exactly when Eq. 11 gives that module
    the representation (entity module through `forward`, the others given the SRN states, late fusion)."""
    model = _model(tiny_bert_config, fusion="late").eval()
    batch, _ = _batch(tokenizer)
    inputs = _inputs(batch)
    rows, starts, ends = torch.tensor([1, 2]), torch.tensor([0, 3]), torch.tensor([1, 4])
    with torch.inference_mode():
        states = model(**inputs).srn_states

        def logits(memory: int | None):
            shifted = states.clone()
            if memory is not None:
                shifted[:, :, memory] += 1.0
            if module == "entity":
                handle = model.srn.register_forward_hook(lambda *_: shifted)
                try:
                    output = model(**inputs)
                finally:
                    handle.remove()
                return output.entity_start_logits, output.entity_end_logits, output.entity_match_logits
            if module == "subject":
                return model.subject_logits(inputs, shifted, batch["entity_labels"])
            return model.object_logits(inputs, shifted, batch["entity_labels"], rows, starts, ends)

        reference = logits(None)
        for memory, name in enumerate(MEMORIES):
            changed = [not torch.allclose(a, b, atol=1e-6) for a, b in zip(logits(memory), reference)]
            assert changed == [name in EQUATION_11[module]] * 3, (module, name)


def test_entity_loss_is_equation_14_with_equation_15_weights(tokenizer, tiny_bert_config):
    weights = [1.0, 0.5, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    model = _model(tiny_bert_config, loss_weights=weights, fusion="late").eval()
    batch, _ = _batch(tokenizer)
    output = model(**batch)
    assert torch.allclose(output.loss, output.entity_loss + output.subject_loss + output.object_loss)
    start = torch.zeros_like(output.entity_start_logits)
    end, match = torch.zeros_like(start), torch.zeros_like(output.entity_match_logits)
    total = 0.0
    for row, sentence in enumerate(TOY_ROWS):
        n = len(sentence["tokens"])
        for e in sentence["entities"]:
            k = ENTITY_TYPES.index(e["type"])
            start[row, e["start"], k] = end[row, e["end"] - 1, k] = match[row, e["start"], e["end"] - 1, k] = 1.0
        bce = lambda logits, target: F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
        total += bce(output.entity_start_logits[row, :n], start[row, :n])
        total += 0.5 * bce(output.entity_end_logits[row, :n], end[row, :n])
        upper = torch.triu(torch.ones(n, n, dtype=torch.bool))
        total += 0.25 * bce(output.entity_match_logits[row, :n, :n][upper], match[row, :n, :n][upper])
    assert torch.allclose(output.entity_loss, total / len(TOY_ROWS), atol=1e-4)


def test_insert_markers_brackets_nested_spans_and_subject(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config)
    rows = [TOY_ROWS[1]]
    batch, _ = _batch(tokenizer, rows)
    # typed entity markers (pair 1 + type) for the two nested Loc spans, and the subject marker (pair 0) on one of them
    loc = 1 + ENTITY_TYPES.index("Loc")
    spans = torch.tensor([[[6, 9, loc], [6, 8, loc], [6, 8, 0], [-1, -1, -1]]])
    embeds, mask, word_index = model.insert_markers(_inputs(batch), spans)
    words = model.get_input_embeddings().weight
    markers = model.marker_embeddings.weight
    names = {tuple(words[i].tolist()): tokenizer.convert_ids_to_tokens(i) for i in batch["input_ids"][0].tolist()}
    names.update({tuple(markers[2 * loc].tolist()): "<L", tuple(markers[2 * loc + 1].tolist()): "L>",
                  tuple(markers[0].tolist()): "<S", tuple(markers[1].tolist()): "S>"})
    sequence = [names[tuple(vector.tolist())] for vector in embeds[0]]
    assert sequence == ["[CLS]", "mary", "works", "for", "acme", "corp", "in", "<L", "<S", "<L", "new", "york", "L>",
                        "S>", "city", "L>", ".", "[SEP]"]
    assert mask.tolist() == [[1] * len(sequence)]
    assert [sequence[i] for i in word_index[0].tolist()] == [t.lower() for t in TOY_ROWS[1]["tokens"]]


def test_early_fusion_overfits_to_exact_predictions(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config, fusion="early")
    batch, references = _batch(tokenizer)
    overfit(model, batch, steps=300, lr=5e-3)
    with torch.inference_mode():
        predictions = model.decode(model(**batch), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]
    assert all(0.5 < item["score"] <= 1.0 for p in predictions for item in p["entities"] + p["relations"])


def test_late_fusion_overfits_to_exact_predictions(tokenizer, late_model):
    batch, references = _batch(tokenizer, LATE_ROWS)
    with torch.inference_mode():
        predictions = late_model.decode(late_model(**_inputs(batch)), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_object_module_depends_on_the_subject_outside_its_span(tokenizer, tiny_bert_config, fusion):
    """Two subjects of one sentence must get different object logits also on the words outside both subjects:
    otherwise the object module cannot give them different objects. Early fusion gets this from re-encoding the
    marked text; late fusion from the subject representation multiplied into every word (module docstring)."""
    batch, _ = _batch(tokenizer, [TOY_ROWS[1]])
    model = _model(tiny_bert_config, fusion=fusion).eval()
    with torch.inference_mode():
        output = model(**_inputs(batch))
        rows, starts, ends = torch.tensor([0, 0]), torch.tensor([0, 3]), torch.tensor([1, 5])
        logits = model.object_logits(batch, output.srn_states, batch["entity_labels"], rows, starts, ends)
    for logit in logits:
        assert not torch.allclose(logit[0, 6:], logit[1, 6:], atol=1e-4)


def test_srn_cell_state_stays_bounded():
    """Eq. 8's linear map is squashed: with weights large enough to make an unsquashed cell grow geometrically over
    the steps, every memory stays within [-2, 2] (|c~| <= 1 plus |c^| <= 1), so no representation saturates to +-1."""
    torch.manual_seed(0)
    srn = SelectionRecurrentNetwork(input_size=4, hidden_size=8)
    with torch.no_grad():
        srn.cell.weight.mul_(50.0)
        srn.input_gates.bias[: 8].fill_(5.0)  # forget gates open: the history is carried on
    with torch.no_grad():
        representations = srn(torch.randn(2, 40, 4))
    assert torch.isfinite(representations).all()
    assert representations.abs().max() <= torch.tanh(torch.tensor(2.0)) + 1e-6


def test_span_classifiers_start_at_the_prior_probability(tokenizer, tiny_bert_config):
    """Start, end and match biases are the log-odds of `prior_probability`, so a fresh model's summed BCE (Eq. 14) is
    not dominated by thousands of negatives at probability 0.5."""
    model = _model(tiny_bert_config, fusion="late", prior_probability=0.02)
    for head in (model.entity_head, model.subject_head, model.object_head):
        for layer in (head.start, head.end, head.match_start):
            assert torch.allclose(torch.sigmoid(layer.bias), torch.full_like(layer.bias, 0.02))
    unbiased = _model(tiny_bert_config, fusion="late", prior_probability=0.5)  # same weights, zero biases
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        output, reference = model.eval()(**batch), unbiased.eval()(**batch)
    assert 0.005 < torch.sigmoid(output.entity_match_logits).mean() < 0.05
    for name in ("entity_loss", "subject_loss", "object_loss"):
        assert getattr(output, name) < getattr(reference, name) / 2, name


def test_decode_thresholds(tokenizer, tiny_bert_config):
    model = _model(tiny_bert_config, fusion="late").eval()
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        output = model(**_inputs(batch))
        nothing = model.decode(output, batch, threshold=1.0)
        everything = model.decode(output, batch, threshold=0.0, relation_threshold=0.0)
    assert all(not p["entities"] and not p["relations"] for p in nothing)
    for prediction, row in zip(everything, TOY_ROWS):
        n = len(row["tokens"])
        assert len(prediction["entities"]) == n * (n + 1) // 2 * len(ENTITY_TYPES)
        for relation in prediction["relations"]:
            assert relation["head"] != relation["tail"] and relation["tail"] < len(prediction["entities"])


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_save_load_round_trip_and_auto_classes(tmp_path, tokenizer, tiny_bert_config, fusion):
    config = AutoConfig.for_model(
        "cascade_srn", encoder_config=tiny_bert_config.to_dict(), entity_types=ENTITY_TYPES,
        relation_types=RELATION_TYPES, fusion=fusion, srn_hidden_size=16,
    )
    torch.manual_seed(0)
    model = AutoModel.from_config(config).eval()
    assert isinstance(model, CascadeSrnModel)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, CascadeSrnModel)
    assert loaded.config.fusion == fusion and loaded.config.srn_hidden_size == 16
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        first, second = model(**batch), loaded(**batch)
        assert torch.allclose(first.loss, second.loss)
        assert torch.allclose(first.entity_match_logits, second.entity_match_logits)
        assert torch.equal(first.srn_states, second.srn_states)


def test_pipeline_through_the_shared_path(tmp_path, tokenizer, late_model):
    late_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    extractor = pipeline("joint-ie", model=str(tmp_path))
    result = extractor("Acme Corp hired Johnsonville.")
    entities = [(e["text"], e["type"], e["start"], e["end"]) for e in result["entities"]]
    assert entities == [("Acme Corp", "Org", 0, 9), ("Johnsonville", "Peop", 16, 28)]
    assert [(r["head"], r["tail"], r["type"]) for r in result["relations"]] == [(1, 0, "Work_For")]


def test_config_rejects_bad_values(tiny_bert_config):
    for field, value in (("fusion", "middle"), ("loss_weights", [1.0] * 8), ("loss_weights", [2.0] * 9),
                         ("entity_threshold", 1.5), ("subject_threshold", -0.1), ("relation_threshold", 2.0),
                         ("train_subjects", "all"), ("trailing_special_tokens", -1), ("prior_probability", 0.0),
                         ("prior_probability", 1.0), ("sequence_encoder", "gru"), ("subject_batching", "all")):
        with pytest.raises(ValueError, match=field):
            _config(tiny_bert_config, **{field: value})
    with pytest.raises(ValueError, match="entity_markers"):
        _config(tiny_bert_config, fusion="late", entity_markers=False)
    with pytest.raises(ValueError, match="relation_types"):
        CascadeSrnModel(CascadeSrnConfig(encoder_config=tiny_bert_config, entity_types=["A"], relation_types=[]))


def test_config_thresholds_and_their_legacy_name(tiny_bert_config):
    """Decoding reads exactly the config fields named `*_threshold` (what dev-set calibration sweeps); a config saved
    with the older single `threshold` sets the entity and subject thresholds."""
    config = _config(tiny_bert_config, threshold=0.3)
    assert sorted(name for name in config.to_dict() if name.endswith("_threshold")) == [
        "entity_threshold", "relation_threshold", "subject_threshold"]
    assert (config.entity_threshold, config.subject_threshold, config.relation_threshold) == (0.3, 0.3, 0.5)
    assert _config(tiny_bert_config).subject_batching == "one_by_one"
    assert _config(tiny_bert_config, fusion="late").subject_batching == "batched"


def _decode_before_and_after(tokenizer, encoder_config, field: str, value, **kwargs):
    """Predictions on `TOY_ROWS` of a random model with every threshold at 0 (late fusion unless `kwargs` say
    otherwise), before and after setting `config.<field>` to `value`."""
    settings = {"fusion": "late", "entity_threshold": 0.0, "subject_threshold": 0.0, "relation_threshold": 0.0}
    model = _model(encoder_config, **{**settings, **kwargs}).eval()
    batch, _ = _batch(tokenizer)
    with torch.inference_mode():
        output = model(**_inputs(batch))
        before = model.decode(output, batch)
        setattr(model.config, field, value)
        return before, model.decode(output, batch)


@pytest.mark.parametrize("field", ["entity_threshold", "subject_threshold", "relation_threshold"])
def test_decode_reads_each_threshold_from_the_config(tokenizer, tiny_bert_config, field):
    """With every threshold at 0 a random model predicts every span and some relations; raising one config field to
    1 removes exactly its stage and what depends on it."""
    before, after = _decode_before_and_after(tokenizer, tiny_bert_config, field, 1.0)
    assert any(p["relations"] for p in before)
    assert not any(p["relations"] for p in after)
    assert [len(p["entities"]) for p in after] == (
        [0] * len(TOY_ROWS) if field == "entity_threshold" else [len(p["entities"]) for p in before])


def test_flat_decoding_keeps_the_best_of_overlapping_entities(tokenizer, tiny_bert_config):
    nested, flat = _decode_before_and_after(tokenizer, tiny_bert_config, "nested", False)
    for every, kept in zip(nested, flat):
        spans = [(e["start"], e["end"]) for e in kept["entities"]]
        assert all(a[1] <= b[0] or b[1] <= a[0] for i, a in enumerate(spans) for b in spans[i + 1:])
        assert max(e["score"] for e in kept["entities"]) == max(e["score"] for e in every["entities"])
        assert len(kept["entities"]) < len(every["entities"])
        # kept: exactly the entities that no overlapping entity beats (`best_of_overlapping`; ties: the earlier)
        found = every["entities"]
        unbeaten = [e for i, e in enumerate(found) if not any(
            o["start"] < e["end"] and e["start"] < o["end"] and (o["score"], -j) > (e["score"], -i)
            for j, o in enumerate(found))]
        assert kept["entities"] == unbeaten


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_object_module_runs_only_for_subjects_that_are_predicted_entities(tokenizer, tiny_bert_config, fusion):
    """No predicted entity (entity threshold 1) but every span a subject (subject threshold 0): the object module
    must not run at all; with every span an entity it runs for every predicted subject."""
    model = _model(tiny_bert_config, fusion=fusion, entity_threshold=1.0, subject_threshold=0.0,
                   max_span_width=2).eval()
    batch, _ = _batch(tokenizer)
    calls = []
    original = model.object_logits
    model.object_logits = lambda *args: calls.append(len(args[3])) or original(*args)
    with torch.inference_mode():
        output = model(**_inputs(batch))
        model.decode(output, batch)
        assert calls == []
        model.decode(output, batch, threshold=0.0)
    spans_per_row = [2 * len(row["tokens"]) - 1 for row in TOY_ROWS]  # widths 1 and 2
    assert sum(calls) == sum(spans_per_row)


def test_spans_map_to_the_best_scoring_predicted_entity_of_their_sentence():
    # subjects and objects become relations between predicted entities: span [s, e) of sentence r maps to the number
    # (within r) of the best-scoring entity with that span, ties to the lower number, -1 when there is none
    from hf_jointie.models.cascade_srn.modeling_cascade_srn import _entity_number

    generator = torch.Generator().manual_seed(0)
    num_rows, num_words = 4, 5
    rows = torch.randint(0, num_rows, (60,), generator=generator).sort().values
    starts = torch.randint(0, num_words, (60,), generator=generator)
    ends = (starts + torch.randint(1, 3, (60,), generator=generator)).clamp(max=num_words)
    scores = torch.randint(0, 4, (60,), generator=generator).float() / 4  # many ties
    entities = {"row": rows, "start": starts, "end": ends, "score": scores}
    query_rows = torch.randint(0, num_rows, (200,), generator=generator)
    query_starts = torch.randint(0, num_words, (200,), generator=generator)
    query_ends = (query_starts + torch.randint(1, 4, (200,), generator=generator)).clamp(max=num_words)
    expected = []
    for r, s, e in zip(query_rows.tolist(), query_starts.tolist(), query_ends.tolist()):
        in_row = [i for i in range(60) if rows[i] == r]
        same = [(-scores[i].item(), n) for n, i in enumerate(in_row) if starts[i] == s and ends[i] == e]
        expected.append(min(same)[1] if same else -1)
    found = _entity_number(entities, num_words, query_rows, query_starts, query_ends)
    assert found.tolist() == expected
    assert 0 < sum(value >= 0 for value in expected) < 200
    empty = {key: value[:0] for key, value in entities.items()}
    assert _entity_number(empty, num_words, query_rows, query_starts, query_ends).tolist() == [-1] * 200


@pytest.mark.parametrize("chunk", [256, 3])
@pytest.mark.parametrize("fusion", ["early", "late"])
def test_subjects_one_by_one_and_batched_decode_the_same(tokenizer, tiny_bert_config, fusion, chunk, monkeypatch):
    # batched: all subjects of the batch together, in chunks of `_SUBJECT_CHUNK` (3: many chunks, one cut inside a row)
    from hf_jointie.models.cascade_srn import modeling_cascade_srn

    monkeypatch.setattr(modeling_cascade_srn, "_SUBJECT_CHUNK", chunk)
    one, batched = _decode_before_and_after(tokenizer, tiny_bert_config, "subject_batching", "batched",
                                            fusion=fusion, subject_batching="one_by_one", max_span_width=2)
    assert any(p["relations"] for p in one)
    assert [strip_scores(p) for p in one] == [strip_scores(p) for p in batched]
    for a, b in zip(one, batched):
        assert [r["score"] for r in a["relations"]] == pytest.approx([r["score"] for r in b["relations"]], abs=1e-5)


def test_reverse_words_leaves_the_padding_in_place():
    values = torch.arange(10.0).view(2, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert reverse_words(values, mask).tolist() == [[2.0, 1.0, 0.0, 3.0, 4.0], [9.0, 8.0, 7.0, 6.0, 5.0]]


@pytest.mark.parametrize("encoder", ["srn", "bisrn", "bilstm"])
def test_sequence_encoder_ablations(tiny_bert_config, encoder):
    """Table 2 "Encoder": the SRN reads left to right only; the BiSRN and the BiLSTM also read right to left. None of
    them lets the padding after a sentence reach its words. The BiSRN's forward half is the SRN."""
    model = _model(tiny_bert_config, sequence_encoder=encoder, srn_hidden_size=8).eval()
    words = torch.randn(2, 6, tiny_bert_config.hidden_size)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    changed_last, changed_padding = words.clone(), words.clone()
    changed_last[:, 3] += 1.0
    changed_padding[0, 4:] += 1.0
    with torch.inference_mode():
        states = model._srn_states(words, mask)
        first_word_moves = not torch.allclose(model._srn_states(changed_last, mask)[:, 0], states[:, 0])
        padding_leaks = not torch.allclose(model._srn_states(changed_padding, mask)[0, :4], states[0, :4], atol=1e-6)
        expected_shape = {"srn": (7, 8), "bisrn": (7, 16), "bilstm": (1, 16)}[encoder]
        assert states.shape == (2, 6, *expected_shape)
        assert first_word_moves == (encoder != "srn")
        assert not padding_leaks
        if encoder == "bisrn":
            assert torch.allclose(states[..., :8], model.srn(words))
        head_inputs = {"srn": 32, "bisrn": 64, "bilstm": 16}[encoder]
        assert model.entity_head.start.in_features == head_inputs


def test_subject_markers_only_ablation(tokenizer, tiny_bert_config):
    """Table 2 "Text Marker", early fusion: with `entity_markers=False` neither the subject nor the object module
    sees the entities (changing the entity prior changes nothing); with the default both do."""
    batch, _ = _batch(tokenizer, [TOY_ROWS[1]])
    other_prior = batch["entity_labels"].clone()
    other_prior[0, 0, 2] = ENTITY_TYPES.index("Loc")  # Mary as a location
    other_prior[0, 1, :2] = torch.tensor([4, 5])  # "Corp" instead of "Acme Corp"
    rows, starts, ends = torch.tensor([0]), torch.tensor([0]), torch.tensor([1])
    for markers in (True, False):
        model = _model(tiny_bert_config, entity_markers=markers).eval()
        with torch.inference_mode():
            states = model(**_inputs(batch)).srn_states
            outputs = [
                (*model.subject_logits(batch, states, prior), *model.object_logits(batch, states, prior, rows, starts, ends))
                for prior in (batch["entity_labels"], other_prior)
            ]
        same = [torch.allclose(a, b, atol=1e-6) for a, b in zip(*outputs)]
        assert same == [not markers] * 6, markers
