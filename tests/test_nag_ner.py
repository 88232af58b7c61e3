"""NAG-NER: targets and losses by hand, the alignment rule, overfitting flat + nested + discontinuous rows to exact
predictions, save/load, Auto classes, decoder (and cross-attention) initialisation from the encoder, the decoder's
memory and its learning rate, and the pipeline with fragments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import _VOCAB, TOY_ROWS, overfit, strip_scores
from transformers import AutoConfig, AutoModel, BertConfig, BertModel, BertTokenizerFast, pipeline

from hf_jointie import NagNerConfig, NagNerModel
from hf_jointie.models.nag_ner.modeling_nag_ner import BOS, EOS, IGNORE, NON_ENTITY, NUM_SPECIAL
from hf_jointie.training import JointIEDataCollator, JointIETrainer, JointIETrainingArguments

ENTITY_TYPES = ["ADR", "Loc", "Org", "Peop"]
#: Discontinuous mentions (`fragments`) sharing their start word with a continuous one, and a flat row.
DISCONTINUOUS_ROWS = [
    {
        "id": "disc-0",
        "tokens": ["pain", "in", "leg", "and", "arm"],
        "entities": [
            {"start": 0, "end": 3, "type": "ADR"},
            {"start": 0, "end": 5, "type": "ADR", "fragments": [[0, 2], [4, 5]]},
        ],
    },
    {
        "id": "disc-1",
        "tokens": ["severe", "gastric", "bleeding", "and", "pain"],
        "entities": [
            {"start": 0, "end": 3, "type": "ADR"},
            {"start": 0, "end": 5, "type": "ADR", "fragments": [[0, 1], [4, 5]]},
        ],
    },
    {"id": "disc-2", "tokens": ["my", "arm", "was", "sore"], "entities": [{"start": 1, "end": 2, "type": "ADR"}]},
]
ROWS = [dict(row, relations=[]) for row in TOY_ROWS] + [dict(row, relations=[]) for row in DISCONTINUOUS_ROWS]


@pytest.fixture(scope="module")
def word_tokenizer() -> BertTokenizerFast:
    """The conftest vocabulary as a working WordPiece tokenizer (built from a dict: in transformers 5 the `vocab_file`
    path the shared fixture uses yields a 5-token vocabulary, so every word would be [UNK] and the generated subwords
    could not locate discontinuous mentions)."""
    vocab = {token: index for index, token in enumerate(dict.fromkeys(_VOCAB))}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=64)


def _encoder_config(tokenizer) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )


def _model(tokenizer, **kwargs) -> NagNerModel:
    torch.manual_seed(0)
    config = NagNerConfig(
        encoder_config=_encoder_config(tokenizer), entity_types=ENTITY_TYPES, relation_types=[], dropout=0.0, **kwargs
    )
    return NagNerModel(config)


def _batch(tokenizer, rows=ROWS):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, [])(rows)
    return batch, batch.pop("references")


@pytest.fixture(scope="module")
def trained(word_tokenizer):
    model = _model(word_tokenizer)
    batch, references = _batch(word_tokenizer)
    overfit(model, batch, steps=160, lr=4e-3)
    return model, batch, references


def test_overfits_flat_nested_and_discontinuous_to_exact_predictions(trained):
    model, batch, references = trained
    with torch.inference_mode():
        predictions = model.decode(model(**batch), batch)
    assert [strip_scores(p) for p in predictions] == [strip_scores(r) for r in references]
    assert [e.get("fragments") for e in predictions[4]["entities"] if e["end"] == 5] == [[[0, 2], [4, 5]]]
    assert all(0.5 < e["score"] <= 1.0 for p in predictions for e in p["entities"])
    with torch.inference_mode():
        assert all(not p["entities"] for p in model.decode(model(**batch), batch, threshold=1.0))


def test_targets_follow_equation_5_and_loss_is_equation_7(word_tokenizer):
    model = _model(word_tokenizer, max_entity_length=2).eval()
    batch, _ = _batch(word_tokenizer, [DISCONTINUOUS_ROWS[0] | {"relations": []}])
    counts, rows, starts, ranks, targets = model.generation_targets(
        batch["input_ids"], batch["attention_mask"], batch["word_index"], batch["word_mask"].bool(),
        batch["entity_labels"], batch["entity_fragments"],
    )
    ids = {word: word_tokenizer.convert_tokens_to_ids(word) for word in DISCONTINUOUS_ROWS[0]["tokens"]}
    tag = lambda k: model.subword_vocab_size + k  # noqa: E731
    adr = tag(NUM_SPECIAL + ENTITY_TYPES.index("ADR"))
    assert counts.tolist() == [[2, 0, 0, 0, 0]]
    # the two entities of word 0, shortest span first (NEPE rank 0), then one <O> item per other word
    assert starts.tolist() == [0, 0, 1, 2, 3, 4] and ranks.tolist() == [0, 1, 0, 0, 0, 0]
    assert targets.tolist() == [
        [tag(BOS), adr, ids["pain"], ids["in"], ids["leg"]],  # 3 subwords > l_max = 2: uses the </s> slot
        [tag(BOS), adr, ids["pain"], ids["in"], ids["arm"]],
        [tag(BOS), tag(NON_ENTITY), ids["in"], tag(EOS), IGNORE],
        [tag(BOS), tag(NON_ENTITY), ids["leg"], tag(EOS), IGNORE],
        [tag(BOS), tag(NON_ENTITY), ids["and"], tag(EOS), IGNORE],
        [tag(BOS), tag(NON_ENTITY), ids["arm"], tag(EOS), IGNORE],
    ]
    sampled = _model(word_tokenizer, max_entity_length=2, negative_ratio=1e-6).train()
    _, _, sampled_starts, _, _ = sampled.generation_targets(
        batch["input_ids"], batch["attention_mask"], batch["word_index"], batch["word_mask"].bool(),
        batch["entity_labels"], batch["entity_fragments"],
    )
    assert sampled_starts.tolist() == [0, 0]  # negatives sampled away in training, entities always kept
    output = model(**batch)
    assert torch.equal(output.generation_targets, targets[targets != IGNORE])
    count_loss = F.cross_entropy(output.count_logits[0], counts[0])
    generation_loss = -torch.log_softmax(output.generation_logits, -1).gather(1, targets[targets != IGNORE][:, None])
    assert torch.allclose(output.count_loss, count_loss, atol=1e-6)
    assert torch.allclose(output.generation_loss, generation_loss.mean(), atol=1e-5)
    assert torch.allclose(output.loss, output.count_loss + output.generation_loss)


def test_alignment_rule(word_tokenizer):
    model = _model(word_tokenizer)
    row = {"tokens": ["severe", "pain", "in", "leg", "and", "pain", "in", "johnsonville"], "entities": [], "relations": []}
    batch, _ = _batch(word_tokenizer, [row])
    ids = word_tokenizer.convert_tokens_to_ids
    eos = model.subword_vocab_size + EOS
    sequences = [
        (1, ["pain", "in", "leg"]),  # contiguous
        (1, ["pain", "in", "johnson", "##ville"]),  # gap after "in": the nearest later word starting with "johnson"
        (0, ["severe", "pain", "in"]),  # contiguous preferred over a jump
        (1, ["pain", "leg"]),  # the gap skips "in"
        (1, ["leg"]),  # the first subword must be the start word's
        (5, ["pain", "in", "johnson"]),  # ends inside a word
        (0, ["severe", "arm"]),  # "arm" is not in the sentence
    ]
    tokens = torch.full((len(sequences), 4), eos)
    for i, (_, words) in enumerate(sequences):
        tokens[i, : len(words)] = torch.tensor(ids(words))
    length = torch.tensor([len(words) for _, words in sequences])
    starts = torch.tensor([start for start, _ in sequences])
    chosen, ok = model.align(batch, torch.zeros(len(sequences), dtype=torch.long), starts, tokens, length)
    assert ok.tolist() == [True, True, True, True, False, False, False]
    words = [row_words.nonzero().flatten().tolist() for row_words in chosen[:4]]
    assert words == [[1, 2, 3], [1, 2, 7], [0, 1, 2], [1, 3]]


def test_save_load_auto_classes_and_explicit_decoder_config(tmp_path, word_tokenizer):
    model = _model(word_tokenizer, max_entity_length=4, start_threshold=0.3).eval()
    assert model.decoder.config.is_decoder and model.decoder.config.add_cross_attention
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, NagNerConfig) and config.max_entity_length == 4 and config.start_threshold == 0.3
    assert config.decoder_config.add_cross_attention and config.relation_types == []
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, NagNerModel)
    batch, _ = _batch(word_tokenizer)
    with torch.inference_mode():
        assert torch.allclose(model(**batch).loss, loaded(**batch).loss)
    decoder = _encoder_config(word_tokenizer)
    decoder.num_hidden_layers = 1
    config = AutoConfig.for_model(
        "nag_ner", encoder_config=_encoder_config(word_tokenizer).to_dict(), decoder_config=decoder.to_dict(),
        entity_types=ENTITY_TYPES, relation_types=[],
    )
    model = AutoModel.from_config(config)
    assert len(model.decoder.encoder.layer) == 1 and model.decoder.config.is_decoder
    assert torch.isfinite(model(**batch).loss)


def test_from_encoder_pretrained_initialises_the_decoder(tmp_path, word_tokenizer):
    torch.manual_seed(1)
    BertModel(_encoder_config(word_tokenizer)).save_pretrained(tmp_path)
    model = NagNerModel.from_encoder_pretrained(tmp_path, entity_types=ENTITY_TYPES)
    encoder, decoder = model.encoder.state_dict(), model.decoder.state_dict()
    name = "encoder.layer.1.attention.self.query.weight"
    assert torch.equal(encoder[name], decoder[name])
    assert torch.equal(encoder["embeddings.word_embeddings.weight"], decoder["embeddings.word_embeddings.weight"])
    assert "encoder.layer.0.crossattention.self.query.weight" in decoder
    # each layer's cross-attention starts as a copy of that layer's pretrained self-attention, not at random
    for layer in range(2):
        for part in ("self.query.weight", "self.key.weight", "self.value.weight", "output.dense.weight"):
            cross = decoder[f"encoder.layer.{layer}.crossattention.{part}"]
            assert torch.equal(cross, encoder[f"encoder.layer.{layer}.attention.{part}"]), part
    # a shallower decoder (a CPU-budget option) starts from the encoder's first layers
    shallow = NagNerModel.from_encoder_pretrained(tmp_path, entity_types=ENTITY_TYPES, num_decoder_layers=1)
    assert len(shallow.decoder.encoder.layer) == 1
    assert torch.equal(shallow.decoder.state_dict()["encoder.layer.0.attention.self.query.weight"],
                       encoder["encoder.layer.0.attention.self.query.weight"])
    with pytest.raises(ValueError, match="`num_decoder_layers` must be between 1 and the encoder's 2 layers"):
        NagNerConfig(encoder_config=_encoder_config(word_tokenizer), entity_types=ENTITY_TYPES, num_decoder_layers=3)


def test_decoder_memory_is_encoder_output_plus_embeddings_over_word_subwords(word_tokenizer):
    model = _model(word_tokenizer).eval()
    batch, _ = _batch(word_tokenizer)
    with torch.inference_mode():
        output = model(**batch)
        encoded = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        embedded = model.encoder.embeddings(input_ids=batch["input_ids"])
    assert torch.allclose(output.encoder_hidden_states, encoded + embedded, atol=1e-5)
    # the memory mask keeps exactly the subwords of words: no [CLS], [SEP] or padding
    lengths, width = batch["attention_mask"].sum(1).tolist(), batch["attention_mask"].size(1)
    assert output.memory_mask.tolist() == [[0] + [1] * (n - 2) + [0] * (width - n + 1) for n in lengths]
    # so the decoder's output does not depend on the special tokens' states
    rows = torch.arange(len(lengths))
    positions, ranks = batch["word_index"][:, 0], torch.zeros_like(rows)
    perturbed = output.encoder_hidden_states.clone()
    perturbed[rows, 0] += 10 * torch.randn_like(perturbed[:, 0])
    perturbed[rows, torch.tensor(lengths) - 1] += 10 * torch.randn_like(perturbed[:, 0])
    generate = lambda states: torch.cat([  # noqa: E731
        log_probs.flatten(1) for log_probs in
        model.generate_parallel(states, output.memory_mask, batch["input_ids"], rows, positions, ranks)
    ], dim=1)
    with torch.inference_mode():
        reference = generate(output.encoder_hidden_states)
        assert torch.allclose(generate(perturbed), reference, atol=1e-5)
        changed = output.encoder_hidden_states.clone()
        changed[rows, 1] += 10 * torch.randn_like(changed[:, 1])
        assert not torch.allclose(generate(changed), reference, atol=1e-3)


def test_the_whole_decoder_trains_at_the_head_learning_rate(tmp_path, word_tokenizer):
    model = _model(word_tokenizer)
    args = JointIETrainingArguments(output_dir=str(tmp_path), learning_rate=1e-5, head_learning_rate=1e-3,
                                    report_to="none", use_cpu=True)
    optimizer = JointIETrainer(model=model, args=args).create_optimizer()
    rates = {id(parameter): group["lr"] for group in optimizer.param_groups for parameter in group["params"]}
    for name, parameter in model.named_parameters():
        assert rates[id(parameter)] == (1e-5 if name.startswith("encoder.") else 1e-3), name
    assert rates[id(model.decoder.encoder.layer[0].crossattention.self.query.weight)] == 1e-3


def test_pipeline_returns_fragments_in_characters(tmp_path, trained, word_tokenizer):
    model, _, _ = trained
    model.save_pretrained(tmp_path)
    word_tokenizer.save_pretrained(tmp_path)
    extractor = pipeline("joint-ie", model=str(tmp_path))
    text = "pain in leg and arm"
    result = extractor(text)
    assert result["relations"] == []
    entities = sorted((e["start"], e["end"], e["type"], str(e.get("fragments"))) for e in result["entities"])
    assert entities == [(0, 11, "ADR", "None"), (0, 19, "ADR", str([[0, 7], [16, 19]]))]
    assert [text[s:e] for s, e in [[0, 7], [16, 19]]] == ["pain in", "arm"]


def test_config_rejects_bad_values(word_tokenizer):
    encoder = _encoder_config(word_tokenizer)
    for field, value in (("max_entity_length", 0), ("max_entities_per_start", 0), ("start_threshold", 1.0),
                         ("dropout", 1.0), ("max_entity_length", 62), ("negative_ratio", 0.0)):
        with pytest.raises(ValueError, match=field):
            NagNerConfig(encoder_config=encoder, entity_types=["A"], **{field: value})
    wide = BertConfig(hidden_size=64, num_attention_heads=2)
    with pytest.raises(ValueError, match="decoder_config"):
        NagNerConfig(encoder_config=encoder, decoder_config=wide, entity_types=["A"])
    with pytest.raises(ValueError, match="entity_types"):
        NagNerModel(NagNerConfig(encoder_config=encoder, entity_types=[]))


def test_entity_only_model_rejects_relation_types(tokenizer):
    config = NagNerConfig(encoder_config=_encoder_config(tokenizer), entity_types=ENTITY_TYPES, relation_types=["Kill"])
    with pytest.raises(ValueError, match="nag_ner extracts entities only"):
        NagNerModel(config)


def test_autoregressive_speed_baseline_generates_the_gold_linearisation_length(word_tokenizer):
    """`benchmarks/nag_ner_autoregressive.py`: the seq2seq baseline writes `subwords TYPE ... </s>` per sentence; its
    length, what the benchmark forces on random weights, is counted from the gold fragments."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import nag_ner_autoregressive as benchmark

    rows = [DISCONTINUOUS_ROWS[0] | {"relations": []}, DISCONTINUOUS_ROWS[2] | {"relations": []},
            {"tokens": ["johnsonville", "and", "arm"], "entities": [{"start": 0, "end": 1, "type": "Loc"}], "relations": []}]
    batch = JointIEDataCollator(word_tokenizer, ENTITY_TYPES, [])(rows)
    # "pain in leg" (3 + type) and "pain in ... arm" (3 + type), </s>; "arm" + type, </s>; "johnson ##ville" + type, </s>
    assert benchmark.linearisation_lengths(batch).tolist() == [9, 3, 4]
    model = _model(word_tokenizer).eval()
    baseline = benchmark.AutoregressiveExtractor(model).eval()
    assert len(baseline.decoder.encoder.layer) == len(model.decoder.encoder.layer)
    assert baseline.decoder.config.hidden_size == model.decoder.config.hidden_size
    memory = torch.randn(*batch["input_ids"].shape, 32)
    chosen = baseline.generate(memory, batch["attention_mask"], batch["input_ids"], steps=5)
    assert chosen.shape == (3, 5)
    # pointer choices: a real subword of the sentence, or one of the types / `</s>` after the subword positions
    subword_positions = batch["input_ids"].size(1)
    is_tag = chosen >= subword_positions
    assert (batch["attention_mask"].gather(1, chosen.clamp(max=subword_positions - 1)).bool() | is_tag).all()


def test_inference_softmax_is_restricted_to_candidates_and_training_keeps_the_full_softmax(trained, word_tokenizer):
    model, batch, references = trained
    repeated = {"tokens": ["severe", "pain", "in", "leg", "and", "pain", "in", "arm"], "entities": [], "relations": []}
    scored, _ = _batch(word_tokenizer, ROWS + [repeated])  # "pain in" twice: one candidate each
    with torch.inference_mode():
        output = model(**scored)
        rows = torch.arange(len(scored["input_ids"]))
        positions, ranks = scored["word_index"][:, 0], torch.zeros_like(rows)
        type_log_probs, mention_log_probs = model.generate_parallel(
            output.encoder_hidden_states, output.memory_mask, scored["input_ids"], rows, positions, ranks
        )
        slots = model.config.max_entity_length + 3
        inputs = (model.tag_embeddings.weight[0] + model.start_embeddings(positions, ranks)).unsqueeze(1).expand(-1, slots, -1)
        full = model.token_logits(model.run_decoder(inputs, output.encoder_hidden_states, output.memory_mask, rows).last_hidden_state)
    vocab = model.subword_vocab_size
    # the type slot: a softmax over <O> and the types only
    assert torch.allclose(type_log_probs, torch.log_softmax(full[:, 1, vocab + NON_ENTITY :], -1), atol=1e-5)
    # a mention slot: over the distinct subwords of the row's words (first occurrence) and </s>
    for row in rows.tolist():
        ids = scored["input_ids"][row][output.memory_mask[row].bool()].tolist()
        distinct = list(dict.fromkeys(ids))
        expected = torch.log_softmax(full[row, 2:, distinct + [vocab + EOS]], -1)
        columns = [output.memory_mask[row].nonzero().flatten()[ids.index(i)].item() for i in distinct]
        got = mention_log_probs[row][:, columns + [mention_log_probs.size(-1) - 1]]
        assert torch.allclose(got, expected, atol=1e-5)
        assert torch.isinf(mention_log_probs[row]).sum() == (mention_log_probs.size(-1) - 1 - len(distinct)) * (slots - 2)
    assert len(distinct) == len(ids) - 2  # the last row checked is the one with the repeated words
    # a subword that is in no sentence, made the favourite of the full softmax: decoding is unchanged
    with torch.inference_mode():
        output = model(**batch)
    outsider = word_tokenizer.convert_tokens_to_ids("kill")
    assert all(outsider not in row for row in batch["input_ids"].tolist())
    batch_with_labels = {key: value for key, value in batch.items()}
    with torch.inference_mode():
        loss = model(**batch_with_labels).loss
        predictions = model.decode(output, batch)
        original = model.output_bias[outsider].item()
        model.output_bias[outsider] = 1e4
        try:
            boosted_output = model(**batch_with_labels)
            assert [strip_scores(p) for p in model.decode(boosted_output, batch)] == [strip_scores(p) for p in predictions]
            assert boosted_output.loss > loss + 100  # training scores the whole vocabulary (the paper's softmax)
            assert boosted_output.generation_logits.size(-1) == vocab + NUM_SPECIAL + len(ENTITY_TYPES)
        finally:
            model.output_bias[outsider] = original


def test_cross_attention_keys_and_values_are_projected_once_per_sentence(trained):
    model, batch, _ = trained
    with torch.inference_mode():
        output = model(**batch)
    rows = torch.tensor([0, 0, 0, 1, 4, 4])
    positions, ranks = batch["word_index"][rows, 0], torch.tensor([0, 1, 2, 0, 0, 1])
    slots = model.config.max_entity_length + 3
    inputs = (model.tag_embeddings.weight[0] + model.start_embeddings(positions, ranks)).unsqueeze(1).expand(-1, slots, -1)
    projected = []
    hooks = [layer.crossattention.self.key.register_forward_hook(lambda m, i, o: projected.append(i[0].size(0)))
             for layer in model.decoder.encoder.layer]
    try:
        with torch.inference_mode():
            cached = model.run_decoder(inputs, output.encoder_hidden_states, output.memory_mask, rows).last_hidden_state
    finally:
        for hook in hooks:
            hook.remove()
    assert projected == [len(batch["input_ids"])] * len(model.decoder.encoder.layer)  # sentences, not items
    with torch.inference_mode():  # the same numbers as the decoder over a duplicated memory
        duplicated = model.decoder(
            inputs_embeds=inputs, attention_mask=inputs.new_zeros(1, 1, slots, slots),
            encoder_hidden_states=output.encoder_hidden_states[rows], encoder_attention_mask=output.memory_mask[rows],
        ).last_hidden_state
    assert torch.allclose(cached, duplicated, atol=1e-5)


def test_decoder_self_attention_is_bidirectional(word_tokenizer):
    """Every slot sees every other (NAG): slot 0 depends on the last slot's input. A causal mask would break it."""
    model = _model(word_tokenizer).eval()
    batch, _ = _batch(word_tokenizer)
    with torch.inference_mode():
        output = model(**batch)
        rows = torch.arange(len(batch["input_ids"]))
        inputs = torch.randn(len(rows), model.config.max_entity_length + 3, 32)
        reference = model.run_decoder(inputs, output.encoder_hidden_states, output.memory_mask, rows).last_hidden_state
        changed = inputs.clone()
        changed[:, -1] = torch.randn_like(changed[:, -1])  # not a constant shift: LayerNorm would remove it
        states = model.run_decoder(changed, output.encoder_hidden_states, output.memory_mask, rows).last_hidden_state
    assert (states[:, 0] - reference[:, 0]).abs().amax(-1).min() > 1e-3


def test_nag_ner_3_ablation_drops_wspe_and_nepe(word_tokenizer):
    full, ablated = _model(word_tokenizer).eval(), _model(word_tokenizer, start_position_embeddings=False).eval()
    assert "nepe.weight" in full.state_dict() and "nepe.weight" not in ablated.state_dict()
    batch, _ = _batch(word_tokenizer)
    rows = torch.zeros(4, dtype=torch.long)
    positions, ranks = torch.tensor([1, 2, 3, 3]), torch.tensor([0, 0, 0, 1])
    for model, differs in ((full, True), (ablated, False)):
        with torch.inference_mode():
            output = model(**batch)
            _, mention = model.generate_parallel(output.encoder_hidden_states, output.memory_mask, batch["input_ids"],
                                                 rows, positions, ranks)
        # without WSPE / NEPE every item of a sentence reads the same input, whatever its start word and rank
        assert (not torch.allclose(mention[1:], mention[:1].expand_as(mention[1:]), atol=1e-4)) == differs


def test_inference_generates_the_items_in_chunks_with_the_same_predictions(trained, monkeypatch):
    """Items run through the decoder in chunks of `_ITEM_CHUNK` (bounded memory when the start classifier fires at
    most words); every chunking gives the one-pass numbers and predictions, here with every word opening items."""
    from hf_jointie.models.nag_ner import modeling_nag_ner

    model, batch, _ = trained
    with torch.inference_mode():
        output = model(**batch)
        _, rows, starts, ranks = model.select_starts(output, batch, threshold=0.0)  # tau_s = 1: every word
        assert len(rows) >= int(batch["word_mask"].sum()) > 3
        positions = batch["word_index"][rows, starts]
        args = (output.encoder_hidden_states, output.memory_mask, batch["input_ids"], rows, positions, ranks)
        monkeypatch.setattr(modeling_nag_ner, "_ITEM_CHUNK", len(rows))
        one_pass, one_pass_predictions = model.generate_parallel(*args), model.decode(output, batch, threshold=0.0)
        monkeypatch.setattr(modeling_nag_ner, "_ITEM_CHUNK", 3)
        chunked, chunked_predictions = model.generate_parallel(*args), model.decode(output, batch, threshold=0.0)
    for whole, parts in zip(one_pass, chunked):
        assert whole.shape == parts.shape and torch.allclose(whole, parts, atol=1e-5)
    assert chunked_predictions == one_pass_predictions


def test_flat_decoding_keeps_the_best_of_overlapping_entities(trained):
    model, batch, _ = trained
    with torch.inference_mode():
        output = model(**batch)
        nested = model.decode(output, batch)
        model.config.nested = False
        try:
            flat = model.decode(output, batch)
        finally:
            model.config.nested = True
    assert any(len(p["entities"]) > len(f["entities"]) for p, f in zip(nested, flat))  # the fixture has nesting
    for prediction, result in zip(nested, flat):
        entities = prediction["entities"]
        best = [e for e in entities if not any(
            o is not e and o["start"] < e["end"] and e["start"] < o["end"] and o["score"] > e["score"] for o in entities
        )]
        assert strip_scores({"entities": best, "relations": []}) == strip_scores(result)


def test_decode_reads_the_start_threshold_from_the_config(trained):
    model, batch, references = trained
    with torch.inference_mode():
        output = model(**batch)
        model.config.start_threshold = 1e-6  # tau_s: no word has p(ne = 0) below it
        try:
            assert all(not p["entities"] for p in model.decode(output, batch))
        finally:
            model.config.start_threshold = 0.5
        assert [strip_scores(p) for p in model.decode(output, batch)] == [strip_scores(r) for r in references]


def test_cached_cross_attention_trains(word_tokenizer):
    """The cross-attention projections reach the decoder through the pre-filled cache: they must still get gradients."""
    model = _model(word_tokenizer).train()
    batch, _ = _batch(word_tokenizer)
    model(**batch).loss.backward()
    for layer in model.decoder.encoder.layer:
        for projection in (layer.crossattention.self.key, layer.crossattention.self.value):
            assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0
