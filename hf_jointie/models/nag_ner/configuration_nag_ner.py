"""NAG-NER configuration."""

from __future__ import annotations

import copy

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import JointIEConfig


@strict(accept_kwargs=True)
class NagNerConfig(JointIEConfig):
    r"""
    Configuration of [`NagNerModel`] (NAG-NER, "a Unified Non-Autoregressive Generation Framework for Various NER
    Tasks"). Entity-only: `relation_types` must be empty (the model never predicts relations).

    The optimiser settings of the paper's Table 8 belong to `TrainingArguments` (e.g. CADEC: 75 epochs, learning rate
    2e-5, batch size 4, dropout 0.3, tau_s 0.2; CoNLL03: 75 epochs, 2e-5, batch 4, dropout 0.1, tau_s 0.3; linear
    schedule with 6% warm-up) and are quoted in the model card.

    Args:
        encoder_config, entity_types, relation_types, max_length: see [`JointIEConfig`]. The encoder must have
            absolute position embeddings (`embeddings.position_embeddings`, as BERT-like models do): the word start
            position embedding (WSPE, Sect. 3.4) looks them up.
        decoder_config (`PreTrainedConfig` or `dict`, *optional*):
            Configuration of the non-autoregressive decoder, as in `EncoderDecoderConfig`. It must be a BERT-like model
            that accepts `inputs_embeds`, `encoder_hidden_states` and absolute positions, with the encoder's hidden
            size. Defaults to a copy of `encoder_config`; in every case `is_decoder` and `add_cross_attention` are set
            to True, so that `from_encoder_pretrained` can initialise encoder *and* decoder from one checkpoint.
        num_decoder_layers (`int`, *optional*):
            With `decoder_config` omitted, the number of layers of the decoder copied from `encoder_config` (its first
            layers, when initialised from a pretrained encoder); `None` keeps all of them. A CPU-budget option: the
            paper's decoder (BANG) is as deep as its encoder.
        max_entity_length (`int`, *optional*, defaults to 8):
            `l_max`, the longest entity in subwords the decoder writes (Appendix D.1: 8 for the English benchmarks).
            The decoder input is `l_max + 3` mask tokens (`<s>`, the type token, `l_max` subwords, `</s>`); longer
            gold entities are truncated in the target.
        max_entities_per_start (`int`, *optional*, defaults to 5):
            `O_max`, the most entities starting at one word (Appendix D.1); the entity start classifier has
            `O_max + 1` classes and the number-of-entities position embedding (NEPE) `O_max` rows.
        start_threshold (`float`, *optional*, defaults to 0.5):
            `tau_s` of Eq. 6: word j starts entities when `p(ne_j = 0) < tau_s` (Table 8 tunes it in 0.2 ... 0.9).
            `decode` reads it from here unless given `threshold=`; named `*_threshold` so that dev-set calibration
            sweeps it (higher `tau_s`: more entity starts).
        negative_ratio (`float`, *optional*, defaults to 1.0):
            Fraction of the words where no entity starts whose negative `<s> <O> subwords </s>` target is trained in a
            training step (Sect. 3.3 trains all of them: 1.0). Lower values, drawn at random per step, cut the decoder's
            training cost on CPU; evaluation losses always use every word.
        start_position_embeddings (`bool`, *optional*, defaults to True):
            Add WSPE and NEPE (Sect. 3.4) to the decoder input. False is the paper's ablation NAG-NER-3 (Table 4): the
            decoder is then told nothing about where its entity starts (the NEPE table is not built), only its own
            slot positions remain.
        nested (`bool`, *optional*, defaults to True):
            Decode nested (and discontinuous) entities. False, for flat datasets such as CoNLL04, keeps only the best
            scored of overlapping entities (overlap of their first-to-last word spans).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the word representations read by the entity start classifier (Table 8 tunes 0.1 ... 0.5; the
            backbone's own dropout stays as configured in `encoder_config` / `decoder_config`).
    """

    model_type = "nag_ner"
    sub_configs_defaults = {
        "encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert"),
        "decoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", optional=True),
    }
    predicts_relations = False
    #: Optimiser settings `examples/run_joint_ie.py` uses where the command line gives none: Table 8's linear
    #: schedule with 6% warm-up; encoder 1e-4, decoder and start classifier 1e-3 (heads), no weight decay, batch size
    #: 8 and 10 epochs as our measured MiniLM CoNLL04 row (the paper: 2e-5, batch size 4, 75 epochs).
    training_defaults = {
        "learning_rate": 1e-4, "lr_scheduler_type": "linear", "warmup_steps": 0.06, "weight_decay": 0.0,
        "head_learning_rate": 1e-3, "head_lr_scheduler_type": "linear", "head_warmup_steps": 0.06,
        "head_weight_decay": 0.0, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 32,
        "num_train_epochs": 10,
    }

    decoder_config: PreTrainedConfig | dict | None = None
    num_decoder_layers: int | None = None
    max_entity_length: int = 8
    max_entities_per_start: int = 5
    start_threshold: float = 0.5
    negative_ratio: float = 1.0
    start_position_embeddings: bool = True
    nested: bool = True
    dropout: float = 0.1

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.decoder_config is None:
            self.decoder_config = copy.deepcopy(self.encoder_config)
            if self.num_decoder_layers is not None:
                if not 1 <= self.num_decoder_layers <= self.encoder_config.num_hidden_layers:
                    raise ValueError(
                        f"`num_decoder_layers` must be between 1 and the encoder's {self.encoder_config.num_hidden_layers}"
                        f" layers, got {self.num_decoder_layers}."
                    )
                self.decoder_config.num_hidden_layers = self.num_decoder_layers
        elif self.num_decoder_layers is not None and self.num_decoder_layers != self.decoder_config.num_hidden_layers:
            raise ValueError("Pass `num_decoder_layers` or a `decoder_config`, not both with different depths.")
        self.decoder_config.is_decoder = True
        self.decoder_config.add_cross_attention = True
        if getattr(self.decoder_config, "hidden_size", None) != self.encoder_hidden_size:
            raise ValueError(
                f"`decoder_config` must have the encoder's hidden size {self.encoder_hidden_size} (the WSPE is the "
                f"encoder's position embedding), got {getattr(self.decoder_config, 'hidden_size', None)}."
            )
        positions = getattr(self.decoder_config, "max_position_embeddings", None)
        if positions is not None and self.max_entity_length + 3 > positions:
            raise ValueError(
                f"`max_entity_length` + 3 = {self.max_entity_length + 3} exceeds the decoder's {positions} positions."
            )
        if self.max_entity_length < 1:
            raise ValueError(f"`max_entity_length` must be at least 1 subword, got {self.max_entity_length}.")
        if self.max_entities_per_start < 1:
            raise ValueError(f"`max_entities_per_start` must be at least 1, got {self.max_entities_per_start}.")
        if not 0.0 < self.start_threshold < 1.0:
            raise ValueError(f"`start_threshold` (tau_s) must lie in (0, 1), got {self.start_threshold}.")
        if not 0.0 < self.negative_ratio <= 1.0:
            raise ValueError(f"`negative_ratio` must lie in (0, 1], got {self.negative_ratio}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must lie in [0, 1), got {self.dropout}.")


__all__ = ["NagNerConfig"]
