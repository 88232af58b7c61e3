"""Cascade-SRN: entity, subject and subject-oriented object extraction as three cascaded span-extraction tasks over a
Selection Recurrent Network.

Paper: "Towards Effective Multi-Task Interaction for Entity-Relation Extraction: A Unified Framework with Selection
Recurrent Network" (`../shared/papers/cascade_srn.txt`).

* Sect. 3.1: NER is entity extraction (EE); RE is subject extraction (SE) followed by subject-oriented object extraction
  (SOE), relations being functions `f(s, r) = {o, ...}`. A triple `(s, r, o)` becomes a relation between the entities
  with the spans of `s` and `o`.
* Sect. 3.3, [`SelectionRecurrentNetwork`]: Eq. 1-2 (forget/output gates, candidate state, filtered history), Eq. 3
  (three master gates, computed twice: once for the candidate `c^` and once for the filtered history `c~`), Eq. 4-5
  (four shared and three independent gates by inclusion-exclusion), Eq. 6-7 (seven memories), Eq. 8-9 (next cell and
  hidden state), Eq. 10 (the seven token representations). Unidirectional, as the paper's default; Table 2's encoder
  ablations are `sequence_encoder="bisrn"` (a forward and a backward SRN, each of the seven representations the
  concatenation of both directions, as "two SRN encoders, one in the forward direction and the other one in the
  backward direction") and `"bilstm"` (a BiLSTM of the same width per direction, whose output every module reads in
  place of its Eq. 11 parts: a BiLSTM has no task-specific memories).
* Eq. 11: `h^_e = [h_e, h_es, h_eo, h_eso]`, `h^_s = [(e_e), h_s, h_es, h_so, h_eso]`,
  `h^_o = [(e_e), h_o, h_eo, h_so, h_eso, (e_s)]`; the bracketed embeddings only in late fusion.
* Sect. 3.4.1, early fusion: typed entity markers `[e_k:S] ... [e_k:E]` are inserted for the subject module and entity
  plus subject markers `[S:S] ... [S:E]` for the object module, and the marked text is re-encoded (encoder + SRN) once
  per module and, for SOE, once per subject; each pass keeps only its module's representation. Table 2's "Subject"
  text-marker ablation is `entity_markers=False`: the subject module reads the original sentence (the entity
  module's encoding, no second pass) and the object module's text carries only the subject markers.
* Sect. 3.4.2, late fusion: one encoding; the entity-type table `T^e` ((|E|+1) x d^t) and subject table `T^s` (2 x d^t)
  are looked up per token and concatenated to the SRN outputs; the object module also receives the subject's
  representation at every token (see the choices below).
* Appendix A, [`SpanExtractionHead`]: per-label start and end classifiers (Eq. 12) and the start-end match classifier
  on `[h_i, h_j]` (Eq. 13). Appendix B: binary cross-entropy losses (Eq. 14), weighted sum (Eq. 15); SE and SOE are
  trained on gold entities, every gold entity being a candidate subject for SOE; inference runs EE -> SE -> SOE on
  predictions, the object module "for these predicted subjects one by one" (`subject_batching="one_by_one"`, the
  early-fusion default: one encoder pass per subject, what the paper's Table 4 times) or the subjects of a batch
  together, in chunks of `_SUBJECT_CHUNK` (`"batched"`, the late-fusion default; the same predictions up to float
  rounding).

Choices where the paper is vague, and why:

* The SRN runs over word representations (each word's first subword), so spans live in the data's word offsets; in
  early fusion the markers are seen by the encoder (attention) but the SRN and the heads read only the original words.
* Marker tokens: `2 (|E| + 1)` rows of a new embedding table `marker_embeddings` (row `2p` opens, `2p + 1` closes;
  `p = 0` is the subject, `p = 1 + k` entity type `k`). They are inserted on the subword tensors inside the model and
  fed to the encoder as `inputs_embeds`, so tokenizer, collator and pipeline are unchanged. Initialisation: N(0,
  initializer_range) and, when the backbone is loaded with `from_encoder_pretrained`, shifted by the mean pretrained
  word embedding (what `resize_token_embeddings` does for new tokens, as PURE adds its markers to the vocabulary).
  Nested spans are bracketed properly (outer opens first, inner closes first); the subject marker encloses the entity
  marker of the same span.
* Eq. 3 for `c~` uses its own weights (`W_3`); Eq. 1 and 3 have biases, as LSTM gates do; `h_0 = c_0 = 0`. The SRN's
  weights are initialised like `transformers` initialises `nn.LSTM` (Xavier uniform, zero biases).
* Eq. 8's cell state is squashed, `c_t = tanh(Linear([s_e; ...; s_eso]))`. As written, `c_t` is an unbounded linear
  map of memories that contain `f * c_{t-1}`, so once training makes that recurrence expanding the cell grows
  geometrically along the sentence. Measured on 200 SciERC sentences (MiniLM, batch 8): with the heads at learning
  rate 1e-3 the cell reached 6e12 after 11 steps and the loss was NaN by step 21; at 1e-4 it stayed finite but 86% of
  the Eq. 10 representations were saturated (|tanh| > 0.99) after 3 epochs, which stops their gradients. With the
  squash every memory lies in [-2, 2] (`|c~| <= 1`, `|c^| <= 1`) and nothing saturates. An LSTM's additive cell does
  not need this; the SRN's mixing matrix on the recurrent path does.
* Span classifiers start at a small probability: the biases of every start, end and match classifier (Eq. 12-13) are
  the log-odds of `config.prior_probability` (0.01), as RetinaNet does for sparse sigmoid targets. Eq. 14 sums BCE
  over every word, label and (for matching) word pair, nearly all negatives: with zero biases a SciERC batch starts at
  a loss of about 7000 per sentence, the first training steps only learn "everything is negative", and they send
  gradients of norm ~900 into the pretrained encoder (~20 with the prior). Together with the squashed cell and a head
  learning rate of 1e-3 (`--head_learning_rate`, the encoder at 1e-4), this turned a run that predicted nothing into
  one that learns (see the model card); the losses stay as written (sums, Eq. 14-15).
* Eq. 13's layer on `[h_i, h_j]` is computed as `W_l h_i + W_r h_j + b` (the same linear map, without the n^2 concat).
  Matching, its loss and decoding use pairs `i <= j` inside the sentence (Eq. 14 writes all pairs; `j < i` can never
  be a span), optionally limited by `max_span_width`. Losses are summed over tokens, labels (and subjects) and
  averaged over sentences.
* Decoding (MRC-style, Li et al. 2020): span `[i, j]` of label `k` when start(i, k), end(j, k) and match(i, j, k) all
  pass the module's threshold (`entity_threshold`, `subject_threshold`, `relation_threshold`: the paper gives none,
  and four cascaded 0.5 cuts lose recall at every stage, so they are meant to be calibrated on dev); its score is the
  smallest of the three probabilities. `nested=False` keeps, of overlapping entities (and of overlapping subjects),
  those no overlapping one beats, for flat datasets. A relation's score is the smaller of its
  subject's and object's scores. Subject and object spans are mapped to the predicted entity with the same span (the
  best-scoring one if several types share it); subjects that are no predicted entity are dropped before the object
  module runs (they could give no relation), objects that are none and self-relations after it.
* Late fusion entity tags: a token inside several (nested) entities gets the sum of their type embeddings; a token in
  none gets row 0 ("no entity").
* Early fusion at inference keeps, per sentence, only as many of the best-scoring predicted entities as fit with their
  markers into the encoder's positions (an untrained model can predict hundreds); the paper's sentences always fit.
* SOE targets of a candidate subject are the relations whose head has the candidate's span (so two gold entities of
  different types on one span share their objects). `train_subjects="subjects"` gives Table 2's "golden subject"
  ablation (only gold subjects as candidates).
* Late fusion conditions the object module on the subject at every token:
  `h^_o,i = [e_e,i, p_i, e_s,i, p_i * v_s]`, where `p_i = [h_o,i, h_eo,i, h_so,i, h_eso,i]` (Eq. 11) and `v_s` is the
  mean of `p` over the subject's words. Eq. 11 read literally lets the subject reach token i only through the 0/1 tag
  `e_s,i`, so outside the subject span the object logits would be the same for every subject of a sentence; trained
  with every gold entity as a candidate subject (Appendix B), such a module is asked to give the same words different
  targets and cannot learn SciERC's relations (nor the toy sentences with two subjects in the tests), while the paper
  reports late fusion only 2 RE points under early fusion (Table 1). The authors' implementation must therefore bring
  the subject to every token; the reading kept is the subject representation, as in the cascade models the paper
  builds on (CasRel, Wei et al. 2020, adds the subject's vector to every token before the object taggers), with
  `T^s` kept for the span itself. It is multiplied rather than concatenated or added because the heads of Eq. 12-13
  are linear: a concatenated (or added) subject vector only shifts the logits of all words by the same amount and
  cannot select different words for different subjects, while `w . (p_i * v_s)` is a bilinear score of word and
  subject. The encoder and SRN still run once per sentence and all subjects of a batch go through the object module
  together, so late fusion keeps its speed advantage.
* Eq. 8 concatenates the memories as `[s_e; s_o; s_s; ...]`; storing them in [`srn.MEMORIES`] order permutes the columns
  of the same linear map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from ...modeling_utils import (
    JointIEPreTrainedModel,
    assemble_predictions,
    best_of_overlapping,
    gather_words,
    pad_by_row,
    rank_within_rows,
)
from ...outputs import JointIEOutput, JointIEPrediction
from .configuration_cascade_srn import CascadeSrnConfig
from .srn import SelectionRecurrentNetwork, reverse_words

#: Subjects per object-module pass when `subject_batching="batched"`: an undertrained model, or a calibration sweep at
#: threshold 0, predicts thousands of subjects per batch, and one pass over a SciERC batch of them asked for 8 GB.
_SUBJECT_CHUNK = 256

#: The SRN representations each module reads (Eq. 11).
ENTITY_PARTS, SUBJECT_PARTS, OBJECT_PARTS = [0, 3, 4, 6], [1, 3, 5, 6], [2, 4, 5, 6]


class SpanExtractionHead(nn.Module):
    """Appendix A: start and end classifiers (Eq. 12) and the start-end matching classifier (Eq. 13), per label."""

    def __init__(self, input_size: int, num_labels: int):
        super().__init__()
        self.start = nn.Linear(input_size, num_labels)
        self.end = nn.Linear(input_size, num_labels)
        self.match_start = nn.Linear(input_size, num_labels)
        self.match_end = nn.Linear(input_size, num_labels, bias=False)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`items x words x D` -> start and end logits `items x words x labels` and match logits
        `items x words x words x labels`."""
        match = self.match_start(hidden).unsqueeze(2) + self.match_end(hidden).unsqueeze(1)
        return self.start(hidden), self.end(hidden), match


def pair_mask(word_mask: torch.Tensor, max_width: int | None) -> torch.Tensor:
    """`items x words x words`: the (start, end) pairs that can be a span (`i <= j`, both words, width limit)."""
    n = word_mask.size(1)
    index = torch.arange(n, device=word_mask.device)
    width = index.view(1, -1) - index.view(-1, 1)
    allowed = (width >= 0) & (width < (max_width or n))
    return allowed & word_mask.unsqueeze(2) & word_mask.unsqueeze(1)


def span_targets(
    shape: tuple[int, int, int], items: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Binary start, end and match targets (Eq. 14's `y`) of the spans `[starts, ends)` with `labels`, each in row
    `items` of a `(items, words, labels)` table."""
    num_items, n, num_labels = shape
    start = torch.zeros(shape, device=starts.device)
    end = torch.zeros_like(start)
    match = torch.zeros(num_items, n, n, num_labels, device=starts.device)
    start[items, starts, labels] = 1.0
    end[items, ends - 1, labels] = 1.0
    match[items, starts, ends - 1, labels] = 1.0
    return start, end, match


def span_loss(
    logits: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...], word_mask: torch.Tensor,
    weights: list[float], max_width: int | None,
) -> torch.Tensor:
    """Eq. 14 (summed over words, words x words and labels) weighted by `(alpha, beta, gamma)` of Eq. 15."""
    masks = (word_mask.unsqueeze(-1), word_mask.unsqueeze(-1), pair_mask(word_mask, max_width).unsqueeze(-1))
    total = logits[0].new_zeros(())
    for logit, target, mask, weight in zip(logits, targets, masks, weights):
        losses = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
        total = total + weight * (losses * mask).sum()
    return total


def decode_spans(
    logits: tuple[torch.Tensor, ...], word_mask: torch.Tensor, threshold: float, max_width: int | None,
    flat: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Spans whose start, end and match probabilities all pass `threshold`: flat `(items, starts, ends, labels,
    scores)` with exclusive ends, sorted by item. `flat=True` keeps of overlapping spans of an item (any labels) the
    most probable one."""
    start, end, match = (torch.sigmoid(logit) for logit in logits)
    score = torch.minimum(torch.minimum(start.unsqueeze(2), end.unsqueeze(1)), match)
    selected = (score > threshold) & pair_mask(word_mask, max_width).unsqueeze(-1)
    items, starts, lasts, labels = selected.nonzero(as_tuple=True)
    spans = items, starts, lasts + 1, labels, score[items, starts, lasts, labels]
    if flat:
        kept = best_of_overlapping(spans[0], spans[1], spans[2], spans[4])
        spans = tuple(part[kept] for part in spans)
    return spans


@dataclass
class CascadeSrnOutput(JointIEOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): `L = L_e + L_s + L_o` (Eq. 15), averaged over sentences.
    entity_loss, subject_loss, object_loss (`torch.FloatTensor`, *optional*): the three terms of `loss`.
    entity_start_logits, entity_end_logits (`batch x words x entity_types`): Eq. 12 of the entity module.
    entity_match_logits (`batch x words x words x entity_types`): Eq. 13 of the entity module.
    srn_states (`batch x words x 7 x srn_hidden`): the seven SRN representations of the unmarked sentence (Eq. 10,
        [`srn.MEMORIES`] order), which `decode` reuses for the subject and object modules in late fusion.
    """

    entity_loss: torch.FloatTensor | None = None
    subject_loss: torch.FloatTensor | None = None
    object_loss: torch.FloatTensor | None = None
    entity_start_logits: torch.FloatTensor | None = None
    entity_end_logits: torch.FloatTensor | None = None
    entity_match_logits: torch.FloatTensor | None = None
    srn_states: torch.FloatTensor | None = None


class CascadeSrnModel(JointIEPreTrainedModel):
    """Cascade-SRN on any `transformers` encoder. See the module docstring for the paper's parts each piece follows."""

    config_class = CascadeSrnConfig

    def __init__(self, config: CascadeSrnConfig):
        super().__init__(config)
        hidden = config.srn_hidden_size or config.encoder_hidden_size
        self.dropout = nn.Dropout(config.dropout)
        if config.sequence_encoder == "bilstm":
            self.lstm = nn.LSTM(config.encoder_hidden_size, hidden, batch_first=True, bidirectional=True)
            width = 2 * hidden  # the one representation every module reads
        else:
            self.srn = SelectionRecurrentNetwork(config.encoder_hidden_size, hidden)
            if config.sequence_encoder == "bisrn":
                self.backward_srn = SelectionRecurrentNetwork(config.encoder_hidden_size, hidden)
            width = 4 * hidden * (2 if config.sequence_encoder == "bisrn" else 1)  # four Eq. 11 parts
        subject_extra = object_extra = 0
        if config.fusion == "late":
            self.entity_tag_embeddings = nn.Embedding(config.num_entity_types + 1, config.type_embedding_size)
            self.subject_tag_embeddings = nn.Embedding(2, config.type_embedding_size)
            # the object module also reads its representation multiplied by the subject's (module docstring)
            subject_extra, object_extra = config.type_embedding_size, 2 * config.type_embedding_size + width
        else:
            self.marker_embeddings = nn.Embedding(2 * (config.num_entity_types + 1), config.encoder_hidden_size)
        self.entity_head = SpanExtractionHead(width, config.num_entity_types)
        self.subject_head = SpanExtractionHead(width + subject_extra, 1)
        self.object_head = SpanExtractionHead(width + object_extra, config.num_relation_types)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        srns = [srn for srn in self.modules() if isinstance(srn, SelectionRecurrentNetwork)]
        if any(module is layer for srn in srns for layer in (srn.input_gates, srn.hidden_gates, srn.cell)):
            init.xavier_uniform_(module.weight)
        if isinstance(module, nn.LSTM):
            for name, parameter in module.named_parameters():
                (init.xavier_uniform_ if name.startswith("weight") else init.zeros_)(parameter)
        heads = (self.entity_head, self.subject_head, self.object_head)
        if any(module is layer for head in heads for layer in (head.start, head.end, head.match_start)):
            init.constant_(module.bias, math.log(self.config.prior_probability / (1.0 - self.config.prior_probability)))
        if module is getattr(self, "marker_embeddings", None):
            init.normal_(module.weight, mean=0.0, std=getattr(self.config.encoder_config, "initializer_range", 0.02))

    @torch.no_grad()
    def post_load_backbone(self) -> None:
        """Early fusion: centre the new marker embeddings on the mean pretrained word embedding."""
        if self.config.fusion == "early":
            words = self.get_input_embeddings().weight
            self.marker_embeddings.weight.add_(words.mean(dim=0).to(self.marker_embeddings.weight.dtype))

    # ---- encoding -----------------------------------------------------------------------------------------------

    def _srn_states(self, word_states: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """The shared encoder over the word states: `items x words x 7 x H` (the SRN's Eq. 10, both directions
        concatenated for the BiSRN) or `items x words x 1 x 2H` (the BiLSTM)."""
        inputs = self.dropout(word_states)
        if self.config.sequence_encoder == "bilstm":
            lengths = word_mask.sum(dim=1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
            output, _ = self.lstm(packed)
            output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=inputs.size(1))
            return output.unsqueeze(2)
        states = self.srn(inputs)
        if self.config.sequence_encoder == "bisrn":
            backward = reverse_words(self.backward_srn(reverse_words(inputs, word_mask)), word_mask)
            states = torch.cat([states, backward], dim=-1)
        return states

    def _module_input(self, srn_states: torch.Tensor, parts: list[int]) -> torch.Tensor:
        """A module's representation (Eq. 11 without the fusion embeddings): its SRN parts concatenated, or the
        BiLSTM's output, which has no task-specific parts."""
        if self.config.sequence_encoder == "bilstm":
            return srn_states[:, :, 0]
        return srn_states[:, :, parts].flatten(-2)

    def insert_markers(
        self, batch: dict[str, torch.Tensor], spans: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Early fusion's text rewriting on subword tensors (Sect. 3.4.1). `batch` holds `input_ids`,
        `attention_mask`, `word_index`, `word_mask` of `items` sequences; `spans` (`items x spans x 3`, `-1` padding)
        holds `[start, end, marker_pair]` in words. Returns `(inputs_embeds, attention_mask, word_index)` of the
        marked sequences."""
        input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
        word_index, word_mask = batch["word_index"], batch["word_mask"].bool()
        length = input_ids.size(1)
        n = word_index.size(1)
        device = input_ids.device
        # exclusive subword end of every word: the next word's first subword, or the trailing special tokens
        last_word = word_mask.sum(1, keepdim=True) - 1
        sequence_end = attention_mask.sum(1, keepdim=True) - self.config.trailing_special_tokens
        following = torch.cat([word_index[:, 1:], word_index[:, -1:]], dim=1)
        word_end = torch.where(torch.arange(n, device=device) == last_word, sequence_end, following)
        valid = spans[..., 0] >= 0
        starts, ends, pairs = spans.clamp(min=0).unbind(-1)
        subject = (pairs == 0).long()
        # sort keys: at one subword position closing markers (inner first) < opening markers (outer first) < token
        within = 2 * (n + 1)
        open_key = (word_index.gather(1, starts) * 3 + 1) * within + (n - ends) * 2 + (1 - subject)
        close_key = (word_end.gather(1, (ends - 1).clamp(min=0)) * 3) * within + (n - starts) * 2 + subject
        token_key = (torch.arange(length, device=device) * 3 + 2) * within
        never = (length + 1) * 3 * within
        keys = torch.cat([
            torch.where(attention_mask.bool(), token_key, never),
            torch.where(valid, open_key, never),
            torch.where(valid, close_key, never),
        ], dim=1)
        ids = torch.cat([input_ids, 2 * pairs, 2 * pairs + 1], dim=1)
        is_marker = torch.cat([torch.zeros_like(attention_mask, dtype=torch.bool), valid, valid], dim=1)
        order = keys.argsort(dim=1, stable=True)
        new_length = int((keys < never).sum(1).max())
        limit = getattr(self.config.encoder_config, "max_position_embeddings", None)
        if limit is not None and new_length > limit:
            raise ValueError(
                f"Early fusion made a sequence of {new_length} subwords, more than the encoder's {limit} positions; "
                "lower `max_length` or use fusion='late'."
            )
        positions = torch.arange(order.size(1), device=device).expand_as(order)
        inverse = torch.empty_like(order).scatter_(1, order, positions)
        order = order[:, :new_length]
        new_mask = keys.gather(1, order) < never
        ids, is_marker = ids.gather(1, order), is_marker.gather(1, order) & new_mask
        ids = torch.where(new_mask, ids, 0)
        embeds = self.get_input_embeddings()(torch.where(is_marker, 0, ids))
        markers = self.marker_embeddings(torch.where(is_marker, ids, 0)).to(embeds.dtype)
        embeds = torch.where(is_marker.unsqueeze(-1), markers, embeds)
        return embeds, new_mask.long(), inverse.gather(1, word_index)

    def _marked_srn_states(self, batch: dict[str, torch.Tensor], spans: torch.Tensor) -> torch.Tensor:
        """Encoder + SRN over the marked text (early fusion): `items x words x 7 x H`."""
        embeds, attention_mask, word_index = self.insert_markers(batch, spans)
        hidden = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        word_states = gather_words(hidden, word_index)
        return self._srn_states(word_states, batch["word_mask"])

    def _entity_tags(self, entity_spans: torch.Tensor, n: int) -> torch.Tensor:
        """Late fusion's `e_e` (Sect. 3.4.2): `items x words x d^t` from `items x entities x 3` spans."""
        words = torch.arange(n, device=entity_spans.device).view(1, 1, -1)
        inside = (entity_spans[..., :1] <= words) & (words < entity_spans[..., 1:2]) & (entity_spans[..., :1] >= 0)
        types = F.one_hot(entity_spans[..., 2].clamp(min=0), self.config.num_entity_types).to(self.dtype)
        counts = torch.einsum("bew,bek->bwk", inside.to(self.dtype), types)
        table = self.entity_tag_embeddings.weight
        tags = counts @ table[1:]
        return torch.where(counts.sum(-1, keepdim=True) > 0, tags, table[0].expand_as(tags))

    # ---- the three modules ----------------------------------------------------------------------------------------

    def subject_logits(
        self, batch: dict[str, torch.Tensor], srn_states: torch.Tensor, entity_spans: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Subject module given the entity prior `entity_spans` (`batch x entities x 3` `[start, end, type]`, `-1`
        padding): logits `batch x words x 1` (start, end) and `batch x words x words x 1` (match)."""
        if self.config.fusion == "late":
            parts = self._module_input(srn_states, SUBJECT_PARTS)
            return self.subject_head(torch.cat([self._entity_tags(entity_spans, srn_states.size(1)), parts], dim=-1))
        if not self.config.entity_markers:  # Table 2's "Subject" markers: the original sentence
            return self.subject_head(self._module_input(srn_states, SUBJECT_PARTS))
        states = self._marked_srn_states(batch, _entity_markers(entity_spans))
        return self.subject_head(self._module_input(states, SUBJECT_PARTS))

    def object_logits(
        self,
        batch: dict[str, torch.Tensor],
        srn_states: torch.Tensor,
        entity_spans: torch.Tensor,
        rows: torch.Tensor,
        starts: torch.Tensor,
        ends: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Object module for the subjects `[starts, ends)` of sentences `rows` (all subjects of all sentences in one
        batch): logits `subjects x words x relation_types` (start, end), `subjects x words x words x relation_types`.
        Late fusion reads `[e_e, p, e_s, p * v_s]` with `v_s` the subject's mean `p` (module docstring); early fusion
        re-encodes the text with entity and subject markers."""
        n = srn_states.size(1)
        entity_spans = entity_spans[rows]
        if self.config.fusion == "late":
            words = torch.arange(n, device=rows.device)
            in_subject = (starts.unsqueeze(1) <= words) & (words < ends.unsqueeze(1))
            parts = self._module_input(srn_states[rows], OBJECT_PARTS)
            inside = in_subject.unsqueeze(-1).to(parts.dtype)
            subject = (parts * inside).sum(1, keepdim=True) / inside.sum(1, keepdim=True).clamp(min=1.0)
            features = [
                self._entity_tags(entity_spans, n), parts, self.subject_tag_embeddings(in_subject.long()),
                parts * subject,
            ]
            return self.object_head(torch.cat(features, dim=-1))
        markers = torch.stack([starts, ends, torch.zeros_like(starts)], dim=-1).unsqueeze(1)
        if self.config.entity_markers:
            markers = torch.cat([_entity_markers(entity_spans), markers], dim=1)
        sub_batch = {key: batch[key][rows] for key in ("input_ids", "attention_mask", "word_index", "word_mask")}
        states = self._marked_srn_states(sub_batch, markers)
        return self.object_head(self._module_input(states, OBJECT_PARTS))

    # ---- forward, losses, decode ----------------------------------------------------------------------------------

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
    ) -> CascadeSrnOutput:
        r"""
        Runs the encoder, the SRN and the entity module on the plain sentence. With gold labels it also runs the
        subject and object modules on the gold prior (Appendix B) and returns the loss; inference continues the
        cascade on predictions in `decode`.

        entity_labels (`batch x entities x 3`, *optional*): gold `[start, end, type]` (see `encode_labels`).
        relation_labels (`batch x relations x 3`, *optional*): gold `[head, tail, type]`.
        entity_fragments: accepted for the shared batch format; Cascade-SRN extracts continuous spans.
        """
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "word_index": word_index,
                 "word_mask": word_mask}
        srn_states = self._srn_states(self.word_states(input_ids, attention_mask, word_index), word_mask)
        start, end, match = self.entity_head(self._module_input(srn_states, ENTITY_PARTS))
        output = CascadeSrnOutput(
            entity_start_logits=start, entity_end_logits=end, entity_match_logits=match, srn_states=srn_states
        )
        if entity_labels is None:
            return output
        word_mask = word_mask.bool()
        weights, width, num_rows = self.config.loss_weights, self.config.max_span_width, len(input_ids)
        rows, slots = (entity_labels[..., 0] >= 0).nonzero(as_tuple=True)
        gold = entity_labels[rows, slots]
        targets = span_targets(start.shape, rows, gold[:, 0], gold[:, 1], gold[:, 2])
        output.entity_loss = span_loss((start, end, match), targets, word_mask, weights[0:3], width) / num_rows
        output.subject_loss, output.object_loss = self._relation_losses(
            batch, srn_states, entity_labels, relation_labels, rows, gold
        )
        output.loss = output.entity_loss + output.subject_loss + output.object_loss
        return output

    def _relation_losses(
        self,
        batch: dict[str, torch.Tensor],
        srn_states: torch.Tensor,
        entity_labels: torch.Tensor,
        relation_labels: torch.Tensor | None,
        rows: torch.Tensor,
        gold: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`L_s` and `L_o` with the gold entities as prior; the candidate subjects of SOE are every gold entity
        (`train_subjects="entities"`, the paper's default) or only the gold subjects (Table 2's ablation)."""
        word_mask = batch["word_mask"].bool()
        weights, width, num_rows = self.config.loss_weights, self.config.max_span_width, len(word_mask)
        if relation_labels is None:
            relation_labels = entity_labels.new_full((num_rows, 1, 3), -1)
        rel_rows, rel_slots = (relation_labels[..., 0] >= 0).nonzero(as_tuple=True)
        head, tail, label = relation_labels[rel_rows, rel_slots].unbind(-1)
        head_span, tail_span = entity_labels[rel_rows, head, :2], entity_labels[rel_rows, tail, :2]
        logits = self.subject_logits(batch, srn_states, entity_labels)
        targets = span_targets(logits[0].shape, rel_rows, head_span[:, 0], head_span[:, 1], torch.zeros_like(label))
        subject_loss = span_loss(logits, targets, word_mask, weights[3:6], width) / num_rows
        # candidate k is the subject of relation m when they sit in one sentence and k's span is m's head span
        is_subject = (rows.unsqueeze(1) == rel_rows) & (gold[:, :2].unsqueeze(1) == head_span).all(-1)
        if self.config.train_subjects == "subjects":
            keep = is_subject.any(dim=1)
            rows, gold, is_subject = rows[keep], gold[keep], is_subject[keep]
        if len(rows) == 0:
            return subject_loss, srn_states.new_zeros(())
        logits = self.object_logits(batch, srn_states, entity_labels, rows, gold[:, 0], gold[:, 1])
        candidate, relation = is_subject.nonzero(as_tuple=True)
        targets = span_targets(
            logits[0].shape, candidate, tail_span[relation, 0], tail_span[relation, 1], label[relation]
        )
        object_loss = span_loss(logits, targets, word_mask[rows], weights[6:9], width) / num_rows
        return subject_loss, object_loss

    def _fitting_prior(
        self, batch: dict[str, torch.Tensor], entity_spans: torch.Tensor, entity_scores: torch.Tensor
    ) -> torch.Tensor:
        """Early fusion's entity prior, keeping per sentence only as many of the best-scoring predicted entities as
        fit with their markers (and the subject's) into the encoder's positions; the rest become padding."""
        limit = getattr(self.config.encoder_config, "max_position_embeddings", None)
        if limit is None or entity_spans.size(1) == 0:
            return entity_spans
        room = (limit - batch["attention_mask"].sum(dim=1) - 2) // 2
        rank = entity_scores.argsort(dim=1, descending=True).argsort(dim=1)
        keep = (entity_spans[..., 0] >= 0) & (rank < room.unsqueeze(1))
        return torch.where(keep.unsqueeze(-1), entity_spans, -1)

    def decode(
        self,
        outputs: CascadeSrnOutput,
        batch: dict[str, torch.Tensor],
        threshold: float | None = None,
        relation_threshold: float | None = None,
        subject_threshold: float | None = None,
    ) -> list[JointIEPrediction]:
        """The inference cascade (Appendix B): entities from the entity module; subjects from the subject module given
        those entities; objects from the object module for the subjects that are predicted entities (the others
        could not give a relation), one by one or together in chunks of `_SUBJECT_CHUNK` (`config.subject_batching`).
        `threshold`, `subject_threshold` and `relation_threshold` override `config.entity_threshold`, `config.subject_threshold`
        and `config.relation_threshold`; `config.nested=False` keeps the best of overlapping entities and subjects."""
        config = self.config
        entity_threshold = config.entity_threshold if threshold is None else threshold
        subject_threshold = config.subject_threshold if subject_threshold is None else subject_threshold
        relation_threshold = config.relation_threshold if relation_threshold is None else relation_threshold
        width = config.max_span_width
        word_mask = batch["word_mask"].bool()
        num_rows = len(word_mask)
        logits = (outputs.entity_start_logits, outputs.entity_end_logits, outputs.entity_match_logits)
        spans = decode_spans(logits, word_mask, entity_threshold, width, flat=not config.nested)
        rows, starts, ends, types, scores = spans
        entities = {"row": rows, "start": starts, "end": ends, "type": types, "score": scores}
        _, entity_spans, entity_scores = pad_by_row(
            rows, num_rows, torch.stack([starts, ends, types], dim=-1), scores
        )
        prior = entity_spans
        if config.fusion == "early":
            prior = self._fitting_prior(batch, entity_spans, entity_scores)
        logits = self.subject_logits(batch, outputs.srn_states, prior)
        subject_rows, subject_starts, subject_ends, _, subject_scores = decode_spans(
            logits, word_mask, subject_threshold, width, flat=not config.nested
        )
        num_words = word_mask.size(1)
        heads = _entity_number(entities, num_words, subject_rows, subject_starts, subject_ends)
        keep = heads >= 0
        subject_rows, subject_starts, subject_ends = subject_rows[keep], subject_starts[keep], subject_ends[keep]
        heads, subject_scores = heads[keep], subject_scores[keep]
        relations = None
        if len(subject_rows):
            step = 1 if config.subject_batching == "one_by_one" else _SUBJECT_CHUNK
            groups = [slice(index, index + step) for index in range(0, len(subject_rows), step)]
            found = []
            for group in groups:
                logits = self.object_logits(
                    batch, outputs.srn_states, prior, subject_rows[group], subject_starts[group], subject_ends[group]
                )
                subject, *objects = decode_spans(logits, word_mask[subject_rows[group]], relation_threshold, width)
                found.append((subject + group.start, *objects))
            subject, object_starts, object_ends, labels, object_scores = (torch.cat(part) for part in zip(*found))
            row = subject_rows[subject]
            tails = _entity_number(entities, num_words, row, object_starts, object_ends)
            keep = (tails >= 0) & (heads[subject] != tails)
            relations = {
                "row": row[keep], "head": heads[subject][keep], "tail": tails[keep], "type": labels[keep],
                "score": torch.minimum(subject_scores[subject], object_scores)[keep],
            }
        return assemble_predictions(self.config, num_rows, entities, relations)


def _entity_markers(entity_spans: torch.Tensor) -> torch.Tensor:
    """`[start, end, type]` entity spans as `[start, end, marker_pair]` of [`CascadeSrnModel.insert_markers`]: pair
    `1 + type` (pair 0 is the subject's)."""
    markers = entity_spans.clone()
    markers[..., 2] = torch.where(entity_spans[..., 0] >= 0, entity_spans[..., 2] + 1, -1)
    return markers


def _entity_number(
    entities: dict[str, torch.Tensor], num_words: int, rows: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor
) -> torch.Tensor:
    """Number (within its row) of the best-scoring predicted entity with span `[starts, ends)` in sentence `rows`;
    `-1` when no predicted entity has that span. `entities` are the flat, row-sorted predictions (`row`, `start`,
    `end`, `score`). Spans are looked up by key in the sorted entity keys, so memory grows with entities plus queries:
    comparing every query with every entity of its sentence needed 2.2 TB when a calibration threshold of 0 made most
    spans of a SciERC batch entities and objects."""
    def span_key(row: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        return (row * (num_words + 1) + start) * (num_words + 1) + end

    found = torch.full_like(starts, -1)
    if len(entities["row"]) == 0 or len(rows) == 0:
        return found
    _, _, number = rank_within_rows(entities["row"])
    keys = span_key(entities["row"], entities["start"], entities["end"])
    # per key, the best score first (ties: the lower number, as argmax would pick)
    order = torch.sort(entities["score"], descending=True, stable=True).indices
    order = order[torch.sort(keys[order], stable=True).indices]
    sorted_keys = keys[order]
    first = torch.ones_like(sorted_keys, dtype=torch.bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    unique_keys, best = sorted_keys[first], number[order][first]
    query = span_key(rows, starts, ends)
    position = torch.searchsorted(unique_keys, query).clamp(max=len(unique_keys) - 1)
    return torch.where(unique_keys[position] == query, best[position], found)


__all__ = ["CascadeSrnModel", "CascadeSrnOutput", "SelectionRecurrentNetwork"]
