"""Cascade-SRN configuration."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...configuration_utils import JointIEConfig

#: The two sequential-information-propagation strategies of Sect. 3.4.
FUSIONS = ("early", "late")
#: The shared encoders over the word states: the paper's SRN and its Table 2 ablations.
SEQUENCE_ENCODERS = ("srn", "bisrn", "bilstm")
#: How the object module visits the subjects at inference (Appendix B: "one by one").
SUBJECT_BATCHING = ("one_by_one", "batched")


@strict(accept_kwargs=True)
class CascadeSrnConfig(JointIEConfig):
    r"""
    Configuration of [`CascadeSrnModel`] (Cascade-SRN, "Towards Effective Multi-Task Interaction for Entity-Relation
    Extraction: A Unified Framework with Selection Recurrent Network").

    The paper gives no SRN width, type-embedding width, dropout, loss weights or decision thresholds; the defaults
    below are the choices written down in the modeling module's docstring. Optimiser settings belong to
    `TrainingArguments`.

    Args:
        encoder_config, entity_types, relation_types, max_length: see [`JointIEConfig`]. With early fusion
            `max_length` defaults to half the encoder's positions: the window's subwords plus the markers early fusion
            inserts (two per entity, two for the subject) then fit the encoder, also for windowed long documents.
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
        entity_threshold, subject_threshold, relation_threshold (`float`, *optional*, default 0.5):
            Decision thresholds on the smallest of the start, end and match probabilities of a span, for the entity,
            subject and object module respectively (the paper gives none; calibrate them on dev). A saved config's
            older single `threshold` sets the first two.
        nested (`bool`, *optional*, defaults to `True`):
            Keep every decoded span, overlapping or not (the paper's span extraction, which allows nesting). `False`
            keeps, among overlapping entities (and among overlapping subjects), the most probable one: flat decoding
            for flat datasets such as SciERC and CoNLL04.
        sequence_encoder (`str`, *optional*, defaults to `"srn"`):
            The shared encoder over the word states (Table 2 "Encoder"): `"srn"` (the paper's unidirectional SRN),
            `"bisrn"` (a forward and a backward SRN, each memory the concatenation of both directions) or `"bilstm"`
            (a bidirectional LSTM whose output every module reads in place of its Eq. 11 parts).
        entity_markers (`bool`, *optional*, defaults to `True`):
            Early fusion only (Table 2 "Text Marker"): `True` marks the entities for the subject module and the
            entities and subject for the object module; `False` is the ablation "Subject": the subject module reads
            the original sentence and the object module sees only the subject markers.
        subject_batching (`str`, *optional*):
            `"one_by_one"` runs the object module once per predicted subject at inference, as Appendix B does (and
            what the paper's Table 4 speed compares); `"batched"` runs the subjects of all sentences of a batch
            together, in passes of up to 256 subjects (the same predictions, up to float rounding). Defaults to
            `"one_by_one"` for early fusion and `"batched"` for late fusion, whose object module is a few matrix
            products.
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

    #: A threshold of 0 makes every span of every label an entity (a sigmoid score is never 0), and with nested
    #: decoding every pair of them a relation: the SciERC dev calibration of a trained late-fusion model ran out of
    #: memory there. Calibration starts at the grid's smallest positive value.
    calibrate_at_zero = False

    fusion: str = "early"
    srn_hidden_size: int | None = None
    type_embedding_size: int = 64
    dropout: float = 0.1
    loss_weights: list[float] | None = None
    max_span_width: int | None = None
    entity_threshold: float = 0.5
    subject_threshold: float = 0.5
    relation_threshold: float = 0.5
    nested: bool = True
    sequence_encoder: str = "srn"
    entity_markers: bool = True
    subject_batching: str | None = None
    train_subjects: str = "entities"
    prior_probability: float = 0.01
    trailing_special_tokens: int = 1

    def __post_init__(self, **kwargs):
        legacy_threshold = kwargs.pop("threshold", None)  # configs saved before the per-module thresholds
        if legacy_threshold is not None:
            self.entity_threshold = self.subject_threshold = float(legacy_threshold)
        window_given = self.max_length is not None
        super().__post_init__(**kwargs)
        if self.fusion == "early" and not window_given:
            # early fusion adds two marker tokens per entity and two for the subject to a window's subwords: a window
            # of half the encoder's positions leaves the other half for them, so windowed training data fits
            self.max_length = max(8, self.max_length // 2)
        if self.fusion not in FUSIONS:
            raise ValueError(f"`fusion` must be one of {FUSIONS}, got {self.fusion!r}.")
        if self.sequence_encoder not in SEQUENCE_ENCODERS:
            raise ValueError(f"`sequence_encoder` must be one of {SEQUENCE_ENCODERS}, got {self.sequence_encoder!r}.")
        if self.subject_batching is None:
            self.subject_batching = "one_by_one" if self.fusion == "early" else "batched"
        if self.subject_batching not in SUBJECT_BATCHING:
            raise ValueError(f"`subject_batching` must be one of {SUBJECT_BATCHING}, got {self.subject_batching!r}.")
        if not self.entity_markers and self.fusion != "early":
            raise ValueError("`entity_markers=False` is an early-fusion ablation; late fusion has no markers.")
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
        for name in ("entity_threshold", "subject_threshold", "relation_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1], got {getattr(self, name)}.")
        if not 0.0 < self.prior_probability < 1.0:
            raise ValueError(f"`prior_probability` must be in (0, 1), got {self.prior_probability}.")
        if self.train_subjects not in ("entities", "subjects"):
            raise ValueError(f"`train_subjects` must be 'entities' or 'subjects', got {self.train_subjects!r}.")
        if self.trailing_special_tokens < 0:
            raise ValueError(f"`trailing_special_tokens` must be >= 0, got {self.trailing_special_tokens}.")


__all__ = ["CascadeSrnConfig"]
