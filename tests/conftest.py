"""Shared fixtures: a tokenizer and tiny random encoder configs built in code, toy data, and an overfitting loop.

Nothing here touches the network or `../shared`; tests that read `../shared/data` use `SHARED_DATA` and skip when it
is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertTokenizerFast

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)  # tiny models: one thread is fastest, and immune to a busy machine

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
requires_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not present")

#: Toy sentences: flat and nested entities, relations in both directions, a word split into several subwords.
TOY_ROWS = [
    {
        "id": "toy-0",
        "tokens": ["John", "Smith", "lives", "in", "Boston", "."],
        "entities": [{"start": 0, "end": 2, "type": "Peop"}, {"start": 4, "end": 5, "type": "Loc"}],
        "relations": [{"head": 0, "tail": 1, "type": "Live_In"}],
    },
    {
        "id": "toy-1",
        "tokens": ["Mary", "works", "for", "Acme", "Corp", "in", "New", "York", "City", "."],
        "entities": [
            {"start": 0, "end": 1, "type": "Peop"},
            {"start": 3, "end": 5, "type": "Org"},
            {"start": 6, "end": 9, "type": "Loc"},
            {"start": 6, "end": 8, "type": "Loc"},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "Work_For"}, {"head": 1, "tail": 2, "type": "Located_In"}],
    },
    {
        "id": "toy-2",
        "tokens": ["Acme", "Corp", "hired", "Johnsonville", "from", "Boston", "."],
        "entities": [
            {"start": 0, "end": 2, "type": "Org"},
            {"start": 3, "end": 4, "type": "Peop"},
            {"start": 5, "end": 6, "type": "Loc"},
        ],
        "relations": [{"head": 1, "tail": 0, "type": "Work_For"}, {"head": 1, "tail": 2, "type": "Live_In"}],
    },
    {"id": "toy-3", "tokens": ["Nothing", "happened", "here", "."], "entities": [], "relations": []},
]
ENTITY_TYPES = ["Loc", "Org", "Peop"]
RELATION_TYPES = ["Live_In", "Located_In", "Work_For"]

_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>", ".", ",", "-", "john", "smith", "lives", "in",
          "boston", "mary", "works", "for", "acme", "corp", "new", "york", "city", "hired", "johnson", "##ville",
          "from", "nothing", "happened", "here", "the", "a", "of", "and", "pain", "leg", "aspirin", "caused", "severe",
          "bleeding", "gastric", "muscle", "in", "arm", "sore", "my", "was", "born", "is", "at"]


@pytest.fixture(scope="session")
def tokenizer() -> BertTokenizerFast:
    """A lower-casing fast WordPiece tokenizer over a small vocabulary (unknown words become [UNK])."""
    vocab = {word: index for index, word in enumerate(dict.fromkeys(_VOCAB))}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=64)


@pytest.fixture()
def tiny_bert_config(tokenizer) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def overfit(model, batch: dict, steps: int = 200, lr: float = 3e-3) -> float:
    """Train `model` on one batch with AdamW; returns the last loss. Seeds are the caller's business."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return float(loss.detach())


def strip_scores(prediction: dict) -> dict:
    """A prediction without scores, entities as sorted tuples and relations over entity tuples, for exact comparison."""
    entities = [
        (e["start"], e["end"], e["type"], tuple(map(tuple, e.get("fragments") or []))) for e in prediction["entities"]
    ]
    relations = {(entities[r["head"]], entities[r["tail"]], r["type"]) for r in prediction["relations"]}
    return {"entities": sorted(entities), "relations": relations}


def predicting_iter_model(encoder_config, max_length: int = 24, seed: int = 0):
    """A random ITER model that predicts entities and relations on any text, so that properties of the pipeline and
    of evaluation are not vacuous: its heads are drawn wider than a fresh initialisation (whose probabilities all sit
    within 0.01 of their mean) and its thresholds keep roughly the top tenth of words, spans and pairs."""
    from hf_jointie import IterConfig, IterModel

    torch.manual_seed(seed)
    model = IterModel(IterConfig(encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                                 max_length=max_length, threshold=0.9, relation_threshold=0.99))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not name.startswith("encoder."):
                parameter.normal_(0.0, 0.3)
    return model.eval()
