"""Trainer glue: the data collator every architecture shares, a `Trainer` whose evaluation decodes, per-group
optimiser settings, dev-set threshold calibration and the architectures' recommended training settings.

The plain `Trainer` evaluation concatenates logits across batches, which does not fit set-valued outputs (entities
and relations). [`JointIETrainer`] keeps everything else of `Trainer` (optimiser, schedules, accelerate, logging,
checkpointing) and evaluates through the models' shared `decode` and [`compute_joint_ie_metrics`], so
`eval_results.json` holds `eval_ner_f1`, `eval_re_f1`, `eval_re_strict_f1`, ... . The backbone and the heads get a
learning rate, schedule type, warm-up and weight decay each ([`JointIETrainingArguments`]); [`calibrate_thresholds`]
chooses the decoding thresholds on a held-out split; [`explicitly_given`] / [`default_arguments`] let the example
script fill in a config's `training_defaults` for the flags a user leaves out.
"""

from __future__ import annotations

import dataclasses
import math
import time
from argparse import SUPPRESS, ArgumentParser
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from datasets import Dataset
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase, SchedulerType, Trainer, TrainingArguments, get_scheduler

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
    learning rate, schedule type, warm-up and weight decay for each; BiSPN trains its decoder faster than its
    encoder). Parameters of the modules a model names in `backbone_modules` (by default its pretrained encoder) use
    `learning_rate` / `lr_scheduler_type` / `warmup_steps` / `weight_decay`; every other parameter uses the `head_*`
    counterparts, each of which defaults to the backbone's value.
    """

    head_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the parameters outside the backbone (default: learning_rate)."}
    )
    head_weight_decay: float | None = field(
        default=None, metadata={"help": "Weight decay of the parameters outside the backbone (default: weight_decay)."}
    )
    head_lr_scheduler_type: str | None = field(
        default=None,
        metadata={"help": "Schedule type of the parameters outside the backbone, a `--lr_scheduler_type` value whose "
                  "scheduler is a LambdaLR (linear, cosine, constant, constant_with_warmup, ...; default: "
                  "lr_scheduler_type)."},
    )
    head_warmup_steps: float | None = field(
        default=None,
        metadata={"help": "Warm-up of the parameters outside the backbone, as `--warmup_steps` (a value below 1 is a "
                  "fraction of the training steps; default: warmup_steps)."},
    )
    compute_eval_loss: bool = field(
        default=False,
        metadata={
            "help": "Also report eval_loss, which takes a forward pass with the gold labels besides the decoding one "
            "(for Cascade-SRN early fusion it re-encodes the text per gold entity, for NAG-NER it decodes every word)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.head_lr_scheduler_type is not None:
            try:
                SchedulerType(self.head_lr_scheduler_type)
            except ValueError:
                raise ValueError(
                    f"--head_lr_scheduler_type {self.head_lr_scheduler_type!r} is not a schedule type; choose one of "
                    f"{[kind.value for kind in SchedulerType]}."
                ) from None
        if self.head_warmup_steps is not None and self.head_warmup_steps < 0:
            raise ValueError(f"--head_warmup_steps must be >= 0, got {self.head_warmup_steps}.")

    def has_head_settings(self) -> bool:
        return any(getattr(self, name) is not None for name in HEAD_SETTINGS)

    def has_head_schedule(self) -> bool:
        """Whether the heads follow another schedule than the backbone (type or warm-up)."""
        scheduler = self.head_lr_scheduler_type
        return (scheduler is not None and SchedulerType(scheduler) != SchedulerType(self.lr_scheduler_type)) or (
            self.head_warmup_steps is not None and self.head_warmup_steps != self.warmup_steps
        )


#: The `JointIETrainingArguments` fields of the head parameter groups.
HEAD_SETTINGS = ("head_learning_rate", "head_weight_decay", "head_lr_scheduler_type", "head_warmup_steps")


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


def schedule_multiplier(
    name: str, warmup_steps: float, num_training_steps: int, scheduler_kwargs: dict | None = None
) -> Callable[[int], float]:
    """The learning-rate multiplier per step of the transformers schedule `name` (`--lr_scheduler_type` values),
    taken from the `LambdaLR` that `get_scheduler` builds; `warmup_steps` below 1 is a fraction of the steps, as in
    `TrainingArguments`."""
    warmup = int(warmup_steps) if warmup_steps >= 1 else math.ceil(num_training_steps * warmup_steps)
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(name, probe, num_warmup_steps=warmup, num_training_steps=num_training_steps,
                              scheduler_specific_kwargs=scheduler_kwargs or None)
    if not isinstance(scheduler, LambdaLR):
        raise ValueError(
            f"The schedule {name!r} is not a fixed multiplier per step ({type(scheduler).__name__}), so the backbone "
            "and the heads cannot follow different schedules with it; give both the same schedule type."
        )
    return scheduler.lr_lambdas[0]


class JointIETrainer(Trainer):
    """`Trainer` for hf_jointie models: loss as usual, evaluation by decoding (see the module docstring).

    `compute_metrics`, if given, is called as `compute_metrics(predictions, references)` with lists of prediction
    dicts and reference rows; by default it is [`compute_joint_ie_metrics`] over the model's label sets.
    """

    def __init__(self, *args, compute_metrics: Callable | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.joint_ie_metrics = compute_metrics

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        """The `Trainer` optimiser, with the backbone and the heads in parameter groups of their own (tagged
        `"part": "backbone"` / `"heads"`) when any `head_*` setting is given (see [`JointIETrainingArguments`])."""
        if self.optimizer is not None or not getattr(self.args, "has_head_settings", lambda: False)():
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay_names = set(self.get_decay_parameter_names(model))
        backbone = tuple(f"{name}." for name in model.backbone_modules)
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                groups.setdefault((name.startswith(backbone), name in decay_names), []).append(parameter)
        args = self.args
        settings = {
            True: (args.learning_rate, args.weight_decay),
            False: (args.learning_rate if args.head_learning_rate is None else args.head_learning_rate,
                    args.weight_decay if args.head_weight_decay is None else args.head_weight_decay),
        }
        param_groups = [
            {"params": params, "lr": settings[is_backbone][0], "part": "backbone" if is_backbone else "heads",
             "weight_decay": settings[is_backbone][1] if decays else 0.0}
            for (is_backbone, decays), params in sorted(groups.items(), reverse=True)
        ]
        optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_class(param_groups, **optimizer_kwargs)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The `Trainer` schedule, or, when the heads follow another schedule type or warm-up than the backbone, one
        `LambdaLR` with a multiplier per parameter group: the backbone's from `lr_scheduler_type` / `warmup_steps`,
        the heads' from `head_lr_scheduler_type` / `head_warmup_steps`. The multipliers are transformers' own
        schedule functions, so checkpoints save and resume the scheduler as usual."""
        if self.lr_scheduler is not None or not getattr(self.args, "has_head_schedule", lambda: False)():
            return super().create_scheduler(num_training_steps, optimizer)
        optimizer = self.optimizer if optimizer is None else optimizer
        args = self.args
        schedules = {
            "backbone": (args.lr_scheduler_type, args.warmup_steps),
            "heads": (args.head_lr_scheduler_type or args.lr_scheduler_type,
                      args.warmup_steps if args.head_warmup_steps is None else args.head_warmup_steps),
        }
        multipliers = {
            part: schedule_multiplier(name, warmup, num_training_steps, args.lr_scheduler_kwargs)
            for part, (name, warmup) in schedules.items()
        }
        self.lr_scheduler = LambdaLR(optimizer, [multipliers[group.get("part", "heads")] for group in optimizer.param_groups])
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {key: value for key, value in inputs.items() if key not in BATCH_METADATA_KEYS}
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def predict_dataset(self, dataset: Dataset) -> tuple[list[JointIEPrediction], list[dict], float | None]:
        """Decode `dataset` batch by batch; returns predictions, the matching reference rows and the loss per model
        input row over every process's shard (None when `compute_eval_loss` is off: the model then sees no labels).

        Each reference row carries its batch's share of the loss (as `Trainer` repeats a batch's loss per sample), so
        the rows `accelerate` repeats to even out the last batch across processes drop out of the loss with their
        predictions."""
        model = self.accelerator.unwrap_model(self.model)
        model.eval()
        with_loss = getattr(self.args, "compute_eval_loss", False)
        predictions, references, loss_sum, loss_rows = [], [], 0.0, 0.0
        with torch.inference_mode():
            for batch in self.get_eval_dataloader(dataset):
                batch = self._prepare_inputs(batch)
                rows = batch.pop("references")
                windows = batch.pop("windows", None)
                if not with_loss:
                    batch = {key: value for key, value in batch.items() if key not in LABEL_KEYS}
                outputs = model(**batch)
                decoded = merge_batch_windows(model.decode(outputs, batch), windows, len(rows))
                share = None
                if with_loss:  # the model's loss is a mean over its input rows (windows)
                    size = len(batch["input_ids"])
                    share = (float(outputs.loss) * size / len(rows), size / len(rows))
                gathered = self.accelerator.gather_for_metrics(
                    [(prediction, row, share) for prediction, row in zip(decoded, rows)], use_gather_object=True
                )
                for prediction, reference, row_share in gathered:
                    predictions.append(prediction)
                    references.append(reference)
                    if row_share is not None:
                        loss_sum, loss_rows = loss_sum + row_share[0], loss_rows + row_share[1]
        return predictions, references, loss_sum / loss_rows if loss_rows else None

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


# ---- threshold calibration on a held-out split ----------------------------------------------------------------------

#: Values every decoding threshold is tried at (besides its current value); the thresholds are probabilities, and 0
#: keeps every candidate the decoding rule itself accepts (BiSPN's default).
CALIBRATION_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)

#: F1 points a threshold must gain on the selection split before it moves. A dev split of a few hundred sentences
#: cannot tell smaller gains from noise: on CoNLL04 (231 dev sentences) ITER's calibration moved its two thresholds
#: (0.5 -> 0.95, 0.5 -> 0.8) for +1.43 dev RE+ together and cost 1.54 test RE+ (benchmarks/RESULTS.md), while the
#: miscalibrations calibration exists for (a planted threshold, Cascade-SRN's cascaded 0.5s) cost several points.
CALIBRATION_MIN_GAIN = 1.0


def threshold_names(config) -> list[str]:
    """The decoding thresholds a config exposes: its float fields named `threshold` or `*_threshold`, in field
    order (for every architecture the entity thresholds come before the relation ones)."""
    return [
        item.name for item in dataclasses.fields(config)
        if (item.name == "threshold" or item.name.endswith("_threshold")) and isinstance(getattr(config, item.name), float)
    ]


def selection_metric(config, metric_for_best_model: str | None = None) -> str:
    """The score model selection maximises: `metric_for_best_model` without its `eval_` prefix, or, when that is
    unset or a loss (which decoding thresholds do not change), RE+ F1 (`re_strict_f1`) for a model that predicts
    relations and NER F1 otherwise."""
    metric = (metric_for_best_model or "").removeprefix("eval_")
    if not metric or metric.endswith("loss"):
        metric = "re_strict_f1" if config.relation_types else "ner_f1"
    return metric


@contextmanager
def overridden(config, values: Mapping[str, float]):
    """Set config attributes to `values` for the duration of the block (decode reads its thresholds from there)."""
    saved = {name: getattr(config, name) for name in values}
    try:
        for name, value in values.items():
            setattr(config, name, value)
        yield config
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


@dataclass
class ThresholdCalibration:
    """What [`calibrate_thresholds`] found: the chosen thresholds, the metric at the start and at the end, per
    threshold the curve `[(value, score), ...]` of its last sweep, the thresholds the forward reads and, of those,
    the ones one covering forward served (with its value)."""

    metric: str
    split: str | None
    before: dict[str, float]
    after: dict[str, float]
    score_before: float
    score_after: float
    curves: dict[str, list[tuple[float, float]]]
    forward_thresholds: list[str]
    covering_forward: dict[str, float]
    min_gain: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def report(self) -> str:
        """The dev curves as text for the log."""
        lines = [f"threshold calibration on {self.split or 'the selection split'} for {self.metric}: "
                 f"{self.score_before:.2f} -> {self.score_after:.2f} (a threshold moves for a gain > {self.min_gain:g})"]
        for name, curve in self.curves.items():
            points = "  ".join(f"{value:g}:{score:.2f}" for value, score in curve)
            lines.append(f"  {name} {self.before[name]:g} -> {self.after[name]:g} | {points}")
        return "\n".join(lines)


class _CachedForward:
    """The decoding forward over a dataset, run once per setting of the thresholds the forward itself reads (ITER's
    `left_threshold` picks the brackets `is_span` scores); the others only change `decode`, which re-runs on the
    cached outputs. Every process goes through the whole dataset (not a shard of it), so that all of them choose the
    same thresholds without gathering, and no padding rows of a sharded last batch are scored."""

    def __init__(self, trainer: JointIETrainer, dataset: Dataset):
        self.trainer, self.model = trainer, trainer.accelerator.unwrap_model(trainer.model)
        self.batches = []
        loader = DataLoader(dataset, batch_size=trainer.args.per_device_eval_batch_size, collate_fn=trainer.data_collator)
        for batch in loader:
            batch = trainer._prepare_inputs(batch)
            rows, windows = batch.pop("references"), batch.pop("windows", None)
            self.batches.append(({key: value for key, value in batch.items() if key not in LABEL_KEYS}, rows, windows))
        self.cache: dict[tuple, list] = {}

    def outputs(self, key: tuple, values: Mapping[str, float]) -> list:
        if key not in self.cache:
            while len(self.cache) > 1:  # keep the last used (the current best) besides the setting being tried
                self.cache.pop(next(iter(self.cache)))
            with torch.inference_mode(), overridden(self.model.config, values):
                self.cache[key] = [self.model(**batch) for batch, _, _ in self.batches]
        self.cache[key] = self.cache.pop(key)  # most recently used last
        return self.cache[key]

    def reads_in_forward(self, name: str, values: Sequence[float]) -> bool:
        """Whether the forward's outputs on the first batch differ between the extreme values of `name`."""
        if not self.batches:
            return False
        batch = self.batches[0][0]
        with torch.inference_mode():
            runs = []
            for value in (min(values), max(values)):
                with overridden(self.model.config, {name: value}):
                    runs.append(self.model(**batch))
        return not _same_outputs(*runs)

    def covering_value(self, name: str, values: Sequence[float]) -> float | None:
        """For a threshold the forward reads: an extreme of `values` whose forward, decoded with the threshold at
        any of `values`, predicts on the first batch exactly what the forward at that value does (ITER's forward
        scores a superset of brackets at a low `left_threshold` and its decoding re-applies the threshold); `None`
        when neither extreme does or the threshold changes no prediction of the batch, and each value then needs its
        own forward."""
        batch = self.batches[0][0]

        def decoded(forward_value: float, decode_value: float):
            with torch.inference_mode(), overridden(self.model.config, {name: forward_value}):
                output = self.model(**batch)
            with torch.inference_mode(), overridden(self.model.config, {name: decode_value}):
                return [_without_scores(prediction) for prediction in self.model.decode(output, batch)]

        own = {value: decoded(value, value) for value in values}
        if len({repr(predictions) for predictions in own.values()}) == 1:
            return None  # the threshold changes nothing on this batch at the other thresholds: no evidence either way
        for extreme in (min(values), max(values)):
            if all(decoded(extreme, value) == own[value] for value in values):
                return extreme
        return None

    def score(self, values: dict[str, float], forward_names: Sequence[str], fixed: Mapping[str, float], metric: str,
              compute) -> float:
        """`metric` with the thresholds at `values`: the forward at `values` for `forward_names` and at `fixed` for
        the thresholds a covering forward serves (see `covering_value`), decoding at `values`."""
        key = tuple(values[name] for name in forward_names)
        outputs = self.outputs(key, {**fixed, **{name: values[name] for name in forward_names}})
        predictions, references = [], []
        with torch.inference_mode(), overridden(self.model.config, values):
            for output, (batch, rows, windows) in zip(outputs, self.batches):  # long rows: their windows merged
                predictions.extend(merge_batch_windows(self.model.decode(output, batch), windows, len(rows)))
                references.extend(rows)
        scores = compute(predictions, references)
        if metric not in scores:
            raise ValueError(f"Cannot calibrate for {metric!r}: the metrics are {sorted(scores)}.")
        return float(scores[metric])


def _without_scores(prediction: Mapping[str, Any]) -> tuple:
    entities = [(e["start"], e["end"], e["type"], str(e.get("fragments"))) for e in prediction["entities"]]
    relations = sorted((entities[r["head"]], entities[r["tail"]], r["type"]) for r in prediction["relations"])
    return sorted(entities), relations


def _same_outputs(first, second) -> bool:
    for key in set(first.keys()) | set(second.keys()):
        a, b = first.get(key), second.get(key)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            if a.shape != b.shape or not torch.equal(a, b):
                return False
        elif (a is None) != (b is None):
            return False
    return True


def calibrate_thresholds(
    trainer: JointIETrainer,
    dataset: Dataset,
    metric: str | None = None,
    grid: Sequence[float] | None = None,
    rounds: int = 1,
    split: str | None = None,
    min_gain: float = CALIBRATION_MIN_GAIN,
) -> ThresholdCalibration:
    """Choose each decoding threshold of the trainer's model for the best `metric` on `dataset` and write it into
    the model's config (so `save_model` stores it).

    Coordinate-wise: the thresholds are swept one at a time over `grid` (plus their current value), each keeping the
    best value found so far for the others, `rounds` times in [`threshold_names`] order. The forward runs over
    `dataset` once; only `decode` re-runs per value. A threshold the forward itself reads (detected on the first
    batch) is served by one forward at the extreme value that covers every other value on the first batch (see
    `_CachedForward.covering_value`), or else by a forward per value. A value moves only when it scores more than
    `min_gain` points (of the metric, in percent) higher ([`CALIBRATION_MIN_GAIN`]: smaller dev gains are noise);
    among the values that score best, the one closest to the current value wins. `metric` defaults to
    [`selection_metric`] of `metric_for_best_model`; `grid` to [`CALIBRATION_GRID`], without 0 for configs that set
    `calibrate_at_zero = False`.
    """
    model = trainer.accelerator.unwrap_model(trainer.model)
    config = model.config
    if grid is None:
        grid = [value for value in CALIBRATION_GRID if value > 0 or getattr(config, "calibrate_at_zero", True)]
    metric = selection_metric(config, metric or trainer.args.metric_for_best_model)
    names = threshold_names(config)
    model.eval()
    if trainer.joint_ie_metrics is not None:
        compute = trainer.joint_ie_metrics
    else:
        def compute(predictions, references):
            return compute_joint_ie_metrics(predictions, references, config.entity_types, config.relation_types)
    forward = _CachedForward(trainer, dataset)
    current = {name: getattr(config, name) for name in names}
    read_in_forward = [name for name in names if forward.reads_in_forward(name, [*grid, current[name]])]
    covering = {name: forward.covering_value(name, sorted({*grid, current[name]})) for name in read_in_forward}
    fixed = {name: value for name, value in covering.items() if value is not None}
    forward_names = [name for name in read_in_forward if name not in fixed]
    scores: dict[tuple, float] = {}

    def score(values: dict[str, float]) -> float:
        key = tuple(values[name] for name in names)
        if key not in scores:
            scores[key] = forward.score(values, forward_names, fixed, metric, compute)
        return scores[key]

    before, score_before = dict(current), score(current)
    curves: dict[str, list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for name in names:
            curve = [(value, score({**current, name: value})) for value in sorted({*grid, current[name]})]
            best = max(s for _, s in curve)
            if best > score(current) + min_gain:
                current[name] = min((v for v, s in curve if s == best), key=lambda v: abs(v - current[name]))
            curves[name] = curve
    for name, value in current.items():
        setattr(config, name, value)
    return ThresholdCalibration(metric, split, before, dict(current), score_before, score(current), curves,
                                read_in_forward, fixed, min_gain)


# ---- recommended settings of an architecture, where the user gives none -----------------------------------------------


def explicitly_given(parser: ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations (field names) of the options `argv` sets explicitly, aliases and `--no_*` forms included:
    `argv` parsed once more with every default suppressed."""
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = SUPPRESS
        namespace, _ = parser.parse_known_args(list(argv))
    finally:
        for action, default in saved:
            action.default = default
    return set(vars(namespace))


def default_arguments(defaults: Mapping[str, Any], given: set[str]) -> list[str]:
    """Command-line flags for the entries of `defaults` (an architecture config's `training_defaults`) that the user
    did not set, to be parsed before the user's own."""
    flags = []
    for name, value in defaults.items():
        if name not in given:
            flags += [f"--{name}", str(value)]
    return flags
