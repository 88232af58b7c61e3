"""Trainer glue: the data collator every architecture shares and a `Trainer` whose evaluation decodes.

The plain `Trainer` evaluation concatenates logits across batches, which does not fit set-valued outputs (entities
and relations). [`JointIETrainer`] keeps everything else of `Trainer` (optimiser, schedules, accelerate, logging,
checkpointing) and evaluates through the models' shared `decode` and [`compute_joint_ie_metrics`], so
`eval_results.json` holds `eval_ner_f1`, `eval_re_f1`, `eval_re_strict_f1`, ... .
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments

from .data import (
    encode_labels,
    encode_words,
    merge_windows,
    window_budget,
    window_record,
    window_spans,
    word_lengths,
)
from .metrics import compute_joint_ie_metrics
from .outputs import JointIEPrediction


#: The gold tensors of `encode_labels`: a forward pass without them predicts only.
LABEL_KEYS = ("entity_labels", "entity_fragments", "relation_labels")
#: What the collator adds for evaluation besides model inputs: the raw rows, and where each window of a long row sits.
BATCH_METADATA_KEYS = ("references", "windows")


@dataclass
class JointIETrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the optimiser settings of the heads on top of the backbone.

    The papers tune the pretrained backbone and the freshly initialised heads separately (ITER's Table 7 gives a
    learning rate, schedule and weight decay for each; BiSPN trains its decoder faster than its encoder). Parameters
    of the modules a model names in `backbone_modules` (by default its pretrained encoder) use
    `learning_rate` / `weight_decay`; every other parameter uses `head_learning_rate` / `head_weight_decay`, which
    default to the same values. Both groups follow the one `lr_scheduler_type`.
    """

    head_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the parameters outside the backbone (default: learning_rate)."}
    )
    head_weight_decay: float | None = field(
        default=None, metadata={"help": "Weight decay of the parameters outside the backbone (default: weight_decay)."}
    )
    compute_eval_loss: bool = field(
        default=True,
        metadata={
            "help": "Also report eval_loss, which takes a forward pass with the gold labels besides the decoding one. "
            "Turn it off where the training forward is expensive (Cascade-SRN early fusion re-encodes the text per "
            "gold entity)."
        },
    )


@dataclass
class JointIEDataCollator:
    """Tokenizes rows of the schema, aligns words to subwords and adds the gold tensors of `encode_labels`.

    The raw rows travel along under `references` (popped before the model is called) so that evaluation compares
    decoded predictions with exactly the rows of the batch, also when accelerate shards evaluation. With no
    `relation_types` (an entity-only model) the rows' relations are ignored instead of rejected as unknown labels.

    A row longer than `max_length` subwords is cut into the pipeline's overlapping windows
    ([`hf_jointie.data.window_spans`], consecutive windows sharing `stride` words) and the batch holds one sequence
    per window, with the gold annotations each window holds whole ([`hf_jointie.data.window_record`]). The batch then
    also carries `windows`, the `(row, word offset)` of every sequence, which evaluation uses to merge the windows'
    predictions back into one prediction per row; `references` stay the complete rows.
    """

    tokenizer: PreTrainedTokenizerBase
    entity_types: Sequence[str]
    relation_types: Sequence[str]
    max_length: int | None = None
    stride: int | None = None

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        labelled = all("entities" in row for row in rows)
        # an entity-only model (NAG-NER) trained on joint data: relations are not its task
        targets = rows if self.relation_types or not labelled else [{**row, "relations": []} for row in rows]
        targets, windows = self._windows(targets)
        batch: dict[str, Any] = encode_words(
            self.tokenizer, [row["tokens"] for row in targets], self.max_length, names=[row.get("id") for row in targets]
        )
        if labelled:
            batch.update(encode_labels(targets, self.entity_types, self.relation_types))
            batch["references"] = [
                {"entities": list(row["entities"]), "relations": list(row.get("relations") or [])} for row in rows
            ]
        if windows is not None:
            batch["windows"] = windows
        return batch

    def _windows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[Sequence[Mapping[str, Any]], list | None]:
        """The rows cut into windows, and the `(row, offset)` of each window (`None` when every row fits)."""
        if self.max_length is None:
            return rows, None
        budget = window_budget(self.tokenizer, self.max_length)
        lengths = word_lengths(self.tokenizer, [row["tokens"] for row in rows])
        if all(int(length.sum()) <= budget for length in lengths):
            return rows, None
        pieces, windows = [], []
        for index, (row, length) in enumerate(zip(rows, lengths)):
            spans = window_spans(length, budget, self.stride)
            if "entities" in row:
                pieces.extend(window_record(row, spans)[0])
            else:
                pieces.extend({**row, "tokens": list(row["tokens"][start:end])} for start, end in spans)
            windows.extend((index, start) for start, _ in spans)
        return pieces, windows


def merge_batch_windows(
    predictions: Sequence[JointIEPrediction], windows: Sequence[tuple[int, int]] | None, num_rows: int
) -> list[JointIEPrediction]:
    """One prediction per row from the predictions of a batch's windows (see [`JointIEDataCollator`])."""
    if windows is None:
        return list(predictions)
    grouped: list[tuple[list, list]] = [([], []) for _ in range(num_rows)]
    for prediction, (row, offset) in zip(predictions, windows):
        grouped[row][0].append(prediction)
        grouped[row][1].append(offset)
    return [merge_windows(parts, offsets) for parts, offsets in grouped]


class JointIETrainer(Trainer):
    """`Trainer` for hf_jointie models: loss as usual, evaluation by decoding (see the module docstring).

    `compute_metrics`, if given, is called as `compute_metrics(predictions, references)` with lists of prediction
    dicts and reference rows; by default it is [`compute_joint_ie_metrics`] over the model's label sets.
    """

    def __init__(self, *args, compute_metrics: Callable | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.joint_ie_metrics = compute_metrics

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        """The `Trainer` optimiser, with the heads in parameter groups of their own when `head_learning_rate` or
        `head_weight_decay` is set (see [`JointIETrainingArguments`])."""
        head_lr = getattr(self.args, "head_learning_rate", None)
        head_decay = getattr(self.args, "head_weight_decay", None)
        if self.optimizer is not None or (head_lr is None and head_decay is None):
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay_names = set(self.get_decay_parameter_names(model))
        backbone = tuple(f"{name}." for name in model.backbone_modules)
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                groups.setdefault((name.startswith(backbone), name in decay_names), []).append(parameter)
        settings = {
            True: (self.args.learning_rate, self.args.weight_decay),
            False: (self.args.learning_rate if head_lr is None else head_lr,
                    self.args.weight_decay if head_decay is None else head_decay),
        }
        param_groups = [
            {"params": params, "lr": settings[is_backbone][0], "weight_decay": settings[is_backbone][1] if decays else 0.0}
            for (is_backbone, decays), params in sorted(groups.items(), reverse=True)
        ]
        optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_class(param_groups, **optimizer_kwargs)
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {key: value for key, value in inputs.items() if key not in BATCH_METADATA_KEYS}
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def predict_dataset(self, dataset: Dataset) -> tuple[list[JointIEPrediction], list[dict], float | None]:
        """Decode `dataset` batch by batch; returns predictions, the matching reference rows and the mean loss (None
        when `compute_eval_loss` is off: the model then sees no labels)."""
        model = self.accelerator.unwrap_model(self.model)
        model.eval()
        with_loss = getattr(self.args, "compute_eval_loss", True)
        predictions, references, losses = [], [], []
        with torch.inference_mode():
            for batch in self.get_eval_dataloader(dataset):
                batch = self._prepare_inputs(batch)
                rows = batch.pop("references")
                windows = batch.pop("windows", None)
                if not with_loss:
                    batch = {key: value for key, value in batch.items() if key not in LABEL_KEYS}
                outputs = model(**batch)
                decoded = merge_batch_windows(model.decode(outputs, batch), windows, len(rows))
                gathered = self.accelerator.gather_for_metrics(list(zip(decoded, rows)), use_gather_object=True)
                predictions.extend(prediction for prediction, _ in gathered)
                references.extend(reference for _, reference in gathered)
                if with_loss:
                    losses.append(float(outputs.loss))
        return predictions, references, sum(losses) / len(losses) if losses else None

    def evaluate(self, eval_dataset: Dataset | None = None, ignore_keys=None, metric_key_prefix: str = "eval"):
        dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if isinstance(dataset, dict):
            metrics = {}
            for name, part in dataset.items():
                metrics.update(self.evaluate(part, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        start = time.time()
        predictions, references, loss = self.predict_dataset(dataset)
        config = self.accelerator.unwrap_model(self.model).config
        if self.joint_ie_metrics is not None:
            scores = self.joint_ie_metrics(predictions, references)
        else:
            scores = compute_joint_ie_metrics(predictions, references, config.entity_types, config.relation_types)
        runtime = time.time() - start
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in scores.items()}
        if loss is not None:
            metrics[f"{metric_key_prefix}_loss"] = loss if math.isfinite(loss) else float("nan")
        metrics[f"{metric_key_prefix}_runtime"] = round(runtime, 4)
        metrics[f"{metric_key_prefix}_samples_per_second"] = round(len(references) / max(runtime, 1e-9), 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
