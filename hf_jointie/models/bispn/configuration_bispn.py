"""BiSPN configuration."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...configuration_utils import JointIEConfig


def _encoder_attribute(config, names: tuple[str, ...]) -> int | None:
    """The first integer attribute of the encoder config among `names` (BERT, T5 and GPT spell them differently)."""
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


@strict(accept_kwargs=True)
class BispnConfig(JointIEConfig):
    r"""
    Configuration of [`BispnModel`] (BiSPN, "Generating Entity Set and Relation Set Coherently in One Pass").

    Defaults are the paper's ADE values (Appendix A, Table 5: 30 entity queries, 25 relation queries, alpha 1e-3,
    beta 1e-4; 4 shared decoder layers, 1 entity and 1 relation decoder layer for every dataset). The optimiser
    settings of Table 5 belong to `TrainingArguments` (70 epochs on ADE, batch size 8, warm-up rate 0.1, encoder
    learning rate 2e-5 and decoder learning rate 4e-5) and are quoted in the model card.

    Args:
        encoder_config, entity_types, relation_types, max_length: see [`JointIEConfig`].
        num_entity_queries (`int`, *optional*, defaults to 30):
            `M_e`, the number of learned entity queries (Table 5 tunes it in [20, 40]); an upper bound on the entities
            predicted per sentence.
        num_relation_queries (`int`, *optional*, defaults to 25):
            `M_r`, the number of learned relation queries (Table 5 tunes it in [20, 40]).
        num_shared_decoder_layers (`int`, *optional*, defaults to 4):
            `N`, blocks of the shared decoder (Sect. 3.2.2; Appendix A: 4).
        num_entity_decoder_layers, num_relation_decoder_layers (`int`, *optional*, default 1):
            Layers of the entity decoder (Eq. 3) and of the relation decoder (Eq. 12); Appendix A: 1 and 1.
        hidden_size (`int`, *optional*):
            Model dimension `d` of the queries and of every decoder; defaults to the encoder width. A different width
            adds a linear map from the encoder's states.
        num_attention_heads (`int`, *optional*):
            Heads of every attention layer the model adds; defaults to the encoder's, and must divide `hidden_size`.
        intermediate_size (`int`, *optional*):
            Width of the feed-forward layers the model adds; defaults to the encoder's (4 x `hidden_size` when the
            width differs from the encoder's or the encoder does not name one).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout inside the added layers.
        entity_loss_weight, relation_loss_weight (`float`, *optional*, default 1.0):
            Weights of `L_ent` (Eq. 14) and `L_rel` (Eq. 16); the paper sums them (Eq. 17).
        consistency_loss_weight (`float`, *optional*, defaults to 1e-3):
            `alpha`, weight of the two KL terms of the bipartite consistency loss (Eqs. 18 and 21). 0 ablates them.
        has_relation_loss_weight (`float`, *optional*):
            Weight of the has-relation loss (Eq. 20). The paper sums it into `L_ent<->rel`, so it defaults to
            `consistency_loss_weight`; 0 stops training the has-relation classifier.
        linking_loss_weight (`float`, *optional*, defaults to 1e-4):
            `beta`, weight of the entity-relation linking loss (Eq. 27). 0 ablates it.
        entity_label_repeats, relation_label_repeats (`int`, *optional*, defaults to 10 and 15):
            One-to-many matching (Sect. 3.3 follows Shen et al. 2022): the gold entities (triples) of a sentence are
            offered this many times in total to the Hungarian algorithm, so several queries learn each one (values of
            the authors' released ADE script). 1 is one-to-one matching.
        null_label_weight (`float`, *optional*):
            Weight of the null-label terms of the unmatched queries in Eqs. 14-16. `None` (default) balances them:
            (matched queries) / (unmatched queries) of the batch, so both groups weigh the same in total. `1.0` is
            the unweighted sum the equations write.
        entity_threshold, relation_threshold (`float`, *optional*, default 0.0):
            Class thresholds: decoding keeps an entity (a triple) whose type is not the null label and whose type
            probability exceeds the threshold. The paper keeps every non-null prediction, i.e. 0; calibrate them on
            dev.
        relation_arguments (`str`, *optional*, defaults to `"filter"`):
            How decoding keeps the two sets consistent. `"filter"`: a relation is output only when both arguments,
            with span and type, are entities of the decoded entity set. `"add"`: arguments missing from the entity set
            are added to it. Either way every relation points at an entity of the output. "add" scores higher early
            in training, "filter" once the entity set is good (model card).
        max_span_width (`int`, *optional*):
            Longest entity, in words, decoding may output (Eq. 8 takes every `start <= end`); `None` for no limit.
        entity_boundary_threshold (`float`, *optional*, defaults to 0.0):
            Decoding also requires the boundary probability `P_start * P_end` of an entity (and of each argument of a
            triple) to exceed this, next to the class threshold `entity_threshold` on its type probability (the
            class and boundary thresholds of the decoding of Shen et al. 2022, which BiSPN follows).
        nested (`bool`, *optional*, defaults to `True`):
            `True` keeps every decoded entity (nested / overlapping ones too, as the paper's ADE). `False` keeps,
            among overlapping decoded entities, only the most probable one: flat decoding for flat datasets
            (CoNLL04, ACE05 relations). Triples then need their arguments among the kept entities.
        share_encoder_layers (`bool`, *optional*):
            Run the queries through the pretrained encoder's own layers (Sect. 3.2.1, see `layers_bispn`). `None`
            (default): whenever the encoder's layers are BERT-style; `True`: require it; `False`: one added one-way
            layer per encoder layer (the only choice for other encoders, e.g. T5).
        init_decoder_from_encoder (`bool`, *optional*, defaults to `True`):
            `from_encoder_pretrained` initialises the shared decoder's blocks from the encoder's top layers (when
            they are BERT-style and the widths match) instead of randomly, as the paper's decoding modules are.
        freeze_backbone_epochs (`float`, *optional*, defaults to 0.0):
            Epochs at the start of training during which the encoder is frozen, applied by
            [`hf_jointie.callbacks.FreezeBackboneCallback`]. The paper freezes it for 5 of 70 epochs (Sect. 4.2,
            following Shen et al. 2022); 0 by default because our CPU runs are 10 times shorter.
    """

    model_type = "bispn"
    #: Optimiser settings `examples/run_joint_ie.py` uses where the command line gives none: Table 5's batch size 8
    #: and warm-up rate 0.1 (linear schedule); encoder and decoder learning rates 5e-5 / 3e-4 (the paper's 2e-5 /
    #: 4e-5 are for 70 epochs), no weight decay and 8 epochs, as our measured MiniLM CoNLL04 row.
    training_defaults = {
        "learning_rate": 5e-5, "lr_scheduler_type": "linear", "warmup_steps": 0.1, "weight_decay": 0.0,
        "head_learning_rate": 3e-4, "head_lr_scheduler_type": "linear", "head_warmup_steps": 0.1,
        "head_weight_decay": 0.0, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 32,
        "num_train_epochs": 8,
    }

    num_entity_queries: int = 30
    num_relation_queries: int = 25
    num_shared_decoder_layers: int = 4
    num_entity_decoder_layers: int = 1
    num_relation_decoder_layers: int = 1
    hidden_size: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    dropout: float = 0.1
    entity_loss_weight: float = 1.0
    relation_loss_weight: float = 1.0
    consistency_loss_weight: float = 1e-3
    has_relation_loss_weight: float | None = None
    linking_loss_weight: float = 1e-4
    entity_label_repeats: int = 10
    relation_label_repeats: int = 15
    null_label_weight: float | None = None
    entity_threshold: float = 0.0
    relation_threshold: float = 0.0
    relation_arguments: str = "filter"
    max_span_width: int | None = None
    entity_boundary_threshold: float = 0.0
    nested: bool = True
    share_encoder_layers: bool | None = None
    init_decoder_from_encoder: bool = True
    freeze_backbone_epochs: float = 0.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        width = self.encoder_hidden_size
        if self.hidden_size is None:
            self.hidden_size = width
        if self.num_attention_heads is None:
            self.num_attention_heads = _encoder_attribute(
                self.encoder_config, ("num_attention_heads", "num_heads", "n_head", "encoder_attention_heads")
            ) or 8
        if self.intermediate_size is None:
            encoder_ffn = _encoder_attribute(
                self.encoder_config, ("intermediate_size", "d_ff", "n_inner", "hidden_dim")
            )
            self.intermediate_size = encoder_ffn if encoder_ffn and self.hidden_size == width else 4 * self.hidden_size
        if self.has_relation_loss_weight is None:
            self.has_relation_loss_weight = self.consistency_loss_weight
        for name in (
            "num_entity_queries", "num_relation_queries", "num_shared_decoder_layers", "hidden_size",
            "num_attention_heads", "intermediate_size", "entity_label_repeats", "relation_label_repeats",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        for name in ("num_entity_decoder_layers", "num_relation_decoder_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be zero or positive, got {getattr(self, name)}.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"`num_attention_heads` ({self.num_attention_heads}) must divide `hidden_size` ({self.hidden_size})."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}.")
        for name in (
            "entity_loss_weight", "relation_loss_weight", "consistency_loss_weight", "has_relation_loss_weight",
            "linking_loss_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be non-negative, got {getattr(self, name)}.")
        if self.null_label_weight is not None and self.null_label_weight < 0:
            raise ValueError(f"`null_label_weight` must be non-negative or None, got {self.null_label_weight}.")
        if self.freeze_backbone_epochs < 0:
            raise ValueError(f"`freeze_backbone_epochs` must be non-negative, got {self.freeze_backbone_epochs}.")
        for name in ("entity_threshold", "relation_threshold", "entity_boundary_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1], got {getattr(self, name)}.")
        if self.relation_arguments not in ("filter", "add"):
            raise ValueError(f"`relation_arguments` must be 'filter' or 'add', got {self.relation_arguments!r}.")
        if self.max_span_width is not None and self.max_span_width < 1:
            raise ValueError(f"`max_span_width` must be positive or None, got {self.max_span_width}.")


__all__ = ["BispnConfig"]
