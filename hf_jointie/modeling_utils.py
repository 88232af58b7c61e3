"""The base every hf_jointie architecture builds on: backbone construction and loading, word pooling, and the
tensor helpers of the decode contract.

The model contract (see `DESIGN.md`): a model wraps any `transformers` encoder chosen by `config.encoder_config`,
takes `input_ids`, `attention_mask`, `word_index`, `word_mask` and optionally the gold tensors of
[`hf_jointie.data.encode_labels`], returns a `ModelOutput` with `loss` first, and implements
`decode(outputs, batch) -> list[JointIEPrediction]` in word offsets. Architectures work on word representations (the
hidden state of each word's first subword), so every model shares one alignment and one output format.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, PreTrainedConfig, PreTrainedModel

from .configuration_utils import JointIEConfig
from .outputs import JointIEOutput, JointIEPrediction


def build_encoder(encoder_config: PreTrainedConfig) -> PreTrainedModel:
    """Instantiate the backbone of `encoder_config` without weights; for encoder-decoder configs (T5, BART) keep only
    the encoder stack."""
    model = AutoModel.from_config(encoder_config)
    if _has_decoder(model):
        model = model.get_encoder()
    return model


def _has_decoder(model: PreTrainedModel) -> bool:
    """Whether `model` is an encoder-decoder, by its modules rather than `config.is_encoder_decoder`: a T5 config
    written by `T5EncoderModel.save_pretrained` says `is_encoder_decoder: false`, yet `AutoModel` builds `T5Model`."""
    return getattr(model.config, "is_encoder_decoder", False) or getattr(model, "decoder", None) is not None


class JointIEPreTrainedModel(PreTrainedModel):
    """Base class of the hf_jointie models: owns `self.encoder` and the shared helpers."""

    config_class = JointIEConfig
    base_model_prefix = "jointie"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    #: Modules holding pretrained weights; the optimiser may give them their own learning rate (see
    #: `hf_jointie.training.JointIETrainingArguments`). Everything else is a freshly initialised head.
    backbone_modules: tuple[str, ...] = ("encoder",)

    def __init__(self, config: JointIEConfig):
        config.check_labels()
        super().__init__(config)
        self.encoder = build_encoder(config.encoder_config)

    @classmethod
    def from_encoder_pretrained(
        cls,
        encoder_name_or_path: str | os.PathLike,
        entity_types: list[str],
        relation_types: list[str] | None = None,
        **config_kwargs,
    ) -> "JointIEPreTrainedModel":
        """Build a model around a pretrained backbone: its config becomes `encoder_config` and its weights are
        loaded into `self.encoder` once; every other parameter is freshly initialised. A model saved afterwards with
        `save_pretrained` never needs the backbone path again."""
        backbone = AutoModel.from_pretrained(encoder_name_or_path)
        config = cls.config_class(
            encoder_config=backbone.config,
            entity_types=entity_types,
            relation_types=relation_types or [],
            **config_kwargs,
        )
        model = cls(config)
        if _has_decoder(backbone):
            backbone = backbone.get_encoder()
        model.encoder.load_state_dict(backbone.state_dict())
        model.post_load_backbone()
        return model

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *args, fresh_parts: Sequence[str] = (), **kwargs
    ) -> "JointIEPreTrainedModel":
        """`PreTrainedModel.from_pretrained`, strict: never a silently random model.

        A local checkpoint directory is checked first (a missing `config.json` or weights file, a truncated or corrupt
        safetensors file raise a `ValueError` naming the file). After loading, a parameter the checkpoint left
        uninitialised, a tensor of the checkpoint the model does not use, or a tensor of the wrong shape raise a
        `ValueError` naming the keys; `fresh_parts` lists module prefixes (e.g. `("rr_score",)`) that the caller
        explicitly wants freshly initialised instead. Checkpoints in another package's layout are read through
        [`checkpoint_key_mapping`] (ITER: the authors' `fleonce/iter-*`); `save_pretrained` writes ours.
        """
        if os.path.isdir(pretrained_model_name_or_path):
            check_checkpoint_directory(Path(pretrained_model_name_or_path))
        mapping = cls.checkpoint_key_mapping(pretrained_model_name_or_path, kwargs)
        if mapping:
            kwargs["key_mapping"] = {**mapping, **(kwargs.get("key_mapping") or {})}
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        if mapping:  # saving must write our layout, not revert to theirs
            model._weight_conversions = [
                conversion for conversion in getattr(model, "_weight_conversions", None) or []
                if not set(conversion._original_source_patterns) & set(mapping)
            ] or None
        prefixes = tuple(f"{part.rstrip('.')}." for part in fresh_parts)
        missing = sorted(key for key in info["missing_keys"] if not key.startswith(prefixes))
        problems = []
        if missing:
            problems.append(f"parameters missing from the checkpoint (they would stay random): {missing}")
        if info["unexpected_keys"]:
            problems.append(f"tensors the model does not use: {sorted(info['unexpected_keys'])}")
        if info.get("mismatched_keys"):
            problems.append(f"tensors of the wrong shape: {sorted(str(key) for key in info['mismatched_keys'])}")
        if problems:
            raise ValueError(
                f"{pretrained_model_name_or_path} does not match {cls.__name__} ({type(model.config).__name__}): "
                + "; ".join(problems)
                + ". Pass `fresh_parts=(...)` to initialise named modules freshly on purpose."
            )
        return (model, info) if wants_info else model

    @classmethod
    def checkpoint_key_mapping(cls, pretrained_model_name_or_path: str | os.PathLike, kwargs: dict) -> dict[str, str]:
        """Regex renamings of checkpoint keys into ours, for checkpoints saved in another package's layout (none by
        default; see `IterModel`)."""
        return {}

    def post_load_backbone(self) -> None:
        """Hook for architectures that initialise further modules from the backbone's weights (e.g. a decoder)."""

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def word_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_index: torch.Tensor
    ) -> torch.Tensor:
        """Run the encoder and gather the hidden state of every word's first subword: `batch x words x hidden`."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return gather_words(hidden, word_index)

    def decode(self, outputs: JointIEOutput, batch: dict[str, torch.Tensor], **thresholds) -> list[JointIEPrediction]:
        """Turn `outputs` of `forward(**batch)` into one prediction per sentence, in word offsets."""
        raise NotImplementedError(f"{type(self).__name__} must implement `decode`.")


def check_checkpoint_directory(directory: Path) -> None:
    """Raise a `ValueError` naming the file when a local checkpoint directory lacks `config.json` or its weights, or
    holds a safetensors file that is truncated or corrupt (instead of a stack trace from deep inside safetensors)."""
    if not (directory / "config.json").is_file():
        raise ValueError(f"{directory / 'config.json'} is missing: {directory} is not a saved hf_jointie model.")
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError) as error:
            raise ValueError(f"{index} is not a valid safetensors index ({error}).") from None
        files = [directory / shard for shard in shards]
    elif (directory / "model.safetensors").exists() or not any(directory.glob("*.bin")):
        files = [directory / "model.safetensors"]
    else:
        return  # a legacy pytorch_model.bin checkpoint: torch reports its own problems clearly
    for file in files:
        if not file.is_file():
            raise ValueError(f"{file} is missing: the checkpoint in {directory} is incomplete.")
        check_safetensors_file(file)


def check_safetensors_file(file: Path) -> None:
    """Check that the header of a safetensors file parses and that the file holds every byte the header declares."""
    size = file.stat().st_size
    try:
        with file.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                raise ValueError(f"the header claims {header_size} bytes")
            header = json.loads(handle.read(header_size))
        end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"{file} is not a valid safetensors file ({error}).") from None
    if 8 + header_size + end > size:
        raise ValueError(
            f"{file} is truncated: its header declares {8 + header_size + end} bytes but the file has {size}."
        )


def gather_words(hidden: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Rows of `hidden` (`batch x subwords x dim`) at each word's first subword: `batch x words x dim`."""
    return hidden.gather(1, word_index.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))


def rank_within_rows(rows: torch.Tensor, num_rows: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For flat items with `rows` sorted ascending (as `nonzero()` returns them): the item count of each row (at least
    `num_rows` entries), the flat index of each row's first item, and each item's rank within its row."""
    counts = torch.bincount(rows, minlength=num_rows)
    row_start = counts.cumsum(0) - counts
    return counts, row_start, torch.arange(len(rows), device=rows.device) - row_start[rows]


def pad_by_row(rows: torch.Tensor, num_rows: int, *values: torch.Tensor, fill: int | float = -1):
    """Scatter flat items (`rows` sorted ascending, as `nonzero()` returns them) into padded per-row tensors.

    Returns `(mask, *padded)` where `mask` is `num_rows x max_items` and each padded tensor is
    `num_rows x max_items x ...`. The slot of an item is its rank within its row.
    """
    counts, _, slots = rank_within_rows(rows, num_rows)
    width = int(counts.max()) if rows.numel() else 0
    mask = torch.zeros(num_rows, width, dtype=torch.bool, device=rows.device)
    mask[rows, slots] = True
    padded = []
    for value in values:
        out = value.new_full((num_rows, width, *value.shape[1:]), fill)
        out[rows, slots] = value
        padded.append(out)
    return (mask, *padded)


def pairs_within_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every ordered pair `(i, j)` of flat items in the same row (`rows` sorted ascending, as `nonzero()` returns
    them), self pairs included, in (row, i, j) order, without a padded `rows x items x items` grid.

    Returns `(first, second, rank, reverse)`: the item indices of each pair, each item's rank within its row (its
    number in the row's predictions), and for each pair the index of the pair `(j, i)`.
    """
    counts, row_start, rank = rank_within_rows(rows)
    partners = counts[rows]
    pair_start = partners.cumsum(0) - partners
    first = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), partners)
    second_rank = torch.arange(len(first), device=rows.device) - pair_start[first]
    second = row_start[rows[first]] + second_rank
    return first, second, rank, pair_start[second] + rank[first]


def assemble_predictions(
    config: JointIEConfig,
    num_rows: int,
    entities: dict[str, torch.Tensor],
    relations: dict[str, torch.Tensor] | None = None,
) -> list[JointIEPrediction]:
    """Build the per-sentence prediction dicts from flat decoded tensors (one `.tolist()` per field).

    `entities` holds equally long 1-d tensors `row`, `start`, `end`, `type`, `score` and optionally `fragments`
    (`items x max_fragments x 2`, `-1` padding); items of a row are numbered in the given order. `relations` holds
    `row`, `head`, `tail` (entity numbers within the row), `type`, `score`.
    """
    predictions: list[JointIEPrediction] = [{"entities": [], "relations": []} for _ in range(num_rows)]
    entity_labels, relation_labels = config.entity_types, config.relation_types
    fragments = entities["fragments"].tolist() if "fragments" in entities else None
    columns = [entities[key].tolist() for key in ("row", "start", "end", "type", "score")]
    for index, (row, start, end, label, score) in enumerate(zip(*columns)):
        entity = {"start": start, "end": end, "type": entity_labels[label], "score": score}
        if fragments is not None:
            parts = [part for part in fragments[index] if part[0] >= 0]
            if len(parts) > 1:
                entity["fragments"] = parts
        predictions[row]["entities"].append(entity)
    if relations is not None:
        columns = [relations[key].tolist() for key in ("row", "head", "tail", "type", "score")]
        for row, head, tail, label, score in zip(*columns):
            predictions[row]["relations"].append(
                {"head": head, "tail": tail, "type": relation_labels[label], "score": score}
            )
    return predictions


def best_of_overlapping(
    rows: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, scores: torch.Tensor
) -> torch.Tensor:
    """Mask of the entities that no overlapping entity of the same sentence beats (ties go to the earlier one).
    Spans are word ranges `[starts, ends)` with `ends > starts`, as every decoder produces them.

    Two spans overlap when some word lies in both, so an entity is beaten exactly when one of its words is covered
    by a stronger entity. Each entity gets a unique strength rank (score, then position), each word of each sentence
    the strongest rank covering it, and an entity survives when its own rank is the strongest over its words: memory
    linear in the covered words, where comparing all candidates with all would take `candidates^2` cells (48 GB for
    one CoNLL04 dev batch of Cascade-SRN at threshold 0, where nearly every span is a candidate).
    """
    count = rows.numel()
    if count == 0:
        return torch.zeros(0, dtype=torch.bool, device=rows.device)
    rank = torch.empty_like(rows)
    rank[torch.argsort(-scores, stable=True)] = torch.arange(count, device=rows.device)  # 0: the strongest
    num_words = int(ends.max())
    words = torch.arange(num_words, device=rows.device)
    item, word = ((starts.unsqueeze(1) <= words) & (words < ends.unsqueeze(1))).nonzero(as_tuple=True)
    cell = rows[item] * num_words + word
    strongest = rank.new_full(((int(rows.max()) + 1) * num_words,), count)
    strongest.scatter_reduce_(0, cell, rank[item], reduce="amin")
    best_over_span = rank.new_full((count,), count).scatter_reduce_(0, item, strongest[cell], reduce="amin")
    return best_over_span == rank
