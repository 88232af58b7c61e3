"""NAG-NER: flat, nested and discontinuous NER as non-autoregressive generation of an entity set.

Paper: "NAG-NER: a Unified Non-Autoregressive Generation Framework for Various NER Tasks" (`../shared/papers/nag_ner.txt`).

* Sect. 3.1, Eq. 1-2: the encoder reads the sentence; word j is represented by its first subword `v_j = H[start_j]`.
* Sect. 3.2, Eq. 3: the entity start classifier, `softmax(v_j W_ne + b_ne)` over `ne_j in {0, ..., O_max}` entities
  starting at word j, trained with cross-entropy `L_ne` (mean over the words of the batch).
* Sect. 3.3, Eq. 4-5: for every word j and every `n < ne_j` the decoder reads `l_max + 3` mask tokens `<m>` and writes,
  all positions in parallel (bidirectional self-attention, cross-attention to the encoder), the sequence
  `<s> ET_{j,n} ES_{j,n} </s> <pad>...`; the entities starting at j are sorted by spanning length (ascending), and a
  word where no entity starts is trained with one negative target `<s> <O> subwords(word j) </s>` (optionally only a
  random `negative_ratio` of them per training step, a CPU-budget option; 1.0, the default, is the paper). `L_g` is the mean
  token cross-entropy without `<pad>` positions; Sect. 3.5, Eq. 7: `L = L_g + L_ne`.
* Sect. 3.3, Eq. 6 (inference): `S_start = {j | p(ne_j = 0) < tau_s}` with `ne_j = argmax p(ne_j)`; the type is the
  second generated token, the mention the tokens from the third position to the first `</s>` (or to the end).
* Sect. 3.4: every decoder input position gets the word start position embedding (WSPE, the encoder's position
  embedding looked up at `start_j`) and the number-of-entities position embedding (NEPE, a learned row per `n`), added
  to the mask token embedding before the decoder's own embedding layer (which adds its slot positions).

Choices where the paper is silent or does not fit a `transformers` encoder, and why:

* Entity types are target tokens without touching the tokenizer: the model owns a small embedding table
  `tag_embeddings` for `<m>`, `<s>`, `</s>`, `<O>` and one token per entity type. The output layer scores the
  decoder's subword vocabulary (tied to the decoder's word embeddings) followed by these rows (ids `vocab_size + k`),
  after a BERT-style transform (dense, GELU, LayerNorm) and with one output bias, as a BERT MLM head does.
* The decoder is a BERT-like model built as a decoder with cross-attention (`is_decoder=True`,
  `add_cross_attention=True`); `post_load_backbone` copies the pretrained encoder into it, standing in for the
  pretrained NAG model (BANG) of Sect. 4.2. Its self-attention is made bidirectional by passing an all-visible 4-d mask
  (a test pins that slot 0 reads the last slot: a causal mask would break it).
* What the decoder reads (Sect. 3.3-3.4 assume a BANG decoder whose cross-attention is pretrained to read the encoder;
  a BERT encoder copied into a decoder has no such cross-attention, and without the three points below the decoder
  did not learn to localise: it wrote the same mention whatever the start word, see `model_cards/nag_ner.md`):
  - the memory is the encoder output *plus the encoder's embedding-layer output* (`hidden_states[0]`, i.e.
    `LayerNorm(word + position + type)` of each subword). WSPE is the encoder's position embedding of `start_j`
    (Sect. 3.4), but a sentence encoder's last layer keeps little absolute position (a linear probe on
    all-MiniLM-L6-v2's last layer finds the subword position for 16% of CoNLL04 subwords), so a query carrying WSPE
    had nothing to match; the embedding output carries that same position embedding, and the subword's identity
    that the mention slots copy;
  - the memory holds only the subwords of words (`NagNerOutput.memory_mask`): `[CLS]` / `[SEP]` are never part of
    a mention, and after 50 training steps the decoder's attention had sunk onto `[CLS]` (60-72% of slot 2's attention);
  - `post_load_backbone` initialises each decoder layer's cross-attention from that layer's pretrained
    self-attention (the same weights the decoder copy starts from) instead of randomly, so that cross-attention
    starts with the encoder's position- and token-matching heads. The whole decoder, copied weights included, is
    outside `backbone_modules`: it must learn a new input distribution (mask tokens + WSPE + NEPE), and trains at
    `--head_learning_rate` (measured on 200 CoNLL04 sentences: `L_g` after 75 steps 2.84 this way, 3.08 with the
    copied layers at the backbone rate).
* Inference scores only what can align (`candidate_log_probs`): the type slot is a softmax over `<O>` and the types,
  every mention slot a softmax over the distinct subwords of the item's own sentence (its word subwords, each id once)
  and `</s>`. Training keeps the paper's softmax over the whole output vocabulary (Eq. 5). Besides cutting the output
  layer from ~30.5k rows to ~40 per slot, a mention whose best full-vocabulary token is a near miss outside the
  sentence now takes the best token inside it and can align. Generated `<O>` items are dropped. A word in `S_start`
  generates `argmax_{ne >= 1} p(ne_j)` entities (Eq. 6's argmax could be 0 when `tau_s > 1 / (O_max + 1)`).
* Each decoder layer's cross-attention keys and values are projected once per sentence and gathered for that
  sentence's items through a pre-filled `EncoderDecoderCache` (`cross_attention_cache`), instead of re-projecting a
  duplicated copy of the memory for every item (identical numbers, training and inference). At inference the items
  run in chunks of `_ITEM_CHUNK`, so memory stays bounded when an undertrained start classifier fires at most words.
* `start_position_embeddings=False` is the paper's ablation NAG-NER-3 (Table 4: no WSPE, no NEPE); `nested=False`
  (flat data) keeps the best scored of overlapping predictions (`best_of_overlapping`, first-to-last word spans).
* A gold mention longer than `l_max + 1` subwords is truncated in the target: the `l_max + 3` slots hold `<s>`, the
  type and up to `l_max + 1` subwords, `</s>` following when there is room (the paper's "no `</s>`" rule lets a
  mention use the last slot). More than `O_max` entities at one word: the longest are dropped from the targets. Ties
  in spanning length are ordered by type id, then by their order in the data.
* Alignment of generated subwords back to words (the paper generates tokens, the data has word offsets): the first
  generated subword must be the start word's first subword; each next token continues at the next subword when it
  matches there, otherwise -- only after a complete word -- jumps to the nearest later word whose first subword
  matches it (a gap, i.e. a discontinuous mention); the last token must end a word. Items that fail to align are
  dropped; the matched words form the fragments (maximal runs of consecutive words). The scan runs over the `l_max + 1`
  output slots, one tensor step per slot for all items of the batch. The subwords of the last word end where the
  attention mask ends minus one (the single trailing special token of BERT / RoBERTa / T5 tokenizers).
* An entity's score is `(1 - p(ne_j = 0))` times the decoder's probability of its type, mention tokens and `</s>`
  (Eq. 4's product). Identical predictions (same row, type and words) are merged keeping the best score.
* `decode(threshold=...)` follows the library's convention (higher threshold, fewer entities): a word starts entities
  when `1 - p(ne_j = 0) > threshold`, i.e. `tau_s = 1 - threshold`; without it `config.start_threshold` is `tau_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, DynamicCache, EncoderDecoderCache
from transformers import initialization as init

from ...modeling_utils import (
    JointIEPreTrainedModel,
    assemble_predictions,
    best_of_overlapping,
    gather_words,
    pad_by_row,
)
from ...outputs import JointIEOutput, JointIEPrediction
from .configuration_nag_ner import NagNerConfig

#: Items (start word, rank) one decoder pass generates at once at inference (bounds the gathered cross-attention memory).
_ITEM_CHUNK = 512

#: Rows of `tag_embeddings`: the mask token, `<s>`, `</s>`, the non-entity tag `<O>`; entity type k is row 4 + k.
MASK, BOS, EOS, NON_ENTITY = 0, 1, 2, 3
NUM_SPECIAL = 4
IGNORE = -100


@dataclass
class NagNerOutput(JointIEOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): `L_g + L_ne` (Eq. 7).
    generation_loss, count_loss (`torch.FloatTensor`, *optional*): `L_g` and `L_ne`.
    count_logits (`batch x words x (O_max + 1)`): entity start classifier logits (Eq. 3).
    generation_logits (`targets x output_vocab`, *optional*): decoder logits at every non-`<pad>` target slot of the
        training items, in the order of `generation_targets`.
    generation_targets (`targets`, *optional*): the target token ids (`vocab_size + k` for the rows of `tag_embeddings`).
    encoder_hidden_states (`batch x subwords x hidden`): the decoder's memory, the encoder output plus the encoder's
        embedding-layer output, cross-attended by `decode`'s decoder pass.
    memory_mask (`batch x subwords`): 1 at the subwords of words, the part of the memory the decoder attends.
    """

    generation_loss: torch.FloatTensor | None = None
    count_loss: torch.FloatTensor | None = None
    count_logits: torch.FloatTensor | None = None
    generation_logits: torch.FloatTensor | None = None
    generation_targets: torch.LongTensor | None = None
    encoder_hidden_states: torch.FloatTensor | None = None
    memory_mask: torch.LongTensor | None = None


def word_subword_ends(word_index: torch.Tensor, word_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Exclusive end of every word's subwords: the next larger word start, or the trailing special token for the last
    word (`batch x words`)."""
    last_end = (attention_mask.sum(1, keepdim=True) - 1).to(word_index.dtype)
    starts = torch.where(word_mask, word_index, last_end)
    following = torch.cat([starts, last_end], dim=1)
    nxt = torch.searchsorted(starts.contiguous(), starts.contiguous(), right=True)
    return following.gather(1, nxt)


def word_subword_mask(word_index: torch.Tensor, word_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`batch x subwords` mask (long, 1 = visible) of the subwords that belong to words, i.e. without the tokenizer's
    special tokens: what the decoder cross-attends."""
    subword = torch.arange(attention_mask.size(1), device=attention_mask.device)
    last_end = word_subword_ends(word_index, word_mask, attention_mask).masked_fill(~word_mask, 0).max(1).values
    return ((subword >= word_index[:, :1]) & (subword < last_end.unsqueeze(1))).long()


class NagNerModel(JointIEPreTrainedModel):
    """NAG-NER on a BERT-like encoder and decoder. See the module docstring for the paper's sections each part follows."""

    config_class = NagNerConfig

    def __init__(self, config: NagNerConfig):
        super().__init__(config)
        hidden = config.encoder_hidden_size
        embeddings = getattr(self.encoder, "embeddings", None)
        if not isinstance(getattr(embeddings, "position_embeddings", None), nn.Embedding):
            raise ValueError(
                f"NAG-NER's WSPE needs an encoder with absolute position embeddings; "
                f"{type(self.encoder).__name__} has no `embeddings.position_embeddings`."
            )
        self.decoder = AutoModel.from_config(config.decoder_config)
        if getattr(self.decoder, "pooler", None) is not None:
            self.decoder.pooler = None  # the decoder's pooled output is never read
        layers = getattr(getattr(self.decoder, "encoder", None), "layer", [])
        if not layers or not all(hasattr(getattr(layer, "crossattention", None), "self") for layer in layers):
            raise ValueError(
                f"NAG-NER's decoder must be BERT-like with cross-attention (`encoder.layer[i].crossattention`); "
                f"{type(self.decoder).__name__} is not."
            )
        self.subword_vocab_size = self.decoder.get_input_embeddings().num_embeddings
        self.dropout = nn.Dropout(config.dropout)
        self.start_classifier = nn.Linear(hidden, config.max_entities_per_start + 1)
        self.nepe = nn.Embedding(config.max_entities_per_start, hidden) if config.start_position_embeddings else None
        self.tag_embeddings = nn.Embedding(NUM_SPECIAL + config.num_entity_types, hidden)
        self.lm_transform = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=getattr(config.decoder_config, "layer_norm_eps", 1e-12))
        )
        self.output_bias = nn.Parameter(torch.zeros(self.subword_vocab_size + NUM_SPECIAL + config.num_entity_types))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, NagNerModel):
            init.zeros_(module.output_bias)

    def post_load_backbone(self) -> None:
        """Initialise the decoder from the pretrained encoder: every tensor with the same name and shape is copied
        (all of them for the default decoder), and each layer's cross-attention starts as a copy of that layer's
        self-attention (see the module docstring)."""
        decoder_state = self.decoder.state_dict()
        copied = {
            name: tensor
            for name, tensor in self.encoder.state_dict().items()
            if name in decoder_state and decoder_state[name].shape == tensor.shape
        }
        copied.update(
            {
                name.replace(".attention.", ".crossattention.", 1): tensor
                for name, tensor in copied.items()
                if ".attention." in name and name.replace(".attention.", ".crossattention.", 1) in decoder_state
            }
        )
        self.decoder.load_state_dict(copied, strict=False)

    # ----------------------------------------------------------------------------------------------- decoder passes
    def start_embeddings(self, positions: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """WSPE + NEPE of Sect. 3.4 for items starting at subword `positions` as the `ranks`-th entity: `items x hidden`
        (zeros in the NAG-NER-3 ablation, `start_position_embeddings=False`)."""
        if self.nepe is None:
            return self.tag_embeddings.weight.new_zeros(len(positions), self.tag_embeddings.embedding_dim)
        return self.encoder.embeddings.position_embeddings(positions) + self.nepe(ranks)

    def decoder_inputs(self, positions: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """The decoder input of items starting at subword `positions` as the `ranks`-th entity, in training and at
        inference alike: `l_max + 3` mask tokens plus WSPE/NEPE (`items x (l_max + 3) x hidden`, an expanded view)."""
        inputs = self.tag_embeddings.weight[MASK] + self.start_embeddings(positions, ranks)
        return inputs.unsqueeze(1).expand(-1, self.config.max_entity_length + 3, -1)

    def project_memory(self, encoder_states: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every decoder layer's cross-attention keys and values of the `batch x subwords x hidden` memory, projected
        once per sentence (`batch x heads x subwords x head_size` each)."""
        memory = []
        for layer in self.decoder.encoder.layer:
            attention = layer.crossattention.self
            shape = (*encoder_states.shape[:-1], -1, attention.attention_head_size)
            memory.append((attention.key(encoder_states).view(shape).transpose(1, 2),
                           attention.value(encoder_states).view(shape).transpose(1, 2)))
        return memory

    @staticmethod
    def cross_attention_cache(memory: list[tuple[torch.Tensor, torch.Tensor]], rows: torch.Tensor) -> EncoderDecoderCache:
        """The projected `memory` gathered for the items of `rows`, as a pre-filled cache: the decoder reads the keys
        and values from it instead of re-projecting a duplicated copy of the sentence's memory for every item."""
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        for index, (keys, values) in enumerate(memory):
            cache.cross_attention_cache.update(keys[rows], values[rows], index)
            cache.is_updated[index] = True
        return cache

    def run_decoder(
        self,
        inputs_embeds: torch.Tensor,
        encoder_states: torch.Tensor,
        memory_mask: torch.Tensor,
        rows: torch.Tensor,
        memory: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ):
        """Run the decoder on `items x slots x hidden` inputs, item i cross-attending sentence `rows[i]` of the
        `batch x subwords x hidden` memory (`memory`: its [`project_memory`], when the caller has it already).
        Bidirectional: the 4-d self-attention mask makes every slot visible to every other (NAG, Sect. 3.3;
        `create_causal_mask` passes a prepared 4-d mask through as it is)."""
        slots = inputs_embeds.size(1)
        visible = inputs_embeds.new_zeros(1, 1, slots, slots)  # additive mask: nothing hidden
        memory = self.project_memory(encoder_states) if memory is None else memory
        return self.decoder(
            inputs_embeds=inputs_embeds,
            attention_mask=visible,
            # only its shape is read: the keys and values come from the cache
            encoder_hidden_states=encoder_states[:1].expand(len(rows), -1, -1),
            encoder_attention_mask=memory_mask[rows],
            cache=self.cross_attention_cache(memory, rows),
            use_cache=True,
        )

    def token_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Training scores over the subword vocabulary followed by the `tag_embeddings` rows: `... x (vocab + tags)`."""
        weight = torch.cat([self.decoder.get_input_embeddings().weight, self.tag_embeddings.weight])
        return F.linear(self.lm_transform(states), weight, self.output_bias)

    def mention_candidates(
        self, input_ids: torch.Tensor, memory_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What a mention slot of each sentence may emit (module docstring), computed once per batch: the distinct
        visible subwords (`batch x subwords`, a repeat of an earlier subword is not a second candidate), their output
        embeddings (`batch x subwords x hidden`) and output biases (`batch x subwords`)."""
        visible = memory_mask.bool()
        later = torch.ones(visible.size(1), visible.size(1), dtype=torch.bool, device=visible.device).tril(-1)
        repeated = ((input_ids.unsqueeze(2) == input_ids.unsqueeze(1)) & visible.unsqueeze(1) & later).any(2)
        weight = self.decoder.get_input_embeddings().weight
        return visible & ~repeated, F.embedding(input_ids, weight), self.output_bias[input_ids]

    def candidate_log_probs(
        self, states: torch.Tensor, candidates: tuple[torch.Tensor, torch.Tensor, torch.Tensor], rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference output layer, the softmax restricted to what can align (module docstring): the type slot over `<O>`
        and the types (`items x (1 + types)`), each mention slot over its sentence's `candidates` (from
        [`mention_candidates`]) followed by `</s>` (`items x (l_max + 1) x (subwords + 1)`, `-inf` at
        non-candidates). Log-probabilities."""
        vocab, hidden = self.subword_vocab_size, self.lm_transform(states)
        type_logits = F.linear(
            hidden[:, 1], self.tag_embeddings.weight[NON_ENTITY:], self.output_bias[vocab + NON_ENTITY :]
        )
        allowed, embeddings, biases = candidates
        mention = hidden[:, 2:]
        subword_logits = torch.bmm(mention, embeddings[rows].transpose(1, 2)) + biases[rows].unsqueeze(1)
        subword_logits = subword_logits.masked_fill(~allowed[rows].unsqueeze(1), float("-inf"))
        eos_logits = mention @ self.tag_embeddings.weight[EOS] + self.output_bias[vocab + EOS]
        mention_logits = torch.cat([subword_logits, eos_logits.unsqueeze(-1)], dim=-1)
        return torch.log_softmax(type_logits, dim=-1), torch.log_softmax(mention_logits, dim=-1)

    def generate_parallel(
        self,
        encoder_states: torch.Tensor,
        memory_mask: torch.Tensor,
        input_ids: torch.Tensor,
        rows: torch.Tensor,
        positions: torch.Tensor,
        ranks: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One NAG decoder pass for all items ([`decoder_inputs`]), read by `candidate_log_probs`.
        The items run in chunks of `_ITEM_CHUNK` against the memory projected (and the mention candidates found) once:
        each item gathers its sentence's keys and values in every decoder layer, so one pass over all items of a batch
        whose start classifier fires at most words (an undertrained model) would hold gigabytes."""
        inputs = self.decoder_inputs(positions, ranks)
        memory, candidates = self.project_memory(encoder_states), self.mention_candidates(input_ids, memory_mask)
        type_log_probs, mention_log_probs = [], []
        for chunk in torch.arange(len(rows), device=rows.device).split(_ITEM_CHUNK):
            states = self.run_decoder(inputs[chunk], encoder_states, memory_mask, rows[chunk], memory).last_hidden_state
            types, mentions = self.candidate_log_probs(states, candidates, rows[chunk])
            type_log_probs.append(types)
            mention_log_probs.append(mentions)
        return torch.cat(type_log_probs), torch.cat(mention_log_probs)

    # --------------------------------------------------------------------------------------------------- training
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        word_end_index: torch.Tensor | None = None,  # part of the shared batch; ITER reads it
        entity_labels: torch.Tensor | None = None,
        relation_labels: torch.Tensor | None = None,
        entity_fragments: torch.Tensor | None = None,
    ) -> NagNerOutput:
        r"""
        entity_labels (`batch x entities x 3`, *optional*): gold `[start, end, type]` (see `encode_labels`).
        entity_fragments (`batch x entities x fragments x 2`, *optional*): gold fragments (discontinuous mentions).
        relation_labels: accepted for the shared batch format; NAG-NER extracts entities only.
        """
        word_mask = word_mask.bool()
        encoded = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        words = gather_words(encoded.last_hidden_state, word_index)
        count_logits = self.start_classifier(self.dropout(words))
        encoder_states = encoded.last_hidden_state + encoded.hidden_states[0]
        memory_mask = word_subword_mask(word_index, word_mask, attention_mask)
        output = NagNerOutput(count_logits=count_logits, encoder_hidden_states=encoder_states, memory_mask=memory_mask)
        if entity_labels is None:
            return output
        counts, rows, starts, ranks, targets = self.generation_targets(
            input_ids, attention_mask, word_index, word_mask, entity_labels, entity_fragments
        )
        output.count_loss = F.cross_entropy(count_logits[word_mask], counts[word_mask])
        inputs = self.decoder_inputs(word_index[rows, starts], ranks)
        states = self.run_decoder(inputs, encoder_states, memory_mask, rows).last_hidden_state
        scored = targets != IGNORE
        output.generation_logits = self.token_logits(states[scored])
        output.generation_targets = targets[scored]
        output.generation_loss = F.cross_entropy(output.generation_logits, output.generation_targets)
        output.loss = output.generation_loss + output.count_loss
        return output

    def generation_targets(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        entity_labels: torch.Tensor,
        entity_fragments: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """The paper's targets from the gold tensors (Sect. 3.2-3.3), with tensor ops.

        Returns `counts` (`batch x words`, `ne_j`), and for every training item (each kept gold entity, then one
        negative per word where no entity starts) its `rows`, start word `starts`, rank `ranks` (NEPE index) and
        `targets` (`items x (l_max + 3)`, `<s> ET ES </s>` then `IGNORE` for `<pad>`).
        """
        config, device = self.config, input_ids.device
        num_rows, num_words = word_mask.shape
        if entity_fragments is None:
            entity_fragments = entity_labels[..., None, :2]
        start, end, label = entity_labels.unbind(-1)
        valid = start >= 0
        # rank among the entities of the same start word: by spanning length, then type, then position in the data
        position = torch.arange(start.size(1), device=device)
        key = ((end - start) * (label.max() + 2) + label + 1) * start.size(1) + position
        same_start = (start.unsqueeze(2) == start.unsqueeze(1)) & valid.unsqueeze(1)
        rank = (same_start & (key.unsqueeze(1) < key.unsqueeze(2))).sum(-1)
        keep = valid & (rank < config.max_entities_per_start)
        counts = torch.zeros(num_rows, num_words, dtype=torch.long, device=device)
        entity_rows, entity_slots = keep.nonzero(as_tuple=True)
        counts.index_put_((entity_rows, start[keep]), torch.ones_like(entity_rows), accumulate=True)
        negatives = word_mask & (counts == 0)
        if self.training and config.negative_ratio < 1.0:
            negatives &= torch.rand(negatives.shape, device=device) < config.negative_ratio
        negative_rows, negative_starts = negatives.nonzero(as_tuple=True)
        fragments = entity_fragments[entity_rows, entity_slots]
        negative_fragments = fragments.new_full((len(negative_rows), fragments.size(1), 2), -1)
        negative_fragments[:, 0, 0], negative_fragments[:, 0, 1] = negative_starts, negative_starts + 1
        rows = torch.cat([entity_rows, negative_rows])
        starts = torch.cat([start[keep], negative_starts])
        ranks = torch.cat([rank[keep], torch.zeros_like(negative_rows)])
        tags = torch.cat([label[keep] + NUM_SPECIAL, torch.full_like(negative_rows, NON_ENTITY)])
        fragments = torch.cat([fragments, negative_fragments])
        # subword ranges of the fragments, then the subword at every mention slot
        word_ends = word_subword_ends(word_index, word_mask, attention_mask)
        present = fragments[..., 0] >= 0
        first = fragments[..., 0].clamp(min=0)
        last = (fragments[..., 1] - 1).clamp(min=0)
        sub_start = word_index[rows.unsqueeze(1), first]
        lengths = torch.where(present, word_ends[rows.unsqueeze(1), last] - sub_start, 0)
        before = lengths.cumsum(1)
        slots = config.max_entity_length + 1
        offsets = torch.arange(slots, device=device).expand(len(rows), -1)
        which = torch.searchsorted(before, offsets.contiguous(), right=True).clamp(max=before.size(1) - 1)
        positions = sub_start.gather(1, which) + offsets - (before - lengths).gather(1, which)
        total = before[:, -1:]
        tokens = input_ids[rows.unsqueeze(1), positions.clamp(min=0, max=input_ids.size(1) - 1)]
        mention = torch.where(offsets < total, tokens, IGNORE)
        # `</s>` right after the mention; a mention filling every slot has none (the extra column is dropped)
        mention = torch.cat([mention, torch.full_like(mention[:, :1], IGNORE)], dim=1)
        eos_slot = total.clamp(max=slots)
        mention.scatter_(1, eos_slot, torch.full_like(eos_slot, self.subword_vocab_size + EOS))
        targets = torch.cat(
            [torch.full_like(rows, self.subword_vocab_size + BOS).unsqueeze(1), (self.subword_vocab_size + tags).unsqueeze(1), mention[:, :slots]],
            dim=1,
        )
        return counts, rows, starts, ranks, targets

    # --------------------------------------------------------------------------------------------------- inference
    def decode(
        self,
        outputs: NagNerOutput,
        batch: dict[str, torch.Tensor],
        threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> list[JointIEPrediction]:
        """Entities of every sentence: start words and counts from Eq. 6, one decoder pass for all items of the batch,
        then alignment of the generated subwords to words (see the module docstring). `relation_threshold` is accepted
        for the shared interface; NAG-NER predicts no relations."""
        start_probs, rows, starts, ranks = self.select_starts(outputs, batch, threshold)
        if len(rows) == 0:
            return [{"entities": [], "relations": []} for _ in range(len(batch["word_mask"]))]
        type_log_probs, mention_log_probs = self.generate_parallel(
            outputs.encoder_hidden_states, outputs.memory_mask, batch["input_ids"], rows,
            batch["word_index"][rows, starts], ranks,
        )
        return self.entities_from_generation(batch, start_probs, rows, starts, type_log_probs, mention_log_probs)

    def select_starts(
        self, outputs: NagNerOutput, batch: dict[str, torch.Tensor], threshold: float | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Eq. 6: the items to generate, as `(start probability, rows, start words, ranks)`, one per `(j, n < ne_j)`."""
        tau = self.config.start_threshold if threshold is None else 1.0 - threshold
        probs = torch.softmax(outputs.count_logits.float(), dim=-1)
        selected = (probs[..., 0] < tau) & batch["word_mask"].bool()
        rows, starts, ranks = self.items_from_counts(torch.where(selected, probs[..., 1:].argmax(-1) + 1, 0))
        return 1.0 - probs[rows, starts, 0], rows, starts, ranks

    @staticmethod
    def items_from_counts(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The items `(rows, start words, ranks)` for `batch x words` entity counts: `counts[b, j]` items start at
        word `j` of sentence `b`, ranked `0 ... counts[b, j] - 1` (the NEPE index)."""
        rows, starts = counts.nonzero(as_tuple=True)
        repeats = counts[rows, starts]
        first = torch.repeat_interleave(repeats.cumsum(0) - repeats, repeats)
        ranks = torch.arange(len(first), device=first.device) - first
        return rows.repeat_interleave(repeats), starts.repeat_interleave(repeats), ranks

    def entities_from_generation(
        self,
        batch: dict[str, torch.Tensor],
        start_probs: torch.Tensor,
        rows: torch.Tensor,
        starts: torch.Tensor,
        type_log_probs: torch.Tensor,
        mention_log_probs: torch.Tensor,
    ) -> list[JointIEPrediction]:
        """Read type and mention from `candidate_log_probs`, align the mention to words and build the predictions."""
        num_rows, num_subwords = len(batch["word_mask"]), batch["input_ids"].size(1)
        tag_log_prob, tag = type_log_probs.max(-1)
        token_log_prob, choice = mention_log_probs.max(-1)
        is_eos = choice == num_subwords
        tokens = batch["input_ids"][rows].gather(1, choice.clamp(max=num_subwords - 1))
        tokens = tokens.masked_fill(is_eos, self.subword_vocab_size + EOS)
        length = torch.where(is_eos.any(1), is_eos.float().argmax(1), tokens.size(1))
        slot = torch.arange(tokens.size(1), device=tokens.device)
        counted = slot <= length.unsqueeze(1)  # the mention tokens and the closing `</s>`
        score = start_probs * torch.exp(tag_log_prob + (token_log_prob * counted).sum(1))
        chosen, aligned = self.align(batch, rows, starts, tokens, length)
        keep = (tag > 0) & aligned & (length > 0)
        return self._assemble(num_rows, rows[keep], tag[keep] - 1, score[keep], chosen[keep])

    def align(
        self,
        batch: dict[str, torch.Tensor],
        rows: torch.Tensor,
        starts: torch.Tensor,
        tokens: torch.Tensor,
        length: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Map generated subwords to the words of the input (rule in the module docstring). Returns the chosen words
        (`items x words`, bool) and whether the item aligned."""
        input_ids, attention_mask = batch["input_ids"][rows], batch["attention_mask"]
        word_index, word_mask = batch["word_index"], batch["word_mask"].bool()
        num_items, num_subwords = input_ids.shape
        device = input_ids.device
        word_ends = word_subword_ends(word_index, word_mask, attention_mask)[rows]
        item_word_index, item_word_mask = word_index[rows], word_mask[rows]
        items = torch.arange(num_items, device=device)
        subword = torch.arange(num_subwords, device=device)
        last_end = word_ends.masked_fill(~item_word_mask, 0).max(1).values
        in_words = (subword >= item_word_index[:, :1]) & (subword < last_end.unsqueeze(1))
        is_word_start = torch.zeros(num_items, num_subwords + 1, dtype=torch.bool, device=device)
        is_word_end = torch.zeros_like(is_word_start)
        item_of_word = items.unsqueeze(1).expand_as(item_word_index)[item_word_mask]
        is_word_start[item_of_word, item_word_index[item_word_mask]] = True
        is_word_end[item_of_word, word_ends[item_word_mask] - 1] = True
        is_word_start, is_word_end = is_word_start[:, :-1], is_word_end[:, :-1]
        position = item_word_index.gather(1, starts.unsqueeze(1)).squeeze(1)
        ok = (length > 0) & (input_ids[items, position] == tokens[:, 0])
        chosen_subwords = torch.zeros(num_items, num_subwords, dtype=torch.bool, device=device)
        chosen_subwords[items, position] = True
        for step in range(1, tokens.size(1)):  # the l_max output slots, all items at once
            active = ok & (step < length)
            token = tokens[:, step]
            following = (position + 1).clamp(max=num_subwords - 1)
            contiguous = in_words[items, following] & (position + 1 < num_subwords) & (input_ids[items, following] == token)
            jumps = is_word_start & (input_ids == token.unsqueeze(1)) & (subword > (position + 1).unsqueeze(1))
            can_jump = jumps.any(1) & is_word_end[items, position]
            moved = active & (contiguous | can_jump)
            ok = ok & (~active | moved)
            position = torch.where(moved, torch.where(contiguous, position + 1, jumps.float().argmax(1)), position)
            chosen_subwords[items[moved], position[moved]] = True
        ok = ok & is_word_end[items, position]
        chosen_words = chosen_subwords.gather(1, item_word_index) & item_word_mask
        return chosen_words, ok

    def _assemble(
        self, num_rows: int, rows: torch.Tensor, types: torch.Tensor, scores: torch.Tensor, words: torch.Tensor
    ) -> list[JointIEPrediction]:
        """Merge duplicates (best score wins), cut the chosen words into fragments and build the predictions."""
        if len(rows) == 0:
            return [{"entities": [], "relations": []} for _ in range(num_rows)]
        keys = torch.cat([rows.unsqueeze(1), types.unsqueeze(1), words.long()], dim=1)
        order = scores.argsort(descending=True, stable=True)
        _, group = torch.unique(keys[order], dim=0, return_inverse=True)
        first = torch.full((int(group.max()) + 1,), len(order), device=rows.device)
        first = first.scatter_reduce(0, group, torch.arange(len(order), device=rows.device), reduce="amin")
        best = order[first]
        best = best[torch.argsort(rows[best] * words.size(1) + words[best].float().argmax(1), stable=True)]
        rows, types, scores, words = rows[best], types[best], scores[best], words[best]
        if not self.config.nested:  # flat data: the best of overlapping entities (their first to last word)
            first_word = words.float().argmax(1)
            end_word = words.size(1) - words.flip(1).float().argmax(1)
            flat = best_of_overlapping(rows, first_word, end_word, scores)
            rows, types, scores, words = rows[flat], types[flat], scores[flat], words[flat]
        edge = torch.zeros_like(words[:, :1])
        previous = torch.cat([edge, words[:, :-1]], dim=1)
        following = torch.cat([words[:, 1:], edge], dim=1)
        items, fragment_starts = (words & ~previous).nonzero(as_tuple=True)
        _, fragment_ends = (words & ~following).nonzero(as_tuple=True)
        _, first_word, end_word = pad_by_row(items, len(rows), fragment_starts, fragment_ends + 1)
        fragments = torch.stack([first_word, end_word], dim=-1)
        last = (end_word >= 0).sum(1).clamp(min=1) - 1
        entities = {
            "row": rows, "start": first_word[:, 0], "end": end_word.gather(1, last.unsqueeze(1)).squeeze(1),
            "type": types, "score": scores, "fragments": fragments,
        }
        return assemble_predictions(self.config, num_rows, entities)


__all__ = ["NagNerModel", "NagNerOutput"]
