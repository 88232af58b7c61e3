"""Checkpoints saved by the ITER authors' own `iter` package load as they are and predict what their `generate`
predicts.

`tests/fixtures/iter_official/` holds four checkpoints their code saved (flat CoNLL04-like, nested ADE-like with the
NONE class, NER-only GENIA-like nested, inverse links with the symmetric-training bit) around a tiny random BERT, and
their `generate` output on 20 sentences, made by `make_fixtures.py` (upstream commit 39b95b7) in a separate
environment. Their checkpoints carry no tokenizer: the pipeline takes the backbone's (`backbone/`, named by their
config relative to the fixture directory, which the tests therefore run in).
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


@pytest.fixture(autouse=True)
def in_fixture_directory(monkeypatch):
    monkeypatch.chdir(FIXTURES)


def _our_key(key: str) -> str:
    return "encoder." + key[len("model."):] if key.startswith("model.") else key


def _span(entity: dict) -> tuple:
    return entity["start"], entity["end"], entity["type"]


def test_fixtures_cover_the_variants():
    assert NAMES == ["flat", "inverse", "ner_only", "nested"]
    assert OUTPUTS["upstream_commit"].startswith("39b95b7")
    for name in NAMES:
        records = OUTPUTS["fixtures"][name]
        assert sum(len(r["entities"]) for r in records) > 100
        assert (sum(len(r["links"]) for r in records) > 100) == (name != "ner_only")


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_tensor_lands_in_the_model(name):
    model = AutoModel.from_pretrained(name)
    assert isinstance(model, IterModel)
    tensors = load_file(FIXTURES / name / "model.safetensors")
    ours = model.state_dict()
    assert len(tensors) == len(ours)
    for key, value in tensors.items():
        assert torch.equal(ours[_our_key(key)], value), key
    assert (model.rr_score is None) == (name == "ner_only")


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


@pytest.mark.parametrize("name", ["nested", "inverse"])
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
