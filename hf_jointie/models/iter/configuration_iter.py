"""ITER configuration."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...configuration_utils import JointIEConfig


@strict(accept_kwargs=True)
class IterConfig(JointIEConfig):
    r"""
    Configuration of [`IterModel`] (ITER, "Iterative Transformer-based Entity Recognition and Relation Extraction").

    The paper tunes the heads' activation per dataset (Table 7: GELU for CoNLL04, ReLU for ADE/NYT/GENIA/CoNLL03).
    Table 7's optimiser settings are split between the backbone ("T5" column; CoNLL04: learning rate 1e-4, linear
    schedule with 20% warm-up, weight decay 0.070) and the heads ("ITER" column; CoNLL04: 4e-4, constant schedule
    with 1% warm-up, weight decay 0.133), batch size 8; they belong to `TrainingArguments` and are
    `training_defaults` below.

    Args:
        encoder_config, entity_types, relation_types, max_length: see [`JointIEConfig`]. `relation_types` may be
            empty: ITER is then a (nested) NER model, as the paper runs it on CoNLL03 and GENIA.
        head_size (`int`, *optional*):
            Width of the hidden layer of the `is_left`, `is_span` and `is_link` heads; defaults to the encoder width.
        activation (`str`, *optional*, defaults to `"gelu"`):
            Activation of the heads (`"gelu"`, `"relu"` or `"tanh"`, the paper's search space).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the word representations the heads read.
        max_span_width (`int`, *optional*):
            Longest entity, in words, that `is_span` pairs a left bracket with; `None` pairs with every later word.
        nested (`bool`, *optional*, defaults to `True`):
            Whether decoded entities may overlap (the paper's setting). `False` keeps, among overlapping entities, the
            one with the highest probability — for flat datasets such as CoNLL04 and CoNLL03.
        left_threshold, span_threshold, relation_threshold (`float`, *optional*, default 0.5):
            Decision thresholds on the probabilities of `is_left`, `is_span` and `is_link` (the paper uses 0.5).
    """

    model_type = "iter"
    requires_relation_types = False  # the paper also evaluates NER-only datasets (CoNLL03, GENIA)
    #: Optimiser settings `examples/run_joint_ie.py` uses where the command line gives none: Table 7's CoNLL04
    #: column, the backbone ("T5") and the heads ("ITER") each with their own learning rate, schedule, warm-up and
    #: weight decay; batch size 8 (Table 7); 15 epochs as our tuned MiniLM CoNLL04 row (the paper states none).
    training_defaults = {
        "learning_rate": 1e-4, "lr_scheduler_type": "linear", "warmup_steps": 0.2, "weight_decay": 0.070,
        "head_learning_rate": 4e-4, "head_lr_scheduler_type": "constant_with_warmup", "head_warmup_steps": 0.01,
        "head_weight_decay": 0.133, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 32,
        "num_train_epochs": 15,
    }

    head_size: int | None = None
    activation: str = "gelu"
    dropout: float = 0.1
    max_span_width: int | None = None
    nested: bool = True
    left_threshold: float = 0.5
    span_threshold: float = 0.5
    relation_threshold: float = 0.5

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.activation not in ("gelu", "relu", "tanh"):
            raise ValueError(f"`activation` must be 'gelu', 'relu' or 'tanh', got {self.activation!r}.")
        if self.max_span_width is not None and self.max_span_width < 1:
            raise ValueError(f"`max_span_width` must be positive or None, got {self.max_span_width}.")
        for name in ("left_threshold", "span_threshold", "relation_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1], got {getattr(self, name)}.")


__all__ = ["IterConfig"]
