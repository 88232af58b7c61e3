"""The configuration base shared by every hf_jointie architecture.

Each architecture subclasses [`JointIEConfig`] with its own `model_type` and its paper's hyperparameters. The
shared part is what the model contract needs: the nested `encoder_config` (any `transformers` encoder, resolved
through `AutoConfig` exactly like `EncoderDecoderConfig.encoder`), and the label sets `entity_types` /
`relation_types`, which play the role `id2label` plays for classification heads.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


def _check_label_list(name: str, labels: list[str] | None, allow_empty: bool) -> list[str]:
    """Return `labels` as a list after checking it holds unique non-empty strings."""
    labels = list(labels or [])
    if not labels and not allow_empty:
        raise ValueError(f"`{name}` must name at least one label, got {labels!r}.")
    for label in labels:
        if not isinstance(label, str) or not label:
            raise TypeError(f"`{name}` must be a list of non-empty strings, got the element {label!r}.")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"`{name}` lists these labels more than once: {duplicates}.")
    return labels


@strict(accept_kwargs=True)
class JointIEConfig(PreTrainedConfig):
    r"""
    Base configuration of a joint entity and relation extraction model.

    Args:
        encoder_config (`PreTrainedConfig` or `dict`, *optional*):
            Configuration of the backbone encoder (BERT, DeBERTa, T5, ...). A dict must carry `model_type`; for
            encoder-decoder backbones such as T5 only the encoder is used. Defaults to a `bert` config.
        entity_types (`list[str]`):
            The entity labels, in the order of the model's entity logits.
        relation_types (`list[str]`, *optional*):
            The relation labels, in the order of the model's relation logits. May be empty for entity-only models.
        max_length (`int`, *optional*):
            Subword window the pipeline feeds the encoder; longer text is split into overlapping windows. Defaults to
            the encoder's `max_position_embeddings` (512 when unknown).
    """

    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}
    #: Entity-only architectures (NAG-NER) set this to False: their `relation_types` must then be empty.
    predicts_relations = True
    #: Architectures that also work as plain NER models (ITER on GENIA or CoNLL03) set this to False.
    requires_relation_types = True
    #: Whether dev calibration (`hf_jointie.training.calibrate_thresholds`) may try a threshold of 0. Architectures
    #: whose threshold 0 accepts every candidate span (Cascade-SRN) set this to False.
    calibrate_at_zero = True

    encoder_config: PreTrainedConfig | dict | None = None
    entity_types: list[str] | None = None
    relation_types: list[str] | None = None
    max_length: int | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.entity_types = _check_label_list("entity_types", self.entity_types, allow_empty=True)
        self.relation_types = _check_label_list(
            "relation_types", self.relation_types, allow_empty=True
        )
        if self.max_length is None:
            self.max_length = getattr(self.encoder_config, "max_position_embeddings", None) or 512
        if self.max_length < 8:
            raise ValueError(f"`max_length` must be at least 8 subwords, got {self.max_length}.")

    def check_labels(self) -> None:
        """Check that the label sets are usable to build a model (called by the model, not the config, so that an
        empty config can still be created by `AutoConfig.for_model` and filled in later)."""
        _check_label_list("entity_types", self.entity_types, allow_empty=False)
        if self.predicts_relations:
            _check_label_list("relation_types", self.relation_types, allow_empty=not self.requires_relation_types)
        elif self.relation_types:
            raise ValueError(
                f"{self.model_type} extracts entities only, so `relation_types` must be empty; got {self.relation_types}."
            )

    @property
    def num_entity_types(self) -> int:
        return len(self.entity_types)

    @property
    def num_relation_types(self) -> int:
        return len(self.relation_types)

    @property
    def encoder_hidden_size(self) -> int:
        """Width of the encoder's hidden states (`d_model` for T5-style configs)."""
        for name in ("hidden_size", "d_model", "dim", "n_embd"):
            value = getattr(self.encoder_config, name, None)
            if isinstance(value, int):
                return value
        raise ValueError(f"Cannot find the hidden size of the encoder config {type(self.encoder_config).__name__}.")
