"""STSN configuration."""

from __future__ import annotations


from huggingface_hub.dataclasses import strict

from ...configuration_utils import JointIEConfig

#: What E&R-L-A attends to (Sect. 4.4.2): `H_C` (the paper's model), `H_E` ("w/o Bi-Interaction†", NER -> RE only),
#: `H_R` ("w/o Bi-Interaction‡", RE -> NER only) or `H_L` itself ("w/o Interaction", self-attention).
INTERACTIONS = ("bidirectional", "ner_to_re", "re_to_ner", "none")


@strict(accept_kwargs=True)
class StsnConfig(JointIEConfig):
    r"""
    Configuration of [`StsnModel`] (STSN, "Sequence Tagging augmented Span-based Network").

    Defaults are the paper's (Sect. 4.1.4): 3 attention layers, h = 8 heads, span width threshold 10, a span-width
    embedding of size 150, 100 negative entity and 100 negative relation samples per sentence, relation threshold
    0.4. The optimiser settings of Sect. 4.1.4 belong to `TrainingArguments` (AdamW, learning rate 5e-5, linear
    schedule with 10% warm-up, weight decay 1e-2, batch size 4, 100 epochs) and are quoted in the model card.

    Args:
        encoder_config, entity_types, relation_types, max_length: see [`JointIEConfig`].
        num_attention_layers (`int`, *optional*, defaults to 3):
            `N`, the stacked attention layers of the encoder (Sect. 3.2.1; Table 4 varies it from 1 to 6).
        num_heads (`int`, *optional*, defaults to 8):
            `h`, heads of the multi-head attention in every attention unit (Eq. 5); must divide the encoder width `d`.
        ffn_size (`int`, *optional*):
            Inner width of the position-wise FFN of the attention units (Eq. 7); defaults to `d` as the paper states
            (`W_1, W_2 in R^{d x d}`).
        max_span_width (`int`, *optional*, defaults to 10):
            `epsilon`, the longest span (in words) span-based NER classifies (Eq. 10).
        width_embedding_size (`int`, *optional*, defaults to 150):
            Size of the span-width embedding `W_{j+1}` (Eq. 11).
        num_negative_entities, num_negative_relations (`int`, *optional*, default 100):
            Negative span and negative entity-pair samples drawn per sentence in training (Sect. 4.1.4).
        relation_threshold (`float`, *optional*, defaults to 0.4):
            `alpha`: a relation type is predicted when its sigmoid score is >= alpha (Sect. 3.3.3).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the aligned word embeddings, inside the attention units and before the linear decoders
            (the paper does not state one; 0.1 is SpERT's, the model STSN builds on).
        use_tagging (`bool`, *optional*, defaults to `True`):
            Train the sequence-tagging NER decoder (Sect. 3.3.1) and add `L_L` to the loss. `False` with
            `use_stacked_attention=False` is the paper's "w/o Label" ablation (Table 5).
        use_stacked_attention (`bool`, *optional*, defaults to `True`):
            Run the stacked attention layers (Sect. 3.2); `False` feeds the initial maps `H^0` straight to the decoders.
        interaction (`str`, *optional*, defaults to `"bidirectional"`):
            Keys/values of E&R-L-A: `"bidirectional"` (`H_C`, the paper's model), `"ner_to_re"` (`H_E`, ablation
            "w/o Bi-Interaction†"), `"re_to_ner"` (`H_R`, "w/o Bi-Interaction‡"), `"none"` (`H_L`, "w/o
            Interaction").
        extended_bio (`bool`, *optional*, defaults to `False`):
            `False`: plain BIO tags (`2T + 1` labels), the scheme the paper uses for datasets without overlapping
            entities (ACE05, CoNLL04). `True`: the extended BIO scheme of Sect. 4.1.2 for two-fold overlapping
            entities (label space: every pair "primary/secondary" of BIO tags, `(2T + 1)^2` labels), which the paper
            introduces for ADE. Choose it from the data with [`hf_jointie.data.has_overlapping_entities`] (True when some training sentence
            has two overlapping entities); on data without overlaps both give identical targets, the plain scheme
            with a label space `2T + 1` times smaller.
        nested (`bool`, *optional*, defaults to `True`):
            Decode every span whose argmax is not NoneEntity, overlapping or not (the paper, Sect. 3.3.2). `False`
            keeps, among overlapping decoded entities, the most probable one: a decoding option for flat datasets
            that the paper does not have.
    """

    model_type = "stsn"
    #: Optimiser settings `examples/run_joint_ie.py` uses where the command line gives none: Sect. 4.1.4's linear
    #: schedule with 10% warm-up and weight decay 1e-2, with the learning rate (1e-4 instead of 5e-5), batch size (8
    #: instead of 4) and epochs (10 instead of 100) of our measured MiniLM CoNLL04 row.
    training_defaults = {
        "learning_rate": 1e-4, "lr_scheduler_type": "linear", "warmup_steps": 0.1, "weight_decay": 0.01,
        "head_learning_rate": 1e-4, "head_lr_scheduler_type": "linear", "head_warmup_steps": 0.1,
        "head_weight_decay": 0.01, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 32,
        "num_train_epochs": 10,
    }

    num_attention_layers: int = 3
    num_heads: int = 8
    ffn_size: int | None = None
    max_span_width: int = 10
    width_embedding_size: int = 150
    num_negative_entities: int = 100
    num_negative_relations: int = 100
    relation_threshold: float = 0.4
    dropout: float = 0.1
    use_tagging: bool = True
    use_stacked_attention: bool = True
    interaction: str = "bidirectional"
    extended_bio: bool = False
    nested: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        for name in ("num_attention_layers", "num_heads", "max_span_width", "width_embedding_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if self.ffn_size is not None and self.ffn_size < 1:
            raise ValueError(f"`ffn_size` must be a positive integer or None, got {self.ffn_size}.")
        for name in ("num_negative_entities", "num_negative_relations"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")
        if not 0.0 <= self.relation_threshold <= 1.0:
            raise ValueError(f"`relation_threshold` must be a probability in [0, 1], got {self.relation_threshold}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}.")
        if self.interaction not in INTERACTIONS:
            raise ValueError(f"`interaction` must be one of {INTERACTIONS}, got {self.interaction!r}.")
        if self.encoder_hidden_size % self.num_heads:
            raise ValueError(
                f"`num_heads`={self.num_heads} must divide the encoder width d={self.encoder_hidden_size} "
                "(each head has d/h dimensions, Eq. 5)."
            )

    @property
    def num_tags(self) -> int:
        """Size of the BIO label space `l` (Eq. 8): O plus B-/I- of every type, squared for the extended scheme."""
        plain = 2 * self.num_entity_types + 1
        return plain * plain if self.extended_bio else plain


__all__ = ["StsnConfig"]
