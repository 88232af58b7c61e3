"""Output types shared by every architecture.

`forward` returns a `ModelOutput` subclass whose first field is `loss` (so `Trainer` works untouched); `decode` turns
it into [`JointIEPrediction`] dicts in word offsets, the one format the pipeline, the metric and the training loop read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict

import torch
from transformers.utils import ModelOutput


class EntityPrediction(TypedDict):
    """An entity in word offsets (`end` exclusive); `fragments` only for discontinuous entities."""

    start: int
    end: int
    type: str
    score: float
    fragments: NotRequired[list[list[int]]]


class RelationPrediction(TypedDict):
    """A relation between two entities of the same prediction, by their index in `entities`."""

    head: int
    tail: int
    type: str
    score: float


class JointIEPrediction(TypedDict):
    entities: list[EntityPrediction]
    relations: list[RelationPrediction]


@dataclass
class JointIEOutput(ModelOutput):
    """Base output: `loss` (the paper's training objective, when labels are given) and the per-term `losses`
    (`name -> scalar`) for logging and ablations. Architectures add their logits as further fields."""

    loss: torch.FloatTensor | None = None
