"""Cascade-SRN configuration."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...configuration_utils import JointIEConfig

#: The two sequential-information-propagation strategies of Sect. 3.4.
FUSIONS = ("early", "late")


@strict(accept_kwargs=True)
class CascadeSrnConfig(JointIEConfig):
    r"""
    Configuration of [`CascadeSrnModel`] (Cascade-SRN, "Towards Effective Multi-Task Interaction for Entity-Relation
    Extraction: A Unified Framework with Selection Recurrent Network").

    The paper gives no SRN width, type-embedding width, dropout, loss weights or decision thresholds; the defaults
    below are the choices written down in the modeling module's docstring. Optimiser settings belong to
    `TrainingArguments`.

    Args:
        encoder_config, entity_types, relation_types, max_length: see [`JointIEConfig`].
        fusion (`str`, *optional*, defaults to `"early"`):
            Sect. 3.4: `"early"` inserts typed entity markers (subject module) and entity plus subject markers (object
            module) into the input and re-encodes it (the paper's default, best scores); `"late"` encodes the
            sentence once and concatenates entity-type and subject-tag embeddings to the SRN outputs (Eq. 11).
        srn_hidden_size (`int`, *optional*):
            Width of the SRN cell and of each of its seven memories; defaults to the encoder width.
        type_embedding_size (`int`, *optional*, defaults to 64):
            `d^t`, the width of the entity-type table `T^e` and the subject-tag table `T^s` (late fusion only).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the word representations the SRN reads.
        loss_weights (`list[float]`, *optional*):
            Eq. 15's nine weights in the order `[alpha_e, beta_e, gamma_e, alpha_s, beta_s, gamma_s, alpha_o, beta_o,
            gamma_o]` (start, end, match of the entity, subject and object modules), each in [0, 1]. Defaults to all
            ones.
        max_span_width (`int`, *optional*):
            Longest span, in words, the start-end matching table considers; `None` allows every `i <= j`.
        threshold (`float`, *optional*, defaults to 0.5):
            Decision threshold on the start, end and match probabilities of the entity and subject modules.
        relation_threshold (`float`, *optional*, defaults to 0.5):
            Decision threshold on the start, end and match probabilities of the object module.
        train_subjects (`str`, *optional*, defaults to `"entities"`):
            Candidate subjects the object module is trained on (Appendix B, Table 2 "Training strategy"):
            `"entities"` uses every gold entity (the paper's default, against exposure bias), `"subjects"` only the
            gold subjects (the ablation "golden subject").
        prior_probability (`float`, *optional*, defaults to 0.01):
            Probability every start, end and match classifier outputs before training: their biases are initialised
            to its log-odds, as for the sparse sigmoid targets of RetinaNet (Lin et al., 2017). With zero biases the
            summed BCE of Eq. 14 starts in the thousands per sentence (nearly all of it from the negatives of the
            `n x n` match tables), and the first steps only push every probability down, with gradients through the
            encoder about 50 times larger than with this prior (norm 938 vs 18 at the first SciERC step).
        trailing_special_tokens (`int`, *optional*, defaults to 1):
            Special tokens the tokenizer appends after the last word (`[SEP]` for BERT, `</s>` for RoBERTa/T5); early
            fusion needs it to place a closing marker after a span that ends at the last word.
    """

    model_type = "cascade_srn"
    #: Optimiser settings `examples/run_joint_ie.py` uses where the command line gives none (the paper gives none):
    #: those of our measured MiniLM SciERC rows, backbone 1e-4 and the SRN and classifiers 1e-3, linear schedule with
    #: 10% warm-up, no weight decay, batch size 8, 8 epochs.
    training_defaults = {
        "learning_rate": 1e-4, "lr_scheduler_type": "linear", "warmup_steps": 0.1, "weight_decay": 0.0,
        "head_learning_rate": 1e-3, "head_lr_scheduler_type": "linear", "head_warmup_steps": 0.1,
        "head_weight_decay": 0.0, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 32,
        "num_train_epochs": 8,
    }

    fusion: str = "early"
    srn_hidden_size: int | None = None
    type_embedding_size: int = 64
    dropout: float = 0.1
    loss_weights: list[float] | None = None
    max_span_width: int | None = None
    threshold: float = 0.5
    relation_threshold: float = 0.5
    train_subjects: str = "entities"
    prior_probability: float = 0.01
    trailing_special_tokens: int = 1

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.fusion not in FUSIONS:
            raise ValueError(f"`fusion` must be one of {FUSIONS}, got {self.fusion!r}.")
        if self.srn_hidden_size is not None and self.srn_hidden_size < 1:
            raise ValueError(f"`srn_hidden_size` must be positive or None, got {self.srn_hidden_size}.")
        if self.type_embedding_size < 1:
            raise ValueError(f"`type_embedding_size` must be positive, got {self.type_embedding_size}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}.")
        if self.loss_weights is None:
            self.loss_weights = [1.0] * 9
        self.loss_weights = [float(weight) for weight in self.loss_weights]
        if len(self.loss_weights) != 9 or not all(0.0 <= weight <= 1.0 for weight in self.loss_weights):
            raise ValueError(f"`loss_weights` must be nine numbers in [0, 1] (Eq. 15), got {self.loss_weights}.")
        if self.max_span_width is not None and self.max_span_width < 1:
            raise ValueError(f"`max_span_width` must be positive or None, got {self.max_span_width}.")
        for name in ("threshold", "relation_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1], got {getattr(self, name)}.")
        if not 0.0 < self.prior_probability < 1.0:
            raise ValueError(f"`prior_probability` must be in (0, 1), got {self.prior_probability}.")
        if self.train_subjects not in ("entities", "subjects"):
            raise ValueError(f"`train_subjects` must be 'entities' or 'subjects', got {self.train_subjects!r}.")
        if self.trailing_special_tokens < 0:
            raise ValueError(f"`trailing_special_tokens` must be >= 0, got {self.trailing_special_tokens}.")


__all__ = ["CascadeSrnConfig"]
