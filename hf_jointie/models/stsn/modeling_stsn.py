"""STSN: span-based joint entity and relation extraction augmented with a sequence-tagging mechanism.

Paper: "Span-based joint entity and relation extraction augmented with sequence tagging mechanism" (Ji et al.,
`../shared/papers/stsn.txt`).

* Sect. 3.1, Align Module (Eq. 2): a word's embedding `e^_i` is the max-pool of its subwords' encoder states.
* Sect. 3.2.1, the encoder (Eqs. 3-4): `E^` is mapped to `H_L^0`, `H_E^0`, `H_R^0` (label, NER and RE token
  representations, all of width `d`); each of the `N` stacked attention layers computes
  `H_C = [H_E; H_R] W_C + b_C` (Eq. 3), then `H_L <- E&R-L-A(H_L, H_C, H_C)`, `H_E <- L-E-A(H_E, H_L, H_L)`,
  `H_R <- L-R-A(H_R, H_L, H_L)` with the updated `H_L` (Eq. 4).
* Sect. 3.2.2, the attention units: multi-head attention with `h` heads (Eqs. 5-6) and a position-wise ReLU FFN of
  inner width `d` (Eq. 7), each sub-layer with a residual connection followed by layer normalisation.
* Sect. 3.3.1, the sequence-tagging decoder: `softmax(H_L^N W_L + b_L)` over the BIO label space (Eq. 8), trained
  with the cross-entropy `L_L` averaged over all words of the batch (Eq. 9). Targets are built from `entity_labels`
  on tensors with the extended BIO scheme of Sect. 4.1.2 ([`bio_tag_targets`]).
* Sect. 3.3.2, span-based NER: every span of at most `epsilon` words is `E_s = [H_E,i; H_E,i+j; W_{j+1}]` (Eq. 11),
  classified by one linear layer + softmax over the entity types and NoneEntity (Eq. 12), loss `L_E` the
  cross-entropy averaged over span instances (Eq. 13). Decoding keeps every span whose argmax is not NoneEntity
  (the entity set `S_e`); no overlap filtering, so the two-fold overlapping entities of ADE can be predicted.
* Sect. 3.3.3, span-based RE: for ordered pairs of distinct entities `E_r = [E_e1; E_e2; C_r]` (Eq. 15), `E_e` from
  Eq. 11 on `H_R^N`, `C_r` the max-pool of `H_R^N` over the words between the two entities; one linear layer +
  sigmoid (Eq. 16), a type is predicted when its score is >= `alpha`; loss `L_R` the binary cross-entropy (Eq. 17).
* Sect. 3.3.4: `L = L_L + L_E + L_R` (Eq. 18).
* Sect. 4.1.4: negative sampling, 100 negative spans and 100 negative entity pairs per sentence in training.
* Sect. 4.4.2, ablations: `use_tagging=False, use_stacked_attention=False` is "w/o Label"; `interaction` selects
  the keys/values of E&R-L-A for "w/o Bi-Interaction†/‡" and "w/o Interaction".

Choices where the paper is vague, and why:

* "E^ is mapped to H_L^0, H_E^0 and H_R^0": three separate linear maps `d -> d`.
* Each layer has its own `W_C` (Eq. 4 writes `W_C^0` for the first layer).
* The last word's subwords end before the final subword of the sequence (the trailing [SEP] / </s>); the Align
  Module cannot see the tokenizer's word ids, only `word_index` (first subwords).
* Negative sampling follows SpERT, which the paper follows ([8]): positives are the gold spans (width <= epsilon)
  and the ordered pairs of gold entities holding a relation; negatives are drawn uniformly (with `torch`, on the
  batch tensors) from the other candidate spans and from the unrelated ordered pairs of *gold* entities; RE is trained
  on gold entities and applied to the decoded ones. Out of training (evaluation loss) every candidate is used.
* Eq. 17 averages over the `M_R` entity-pair instances a binary cross-entropy of the relation-type vectors
  `y_r^i`; STSN builds on SpERT [8] (its relation context and negative sampling "follow" it), whose loss averages
  the binary cross-entropy over relation types too, so `L_R` is the mean over instances and types. (Summing over types instead weighs `L_R` `|R|` times more
  against `L_L` and `L_E`: 5x on CoNLL04, 1x on ADE.)
* A gold entity longer than `epsilon` is not an NER target (it cannot be a candidate span); as an RE argument in
  training its width embedding is the one of width `epsilon`.
* Extended BIO (Sect. 4.1.2): entities are ordered by Definition 2 (earlier head first, longer first on a tie) and
  each is tagged in the first layer it does not overlap; the second layer's tags are appended after "/". A word only
  the second entity covers (crossing overlaps) has no label to append to and takes the second entity's tag alone. A
  third entity on an already doubly-tagged word is not tagged (the paper handles two-fold overlaps only). Tags are
  per word (the Align Module's units).
* Dropout (`config.dropout`) on the aligned embeddings, inside the attention units and before each linear decoder.
* Scores: an entity's score is the softmax probability of its type; a relation's is its sigmoid probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...modeling_utils import (
    JointIEPreTrainedModel,
    assemble_predictions,
    best_of_overlapping,
    gather_words,
    pad_by_row,
)
from ...outputs import JointIEOutput, JointIEPrediction
from .configuration_stsn import StsnConfig


@dataclass
class StsnOutput(JointIEOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): `L_L + L_E + L_R` (Eq. 18; without `L_L` when `use_tagging=False`).
    tag_loss, entity_loss, relation_loss (`torch.FloatTensor`, *optional*): `L_L` (Eq. 9), `L_E` (Eq. 13), `L_R`
        (Eq. 17).
    tag_logits (`batch x words x num_tags`, *optional*): sequence-tagging logits (Eq. 8), when `use_tagging`.
    span_logits (`batch x words x widths x (1 + entity_types)`): span-NER logits (Eq. 12) of the span starting at
        word `i` with `j + 1` words, index 0 being NoneEntity.
    span_mask (`batch x words x widths`): which of those spans lie inside the sentence.
    relation_hidden_states (`batch x words x hidden`): `H_R^N`, reused by `decode` for span-based RE.
    """

    tag_loss: torch.FloatTensor | None = None
    entity_loss: torch.FloatTensor | None = None
    relation_loss: torch.FloatTensor | None = None
    tag_logits: torch.FloatTensor | None = None
    span_logits: torch.FloatTensor | None = None
    span_mask: torch.BoolTensor | None = None
    relation_hidden_states: torch.FloatTensor | None = None

#: Entity pairs scored at once in `decode` (an untrained model may decode very many entities).
_PAIR_CHUNK = 4096


def bio_tag_targets(entity_labels: torch.Tensor, num_words: int, num_types: int, extended: bool) -> torch.Tensor:
    """Word-level BIO targets (`batch x words`) of gold `entity_labels` (`batch x entities x 3`, -1 padding).

    Plain tags are `0` for O, `1 + 2t` for B-t and `2 + 2t` for I-t. With `extended` (Sect. 4.1.2) the label of a word
    is `primary * (2T + 1) + secondary`, where the primary tag comes from the preceding entity (Definition 2) and the
    secondary one ("/"-appended) from the entity overlapping it; without overlap the secondary tag is O, so the ids of
    plain BIO labels are `primary * (2T + 1)`. Without `extended` only the preceding entity is tagged.
    """
    start, end, label = entity_labels.unbind(-1)
    valid = start >= 0
    # Definition 2: earlier head first, longer entity first on a tie; padding last
    key = torch.where(valid, start * (num_words + 1) + num_words - (end - start), (num_words + 1) ** 2)
    order = key.argsort(dim=1, stable=True)
    start, end, label, valid = (t.gather(1, order) for t in (start, end, label, valid))
    words = torch.arange(num_words, device=entity_labels.device)
    inside = valid[..., None] & (words >= start[..., None]) & (words < end[..., None])  # batch x entities x words
    tags = torch.where(words == start[..., None], 1 + 2 * label[..., None], 2 + 2 * label[..., None])
    first = torch.zeros_like(inside[:, 0])
    second = torch.zeros_like(inside[:, 0])
    layers = torch.zeros_like(start)
    for k in range(inside.size(1)):  # greedy over entity slots (few), batched over sentences
        span = inside[:, k]
        to_first = ~(span & first).any(-1)
        to_second = ~to_first & ~(span & second).any(-1) & extended
        first |= span & to_first[:, None]
        second |= span & to_second[:, None]
        layers[:, k] = torch.where(to_first, 1, torch.where(to_second, 2, 0))
    primary = (tags * (inside & (layers == 1)[..., None])).sum(1)
    if not extended:
        return primary
    secondary = (tags * (inside & (layers == 2)[..., None])).sum(1)
    alone = primary == 0  # covered only by the overlapping entity: nothing to append to
    primary, secondary = torch.where(alone, secondary, primary), torch.where(alone, 0, secondary)
    return primary * (2 * num_types + 1) + secondary


def sample_negatives(candidates: torch.Tensor, count: int) -> torch.Tensor:
    """A uniformly random subset of at most `count` True entries per row of `candidates` (`batch x ...`)."""
    flat = candidates.flatten(1)
    chosen = torch.zeros_like(flat)
    if count > 0 and flat.size(1) > 0:
        scores = torch.rand(flat.shape, device=flat.device).masked_fill(~flat, -1.0)
        top = scores.topk(min(count, flat.size(1)), dim=1)
        chosen.scatter_(1, top.indices, top.values >= 0)
    return chosen.view_as(candidates)


def _max_pool_tables(states: torch.Tensor) -> torch.Tensor:
    """Sparse table of `states` (`batch x words x hidden`): level `k` holds at word `i` the max over words
    `[i, i + 2^k)` (clipped at the sentence end). Shape `levels x batch x words x hidden`."""
    tables = [states]
    while (1 << len(tables)) <= states.size(1):
        step = 1 << (len(tables) - 1)
        previous = tables[-1]
        tables.append(torch.maximum(previous, F.pad(previous[:, step:], (0, 0, 0, step), value=float("-inf"))))
    return torch.stack(tables)


class StsnAttentionUnit(nn.Module):
    """The common architecture of E&R-L-A, L-E-A and L-R-A (Sect. 3.2.2, Fig. 3): multi-head attention (Eqs. 5-6)
    and a position-wise FFN (Eq. 7), each with a residual connection followed by layer normalisation."""

    def __init__(self, hidden: int, heads: int, ffn_size: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.attention_norm = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn_size), nn.ReLU(), nn.Linear(ffn_size, hidden))
        self.ffn_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(query, memory, memory, key_padding_mask=padding, need_weights=False)
        hidden = self.attention_norm(query + self.dropout(attended))
        return self.ffn_norm(hidden + self.dropout(self.ffn(hidden)))


class StsnAttentionLayer(nn.Module):
    """One stacked attention layer (Eq. 4): E&R-L-A updates the label representations, then L-E-A and L-R-A let the
    NER and RE token representations attend to them."""

    def __init__(self, config: StsnConfig):
        super().__init__()
        hidden = config.encoder_hidden_size
        args = (hidden, config.num_heads, config.ffn_size or hidden, config.dropout)
        self.interaction = config.interaction
        self.combine = nn.Linear(2 * hidden, hidden) if config.interaction == "bidirectional" else None  # Eq. 3
        self.label_attention = StsnAttentionUnit(*args)  # E&R-L-A
        self.entity_attention = StsnAttentionUnit(*args)  # L-E-A
        self.relation_attention = StsnAttentionUnit(*args)  # L-R-A

    def forward(
        self, labels: torch.Tensor, entities: torch.Tensor, relations: torch.Tensor, padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.combine is not None:
            memory = self.combine(torch.cat([entities, relations], dim=-1))
        else:
            memory = {"ner_to_re": entities, "re_to_ner": relations, "none": labels}[self.interaction]
        labels = self.label_attention(labels, memory, padding)
        entities = self.entity_attention(entities, labels, padding)
        relations = self.relation_attention(relations, labels, padding)
        return labels, entities, relations


class StsnModel(JointIEPreTrainedModel):
    """STSN on any `transformers` encoder. See the module docstring for the paper's sections each part follows."""

    config_class = StsnConfig

    def __init__(self, config: StsnConfig):
        super().__init__(config)
        hidden = config.encoder_hidden_size
        self.dropout = nn.Dropout(config.dropout)
        needs_labels = config.use_tagging or config.use_stacked_attention
        self.label_map = nn.Linear(hidden, hidden) if needs_labels else None
        self.entity_map = nn.Linear(hidden, hidden)
        self.relation_map = nn.Linear(hidden, hidden)
        layers = config.num_attention_layers if config.use_stacked_attention else 0
        self.layers = nn.ModuleList(StsnAttentionLayer(config) for _ in range(layers))
        self.tag_classifier = nn.Linear(hidden, config.num_tags) if config.use_tagging else None
        self.width_embedding = nn.Embedding(config.max_span_width, config.width_embedding_size)
        span_size = 2 * hidden + config.width_embedding_size
        self.span_classifier = nn.Linear(span_size, config.num_entity_types + 1)
        self.relation_classifier = nn.Linear(2 * span_size + hidden, config.num_relation_types)
        self.post_init()

    def aligned_word_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_index: torch.Tensor, word_mask: torch.Tensor
    ) -> torch.Tensor:
        """The Align Module (Eq. 2): max-pool of every word's subword states, `batch x words x hidden`."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        batch, length, size = hidden.shape
        num_words = word_index.size(1)
        first = gather_words(hidden, word_index)
        starts = word_index.masked_fill(~word_mask, length).contiguous()
        positions = torch.arange(length, device=hidden.device).expand(batch, length).contiguous()
        owner = torch.searchsorted(starts, positions, right=True) - 1
        last = attention_mask.sum(dim=1, keepdim=True) - 1  # the trailing special token ([SEP], </s>)
        owner = torch.where((owner >= 0) & (positions < last), owner, num_words)  # others go to a spare slot
        pooled = torch.cat([first, first.new_zeros(batch, 1, size)], dim=1).scatter_reduce(
            1, owner.unsqueeze(-1).expand(-1, -1, size), hidden, reduce="amax", include_self=True
        )
        return pooled[:, :num_words]

    def _width_embedding(self, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """`W_{j+1}` of spans `[starts, ends)` (widths beyond `epsilon` share the last embedding)."""
        return self.width_embedding((ends - starts).clamp(1, self.config.max_span_width) - 1)

    def _span_logits(self, states: torch.Tensor, word_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. 10-12 for every span of at most `epsilon` words: `batch x words x widths x (1 + types)`."""
        batch, num_words, _ = states.shape
        widths = min(self.config.max_span_width, num_words)
        starts = torch.arange(num_words, device=states.device).unsqueeze(1)
        ends = starts + torch.arange(widths, device=states.device)  # inclusive
        span_mask = ends.unsqueeze(0) < word_mask.sum(dim=1).view(-1, 1, 1)
        heads = states.unsqueeze(2).expand(-1, -1, widths, -1)
        tails = states[:, ends.clamp(max=num_words - 1)]
        width = self._width_embedding(starts, ends + 1).expand(batch, -1, -1, -1)
        spans = torch.cat([heads, tails, width], dim=-1)
        return self.span_classifier(self.dropout(spans)), span_mask

    def relation_logits(
        self,
        states: torch.Tensor,
        rows: torch.Tensor,
        head_start: torch.Tensor,
        head_end: torch.Tensor,
        tail_start: torch.Tensor,
        tail_end: torch.Tensor,
    ) -> torch.Tensor:
        """Eqs. 15-16 for a flat list of ordered entity pairs (`[start, end)` in words of sentence `rows`):
        `pairs x relation_types` logits, from `H_R^N` (`states`)."""

        def entity(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:  # Eq. 11 on H_R^N
            return torch.cat([states[rows, start], states[rows, end - 1], self._width_embedding(start, end)], dim=-1)

        # C_r: max-pool over the words between the arguments [low, high), as the max of two overlapping power-of-two
        # windows of a sparse table (no pairs x words x hidden tensor); zero when the arguments are adjacent
        low, high = torch.minimum(head_end, tail_end), torch.maximum(head_start, tail_start)
        tables = _max_pool_tables(states)
        size = (high - low).clamp(min=1)
        level = torch.log2(size.float()).floor().long().clamp(max=len(tables) - 1)
        last = states.size(1) - 1
        left = tables[level, rows, low.clamp(max=last)]
        right = tables[level, rows, (high - 2**level).clamp(0, last)]
        context = torch.maximum(left, right)
        context = torch.where((high > low).unsqueeze(-1), context, torch.zeros_like(context))
        pairs = torch.cat([entity(head_start, head_end), entity(tail_start, tail_end), context], dim=-1)
        return self.relation_classifier(self.dropout(pairs))

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
    ) -> StsnOutput:
        r"""
        entity_labels (`batch x entities x 3`, *optional*): gold `[start, end, type]` (see `encode_labels`).
        relation_labels (`batch x relations x 3`, *optional*): gold `[head, tail, type]`.
        entity_fragments: accepted for the shared batch format; STSN models continuous spans.
        """
        word_mask = word_mask.bool()
        embeddings = self.dropout(self.aligned_word_states(input_ids, attention_mask, word_index, word_mask))
        entities, relations = self.entity_map(embeddings), self.relation_map(embeddings)
        labels = self.label_map(embeddings) if self.label_map is not None else None
        for layer in self.layers:
            labels, entities, relations = layer(labels, entities, relations, ~word_mask)
        tag_logits = self.tag_classifier(self.dropout(labels)) if self.tag_classifier is not None else None
        span_logits, span_mask = self._span_logits(entities, word_mask)
        output = StsnOutput(
            tag_logits=tag_logits, span_logits=span_logits, span_mask=span_mask, relation_hidden_states=relations
        )
        if entity_labels is None:
            return output
        output.entity_loss = self._entity_loss(span_logits, span_mask, entity_labels)
        output.relation_loss = self._relation_loss(relations, entity_labels, relation_labels)
        output.loss = output.entity_loss + output.relation_loss
        if tag_logits is not None:
            output.tag_loss = self._tag_loss(tag_logits, word_mask, entity_labels)
            output.loss = output.tag_loss + output.loss
        return output

    def _tag_loss(self, tag_logits: torch.Tensor, word_mask: torch.Tensor, entity_labels: torch.Tensor) -> torch.Tensor:
        """Eq. 9: cross-entropy over every word of the batch."""
        config = self.config
        targets = bio_tag_targets(entity_labels, word_mask.size(1), config.num_entity_types, config.extended_bio)
        return F.cross_entropy(tag_logits[word_mask], targets[word_mask])

    def _entity_loss(
        self, span_logits: torch.Tensor, span_mask: torch.Tensor, entity_labels: torch.Tensor
    ) -> torch.Tensor:
        """Eq. 13 over the gold spans and (in training) `num_negative_entities` sampled NoneEntity spans per
        sentence; out of training over every candidate span."""
        targets = torch.zeros(span_mask.shape, dtype=torch.long, device=span_logits.device)
        start, end, label = entity_labels.unbind(-1)
        width = end - start - 1
        valid = (start >= 0) & (width < span_mask.size(2))
        rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(valid)
        targets[rows[valid], start[valid], width[valid]] = label[valid] + 1
        positive = targets > 0
        negative = span_mask & ~positive
        if self.training:
            negative = sample_negatives(negative, self.config.num_negative_entities)
        selected = positive | negative
        return F.cross_entropy(span_logits[selected], targets[selected])

    def _relation_loss(
        self, states: torch.Tensor, entity_labels: torch.Tensor, relation_labels: torch.Tensor | None
    ) -> torch.Tensor:
        """Eq. 17 over the related ordered pairs of gold entities and (in training) `num_negative_relations` sampled
        unrelated ones per sentence; out of training over every ordered pair of distinct gold entities."""
        start, end, _ = entity_labels.unbind(-1)
        exists = start >= 0
        num_entities = entity_labels.size(1)
        targets = states.new_zeros(len(states), num_entities, num_entities, self.config.num_relation_types)
        if relation_labels is not None:
            head, tail, label = relation_labels.unbind(-1)
            valid = head >= 0
            rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(valid)
            targets[rows[valid], head[valid], tail[valid], label[valid]] = 1.0
        pairs = exists.unsqueeze(2) & exists.unsqueeze(1)
        pairs &= ~torch.eye(num_entities, dtype=torch.bool, device=pairs.device)
        positive = pairs & targets.bool().any(-1)
        negative = pairs & ~positive
        if self.training:
            negative = sample_negatives(negative, self.config.num_negative_relations)
        rows, heads, tails = (positive | negative).nonzero(as_tuple=True)
        if rows.numel() == 0:
            return states.sum() * 0.0
        arguments = (start[rows, heads], end[rows, heads], start[rows, tails], end[rows, tails])
        logits = self.relation_logits(states, rows, *arguments)
        losses = F.binary_cross_entropy_with_logits(logits, targets[rows, heads, tails], reduction="none")
        return losses.mean()

    def decode(
        self,
        outputs: StsnOutput,
        batch: dict[str, torch.Tensor],
        threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> list[JointIEPrediction]:
        """Entities: every candidate span whose argmax type is not NoneEntity (Sect. 3.3.2; `threshold`, when given,
        also requires that type's probability to reach it; `config.nested=False` then keeps the best of overlapping
        entities, an option the paper does not have). Relations: every ordered pair of distinct decoded entities
        and every type whose sigmoid score is >= `relation_threshold` (default `config.relation_threshold`, the
        paper's alpha). Batched on tensors."""
        relation_threshold = self.config.relation_threshold if relation_threshold is None else relation_threshold
        num_rows = len(outputs.span_logits)
        scores, labels = torch.softmax(outputs.span_logits, dim=-1).max(dim=-1)
        keep = (labels > 0) & outputs.span_mask
        if threshold is not None:
            keep &= scores >= threshold
        rows, starts, widths = keep.nonzero(as_tuple=True)
        ends, types, scores = starts + widths + 1, labels[rows, starts, widths] - 1, scores[rows, starts, widths]
        if not self.config.nested:
            kept = best_of_overlapping(rows, starts, ends, scores)
            rows, starts, ends, types, scores = (t[kept] for t in (rows, starts, ends, types, scores))
        entities = {"row": rows, "start": starts, "end": ends, "type": types, "score": scores}
        exists, entity_start, entity_end = pad_by_row(rows, num_rows, starts, ends)
        pairs = exists.unsqueeze(2) & exists.unsqueeze(1)
        pairs &= ~torch.eye(pairs.size(1), dtype=torch.bool, device=pairs.device)
        pair_rows, heads, tails = pairs.nonzero(as_tuple=True)
        states = outputs.relation_hidden_states
        probs = states.new_zeros(len(pair_rows), self.config.num_relation_types)
        for chunk in torch.arange(len(pair_rows), device=states.device).split(_PAIR_CHUNK):  # bounded memory
            r, h, t = pair_rows[chunk], heads[chunk], tails[chunk]
            arguments = (entity_start[r, h], entity_end[r, h], entity_start[r, t], entity_end[r, t])
            probs[chunk] = torch.sigmoid(self.relation_logits(states, r, *arguments))
        index, types = (probs >= relation_threshold).nonzero(as_tuple=True)
        relations = {
            "row": pair_rows[index], "head": heads[index], "tail": tails[index], "type": types,
            "score": probs[index, types],
        }
        return assemble_predictions(self.config, num_rows, entities, relations)


__all__ = ["StsnModel", "StsnOutput", "bio_tag_targets", "sample_negatives"]
