"""ITER configuration, in our layout, reading the configuration layout of the authors' `iter` package as well.

The authors released their checkpoints (`fleonce/iter-*`) with a `config.json` written by their `ITERConfig`
(upstream `iter/configuration_iter.py`, commit 39b95b72b7414a58d6762363f0fe115452317db8). Both packages use
`model_type="iter"`, so with hf_jointie imported such a file arrives here. [`IterConfig`] recognises that layout by its
`transformer_config` key and translates every field it carries into ours:

| official field | ours |
| --- | --- |
| `transformer_config` (`transformer_name`) | `encoder_config` (its `_name_or_path` names the tokenizer) |
| `entity_types` (+ a `NONE` row when feature bit 5 is set), `num_types` | `entity_types`, `none_type` |
| `link_types`, `num_links` | `relation_types` |
| `features` bit 9 with `max_nest_depth` | `max_nest_depth` (> 1: nested decoding) |
| `features` bit 18 (links in both directions) | `inverse_relations` |
| `features` bit 11 / 21 (NER only: no `rr_score`) | empty `relation_types` |
| `threshold` | `relation_threshold` |
| `d_ff`, `use_scale`, `use_gate`, `activation_fn`, `dropout` | the same names |

Fields that only steer their training or data loading (`dataset`, the loss-averaging, empty-example, symmetric
training and evaluation bits 2, 3, 8, 10, 13, 14, 16, 17, 20) are read and dropped; `use_bias` and `use_mlp` are stored
by their config but not read by their network (`modeling_iter2.py`), so they are dropped too. Their `max_length` is a
generation length copied from the backbone config (20 for BERT), not a window, so it is dropped and our `max_length`
follows the encoder. A feature bit that changes the network in a way we do not implement (0, 1, 4, 6, 7, 12, 15, 19)
raises a `ValueError` naming the bit, as does a `num_types` / `num_links` that disagrees with the label lists.
Their round trip stores `use_scale` explicitly (their constructor recomputes it from `d_ff == 0`): it is read, never
recomputed. `save_pretrained` always writes our layout.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from huggingface_hub.dataclasses import strict

from ...configuration_utils import JointIEConfig

#: Upstream feature bits that change the network or its decoding in a way this implementation does not have.
UNSUPPORTED_FEATURES = {
    0: "NER from an earlier encoder layer",
    1: "summed instead of concatenated pair representations",
    4: "log-sum-exp loss for rr_score",
    6: "T5 decoder used as a decoder",
    7: "extra NONE class for rr_score",
    12: "T5 decoder used as an additional encoder",
    15: "cross-entropy rr_score decoding",
    19: "PL-Marker style double output",
}
FEATURE_NONE_TYPE, FEATURE_NESTED, FEATURE_NER_ONLY, FEATURE_INVERSE, FEATURE_NO_RR_SCORE = 5, 9, 11, 18, 21
#: Official fields that steer only their training, data loading or generation, never the network.
_DROPPED_OFFICIAL_FIELDS = ("dataset", "use_bias", "use_mlp", "d_model", "max_length", "transformer_name")


def official_to_ours(fields: dict[str, Any]) -> dict[str, Any]:
    """Translate the fields of an upstream `ITERConfig` (`config.json` of `fleonce/iter-*`) into ours."""
    fields = dict(fields)
    features = fields.pop("features", 0) or 0
    if isinstance(features, list):
        features = sum(1 << bit for bit in features)
    for bit, description in UNSUPPORTED_FEATURES.items():
        if features & (1 << bit):
            raise ValueError(f"ITER config: feature bit {bit} ({description}) in `features`={features} is not supported.")
    encoder_config = dict(fields.pop("transformer_config"))
    if "transformer_name" in fields and "_name_or_path" not in encoder_config:
        encoder_config["_name_or_path"] = fields["transformer_name"]
    for name in _DROPPED_OFFICIAL_FIELDS:
        fields.pop(name, None)
    entity_types = list(fields.pop("entity_types", None) or [])
    relation_types = list(fields.pop("link_types", None) or [])
    none_type = bool(features & (1 << FEATURE_NONE_TYPE))
    num_types, num_links = fields.pop("num_types", None), fields.pop("num_links", None)
    if num_types is not None and num_types != len(entity_types) + none_type:
        raise ValueError(
            f"ITER config: `num_types`={num_types} but `entity_types` has {len(entity_types)} labels"
            f"{' plus the NONE class (feature bit 5)' if none_type else ''}."
        )
    ner_only = bool(features & ((1 << FEATURE_NER_ONLY) | (1 << FEATURE_NO_RR_SCORE)))
    if ner_only:
        relation_types = []
    elif num_links is not None and num_links != len(relation_types):
        raise ValueError(f"ITER config: `num_links`={num_links} but `link_types` has {len(relation_types)} labels.")
    if "threshold" in fields:
        fields["relation_threshold"] = fields.pop("threshold")
    nested = bool(features & (1 << FEATURE_NESTED))
    max_nest_depth = fields.pop("max_nest_depth", 1)
    return {
        **fields,
        "encoder_config": encoder_config,
        "entity_types": entity_types,
        "relation_types": relation_types,
        "none_type": none_type,
        "max_nest_depth": max_nest_depth if nested else 1,
        "inverse_relations": bool(features & (1 << FEATURE_INVERSE)),
    }


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
            empty: ITER is then a (nested) NER model without `rr_score`, as the paper runs it on CoNLL03 and GENIA.
        d_ff (`int`, *optional*):
            Inner width of the gated heads; defaults to the encoder's feed-forward width (`intermediate_size`, T5's
            `d_ff`, BART's `encoder_ffn_dim`).
        use_scale (`bool`, *optional*, defaults to `True`):
            Double the inner width of the two pair heads (`lr_score`, `rr_score`), as the authors' default does.
        use_gate (`bool`, *optional*, defaults to `True`):
            Gated heads `wo(dropout(act(gate(x)) * wi(x)))`; `False` gives `wo(dropout(act(wi(x))))`.
        activation_fn (`str`, *optional*, defaults to `"gelu"`):
            Activation of the heads, any name of `transformers.activations.ACT2FN` (Table 7: GELU for CoNLL04, ReLU
            for ADE/NYT/GENIA/CoNLL03).
        dropout (`float`, *optional*, defaults to 0.3):
            Dropout inside the heads (the authors' default).
        max_nest_depth (`int`, *optional*, defaults to 1):
            1: flat decoding, each word pairs with its closest preceding left bracket and a span exists where the
            log-sum-exp of its type logits beats 0 (Eq. 13). > 1: nested decoding, each word pairs with its
            `max_nest_depth` closest preceding left brackets and a span exists where a real type beats the NONE type.
        none_type (`bool`, *optional*):
            Whether `lr_score` has an extra last row, the NONE type (the authors' feature bit 5). Defaults to
            `max_nest_depth > 1`, which requires it.
        inverse_relations (`bool`, *optional*, defaults to `False`):
            `rr_score` also scores every relation type in the inverse direction (feature bit 18): a link of type
            `t + len(relation_types)` from `a` to `b` is decoded as a link of type `t` from `b` to `a`.
        symmetric_relation_types (`list[str]`, *optional*):
            Relation types trained in both directions (feature bit 16; in the authors' code a dataset property).
        threshold (`float`, *optional*, defaults to 0.5):
            Entity decision threshold on the span probability (0.5 is the paper's rule, see `max_nest_depth`).
        relation_threshold (`float`, *optional*, defaults to 0.5):
            Threshold on the `rr_score` sigmoid (the authors' `threshold`).
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

    d_ff: int | None = None
    use_scale: bool = True
    use_gate: bool = True
    activation_fn: str = "gelu"
    dropout: float = 0.3
    max_nest_depth: int = 1
    none_type: bool | None = None
    inverse_relations: bool = False
    symmetric_relation_types: list[str] | None = None
    threshold: float = 0.5
    relation_threshold: float = 0.5

    def __post_init__(self, **kwargs):
        if "transformer_config" in kwargs:
            self._read_official_layout(kwargs)
        unknown = sorted(set(kwargs) - _PRETRAINED_CONFIG_KEYS)
        if unknown:
            raise ValueError(f"ITER config: unknown field(s) {unknown}; this version of ITER cannot read them.")
        super().__post_init__(**kwargs)
        if self.d_ff is None:
            for name in ("intermediate_size", "d_ff", "encoder_ffn_dim"):
                if isinstance(getattr(self.encoder_config, name, None), int):
                    self.d_ff = getattr(self.encoder_config, name)
                    break
            else:
                raise ValueError("ITER config: set `d_ff`, the encoder config names no feed-forward width.")
        if self.none_type is None:
            self.none_type = self.max_nest_depth > 1
        if self.max_nest_depth < 1:
            raise ValueError(f"`max_nest_depth` must be at least 1, got {self.max_nest_depth}.")
        if self.max_nest_depth > 1 and not self.none_type:
            raise ValueError("Nested ITER (`max_nest_depth` > 1) needs the NONE type (`none_type=True`).")
        self.symmetric_relation_types = list(self.symmetric_relation_types or [])
        unknown_symmetric = sorted(set(self.symmetric_relation_types) - set(self.relation_types))
        if unknown_symmetric:
            raise ValueError(f"`symmetric_relation_types` names unknown relation types {unknown_symmetric}.")
        for name in ("threshold", "relation_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1], got {getattr(self, name)}.")

    def _read_official_layout(self, kwargs: dict[str, Any]) -> None:
        """Replace the fields of an upstream config (the declared ones the dataclass already set, and the rest in
        `kwargs`, which are consumed) by their translation ([`official_to_ours`])."""
        shared = ("entity_types", "threshold", "max_nest_depth", "d_ff", "use_scale", "use_gate", "activation_fn",
                  "dropout", "max_length")
        official = {name: getattr(self, name) for name in shared}
        official.update({key: kwargs.pop(key) for key in list(kwargs) if key not in _PRETRAINED_CONFIG_KEYS})
        if not official.get("d_ff"):
            official.pop("d_ff")  # 0: their "use the encoder's width"
        ours = official_to_ours(official)
        unknown = sorted(set(ours) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"ITER config (the authors' layout): unknown field(s) {unknown}; this version cannot read them.")
        self.threshold, self.max_length = 0.5, None
        for name, value in ours.items():
            setattr(self, name, value)  # `encoder_config` stays a dict: `PreTrainedConfig` resolves it

    @property
    def num_type_logits(self) -> int:
        """Rows of `lr_score`: the entity types, plus NONE when `none_type`."""
        return self.num_entity_types + int(self.none_type)

    @property
    def num_link_logits(self) -> int:
        """Rows of `rr_score`: the relation types, twice with `inverse_relations`."""
        return self.num_relation_types * (1 + int(self.inverse_relations))


#: Generic `transformers` config keys (written by `PreTrainedConfig`, `Trainer` or generation utilities) that reach
#: `__post_init__` as extra keyword arguments; they never change ITER's network.
_PRETRAINED_CONFIG_KEYS = {
    "transformers_version", "architectures", "auto_map", "model_type", "_name_or_path", "name_or_path", "torch_dtype",
    "dtype", "_commit_hash", "_attn_implementation_autoset", "_attn_implementation", "is_encoder_decoder", "is_decoder",
    "tie_word_embeddings", "tie_encoder_decoder", "output_hidden_states", "output_attentions", "return_dict",
    "use_cache", "torchscript", "pruned_heads", "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id",
    "decoder_start_token_id", "problem_type", "tokenizer_class", "prefix", "task_specific_params", "finetuning_task",
    "add_cross_attention", "cross_attention_hidden_size", "id2label", "label2id", "num_labels",
}

__all__ = ["IterConfig"]
