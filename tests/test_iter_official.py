"""Checkpoints saved by the ITER authors' own `iter` package load as they are and predict what their `generate`
predicts.

`tests/fixtures/iter_official/` holds six checkpoints their code saved: around a tiny random BERT (`backbone/`) flat
CoNLL04-like, nested ADE-like with the NONE class, NER-only GENIA-like nested, inverse links with the symmetric-training
bit; around a tiny random DeBERTa-v2 with DeBERTa-v3's relative attention (`backbone-deberta/`, their `AutoModel`)
flat CoNLL04-like; around a tiny random T5 encoder (`backbone-t5/`, their `T5EncoderModel`, weights saved as
`model.shared.weight` + `model.encoder.*`) nested ADE-like. With them, their `generate` output on 20 sentences, made by
`make_fixtures.py` (upstream commit 39b95b7) in a separate environment. Their checkpoints carry no tokenizer: the
pipeline takes the backbone's (named by their config relative to the fixture directory, which the tests therefore run
in). All three backbone directories carry the same BERT tokenizer files, and the reference outputs were computed on
that tokenizer's ids for every fixture, T5 included, so the pipeline sees the ids their `generate` saw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, pipeline

import hf_jointie  # noqa: F401  (registers "iter" and "joint-ie")
from hf_jointie import IterModel

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "iter_official"
OUTPUTS = json.loads((FIXTURES / "outputs.json").read_text())
NAMES = sorted(OUTPUTS["fixtures"])
#: the backbone type of every fixture's `transformer_config`
BACKBONE_TYPES = {"deberta": "deberta-v2", "flat": "bert", "inverse": "bert", "ner_only": "bert", "nested": "bert",
                  "t5": "t5"}


@pytest.fixture(autouse=True)
def in_fixture_directory(monkeypatch):
    monkeypatch.chdir(FIXTURES)


def _their_config(name: str) -> dict:
    return json.loads((FIXTURES / name / "config.json").read_text())


def _our_key(key: str, backbone_type: str) -> str:
    """Where a tensor of their checkpoint belongs in ours (written out here, not taken from `IterModel`): their
    backbone is `model.`, ours `encoder.`; for T5 theirs is a `T5EncoderModel` (`model.shared` embedding +
    `model.encoder` stack), ours the encoder stack alone, whose `embed_tokens` is that embedding."""
    if backbone_type == "t5":
        if key == "model.shared.weight":
            return "encoder.embed_tokens.weight"
        return "encoder." + key[len("model.encoder."):] if key.startswith("model.encoder.") else key
    return "encoder." + key[len("model."):] if key.startswith("model.") else key


def _span(entity: dict) -> tuple:
    return entity["start"], entity["end"], entity["type"]


def test_fixtures_cover_the_variants():
    assert NAMES == ["deberta", "flat", "inverse", "ner_only", "nested", "t5"]
    assert OUTPUTS["upstream_commit"].startswith("39b95b7")
    for name in NAMES:
        records = OUTPUTS["fixtures"][name]
        assert sum(len(r["entities"]) for r in records) > 100
        assert (sum(len(r["links"]) for r in records) > 100) == (name != "ner_only")
        assert _their_config(name)["transformer_config"]["model_type"] == BACKBONE_TYPES[name]
    nested_bits = (1 << 5) | (1 << 9)  # NONE class + nested decoding
    assert [n for n in NAMES if _their_config(n)["features"] & nested_bits == nested_bits] == ["ner_only", "nested", "t5"]
    assert [n for n in NAMES if _their_config(n)["features"] & (1 << 18)] == ["inverse"]
    assert _their_config("t5")["max_nest_depth"] > 1 and _their_config("t5")["num_links"] == 1
    deberta = _their_config("deberta")["transformer_config"]
    # DeBERTa-v3's attention: relative positions (both disentangled terms, log buckets), no absolute positions
    assert deberta["relative_attention"] and sorted(deberta["pos_att_type"]) == ["c2p", "p2c"]
    assert deberta["position_buckets"] > 0 and not deberta["position_biased_input"]
    assert deberta["norm_rel_ebd"] == "layer_norm"
    t5 = _their_config("t5")["transformer_config"]
    # their `transformer_config` is the backbone's hub config, an encoder-decoder: `is_encoder_decoder` is T5Config's
    # default (True), so it is not written (their `T5EncoderModel` sets it False only on the config it loads for
    # itself, a different object)
    assert t5.get("is_encoder_decoder", True) and t5["architectures"] == ["T5EncoderModel"]
    for name in ("deberta", "t5"):  # the tokenizer the pipeline loads from the backbone directory is BERT's
        backbone = FIXTURES / _their_config(name)["transformer_config"]["_name_or_path"]
        assert (backbone / "tokenizer.json").read_bytes() == (FIXTURES / "backbone" / "tokenizer.json").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_tensor_lands_in_the_model(name):
    model = AutoModel.from_pretrained(name)
    assert isinstance(model, IterModel)
    assert model.config.encoder_config.model_type == BACKBONE_TYPES[name]
    tensors = load_file(FIXTURES / name / "model.safetensors")
    ours = model.state_dict()
    assert len(tensors) == len(ours)
    assert sorted(_our_key(key, BACKBONE_TYPES[name]) for key in tensors) == sorted(ours)
    for key, value in tensors.items():
        assert torch.equal(ours[_our_key(key, BACKBONE_TYPES[name])], value), key
    assert (model.rr_score is None) == (name == "ner_only")
    embedding = "model.shared.weight" if BACKBONE_TYPES[name] == "t5" else "model.embeddings.word_embeddings.weight"
    assert torch.equal(model.get_input_embeddings().weight, tensors[embedding])


def test_t5_tied_embedding_is_stored_once_and_is_the_encoders():
    """Their `T5EncoderModel` holds one embedding matrix under two names, `shared` and `encoder.embed_tokens` (the
    same parameter); their `save_pretrained` writes it once, as `model.shared.weight`. Ours is the encoder stack
    alone (no decoder, no `shared`): that tensor is its `embed_tokens.weight`, the embedding its forward reads."""
    tensors = load_file(FIXTURES / "t5" / "model.safetensors")
    assert "model.shared.weight" in tensors and "model.encoder.embed_tokens.weight" not in tensors
    assert not [key for key in tensors if key.startswith("model.") and not key.startswith(("model.shared.", "model.encoder."))]
    model = AutoModel.from_pretrained("t5")
    assert type(model.encoder).__name__ == "T5Stack" and not model.encoder.is_decoder
    assert [key for key in model.state_dict() if "embed" in key or "shared" in key] == ["encoder.embed_tokens.weight"]
    assert model.encoder.embed_tokens is model.get_input_embeddings()
    assert torch.equal(model.encoder.embed_tokens.weight, tensors["model.shared.weight"])
    # the forward reads it: another embedding matrix changes the encoder's output
    ids = torch.tensor([[2, 10, 20, 30, 3]])
    with torch.no_grad():
        before = model.encoder(input_ids=ids).last_hidden_state
        model.encoder.embed_tokens.weight.mul_(2.0)
        assert not torch.allclose(model.encoder(input_ids=ids).last_hidden_state, before)


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_predicts_what_their_generate_predicts(name):
    ie = pipeline("joint-ie", model=name)
    predictions = ie(OUTPUTS["sentences"])
    for sentence, prediction, reference in zip(OUTPUTS["sentences"], predictions, OUTPUTS["fixtures"][name]):
        # spans their code bracketed on [CLS] / [SEP] have no characters in the text
        theirs = {_span(e) for e in reference["entities"] if not e["special"]}
        assert {_span(e) for e in prediction["entities"]} == theirs, sentence
        for entity in prediction["entities"]:
            assert sentence[entity["start"] : entity["end"]] == entity["text"]
        their_links = {
            (_span(link["head"]), _span(link["tail"]), link["type"]): link["probability"]
            for link in reference["links"]
            if not (link["head"]["special"] or link["tail"]["special"])
        }
        entities = prediction["entities"]
        our_links = {
            (_span(entities[r["head"]]), _span(entities[r["tail"]]), r["type"]): r["score"]
            for r in prediction["relations"]
        }
        assert our_links.keys() == their_links.keys(), sentence
        for key, probability in their_links.items():
            assert our_links[key] == pytest.approx(probability, abs=1e-5)


def test_t5_encoder_only_backbone_config_loads(tmp_path):
    """A T5 backbone saved with `T5EncoderModel.save_pretrained` (encoder-only checkpoints on the hub are) has
    `is_encoder_decoder: false` in its config, and so has an ITER checkpoint trained from it: same network, same
    tensors, it must load the same."""
    shutil.copytree(FIXTURES / "t5", tmp_path / "t5")
    path = tmp_path / "t5" / "config.json"
    config = json.loads(path.read_text())
    config["transformer_config"].update(is_encoder_decoder=False, use_cache=False)
    path.write_text(json.dumps(config))
    model = AutoModel.from_pretrained(tmp_path / "t5")
    reference = AutoModel.from_pretrained("t5")
    assert model.state_dict().keys() == reference.state_dict().keys()


@pytest.mark.parametrize("name", ["nested", "inverse", "deberta", "t5"])
def test_save_pretrained_writes_our_layout_which_loads_back_identically(name, tmp_path):
    model = AutoModel.from_pretrained(name)
    model.save_pretrained(tmp_path / "ours")
    config = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert "encoder_config" in config and "transformer_config" not in config and "features" not in config
    assert set(load_file(tmp_path / "ours" / "model.safetensors")) == set(model.state_dict())
    reloaded = AutoModel.from_pretrained(tmp_path / "ours")
    assert {**reloaded.config.to_dict(), "_name_or_path": ""} == {**model.config.to_dict(), "_name_or_path": ""}
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


def test_use_scale_is_read_not_recomputed(tmp_path):
    shutil.copytree(FIXTURES / "flat", tmp_path / "flat")
    config = json.loads((tmp_path / "flat" / "config.json").read_text())
    assert config["use_scale"] is True and config["d_ff"] != 0  # their constructor would recompute False from d_ff
    assert AutoModel.from_pretrained(tmp_path / "flat").config.use_scale is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": 1 << 15}, r"feature bit 15"),
        ({"num_types": 7}, r"num_types`=7"),
        ({"num_links": 2}, r"num_links`=2"),
        ({"use_lse_trick": True}, r"use_lse_trick"),
    ],
)
def test_official_config_that_we_cannot_read_is_refused(tmp_path, change, message):
    shutil.copytree(FIXTURES / "flat", tmp_path / "flat")
    path = tmp_path / "flat" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(ValueError, match=message):
        AutoModel.from_pretrained(tmp_path / "flat")


def test_fixture_missing_a_head_is_not_silently_random(tmp_path):
    from safetensors.torch import save_file

    shutil.copytree(FIXTURES / "flat", tmp_path / "flat")
    weights = tmp_path / "flat" / "model.safetensors"
    tensors = load_file(weights)
    save_file({k: v for k, v in tensors.items() if not k.startswith("rr_score.")}, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="rr_score.wo.weight"):
        AutoModel.from_pretrained(tmp_path / "flat")
