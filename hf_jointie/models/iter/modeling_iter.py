"""ITER: non-autoregressive joint entity and relation extraction with three per-token decisions.

Paper: "ITER: Iterative Transformer-based Entity Recognition and Relation Extraction" (`../shared/papers/iter.txt`).

* Sect. 3.1.1, `is_left` (Eq. 7): a scalar logit per word; a left bracket opens an entity at every word whose
  probability passes `left_threshold`. Loss: Eq. 12 (LSE([h, 0]) - LSE over the correct action), i.e. binary
  cross-entropy with logits.
* Sect. 3.1.2, `is_span` (Eq. 8): for every left bracket m and every later word n, one logit per entity type; the pair
  (m, n) is an entity of type t when that type wins against the implicit "no span" logit fixed at 0. Loss: Eq. 13, the
  log-sum-exp over all types and the null logit minus the log-sum-exp over the gold types of the pair (all gold types
  count, so a span may carry several types).
* Sect. 3.2, `is_link` (Eq. 10, the nested signature): one sigmoid logit per relation type for an ordered pair of
  entities, each entity identified by its left *and* right bracket, so nested entities sharing an end word stay
  distinct. Loss: Eq. 14, binary cross-entropy over relation types.
* Sect. 3.3: the three losses are summed (Eq. "L_ITER") and trained jointly.

Choices where the paper is silent, and why:

* The heads read word representations (each word's first subword) rather than subwords, so predictions live in the
  data's word offsets; with a T5 backbone a word and its first SentencePiece piece coincide for most words.
* `is_span` is computed in training for every gold left bracket *and* every word `is_left` currently predicts as one,
  so the model learns to reject the spurious brackets it will meet at inference (the paper trains the stages
  "simultaneously to circumvent error propagation" but does not say which brackets feed stage two).
* `is_span(m, n) = W_o act(W_l h_m + W_r h_n)` and `is_link` reads `[h_start; h_end]` of both entities through
  separate head and tail projections, summed and activated (the paper specifies signatures, not layers).
* `is_link` is trained on the gold entities (teacher forcing) and applied to the decoded entities at inference.
* An entity's score is the `is_span` probability of its type (softmax over the types and the null logit); a
  relation's score is its sigmoid probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...modeling_utils import JointIEPreTrainedModel, assemble_predictions, best_of_overlapping, pad_by_row
from ...outputs import JointIEOutput, JointIEPrediction
from .configuration_iter import IterConfig

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass
class IterOutput(JointIEOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): the sum of the three losses, averaged over the batch.
    left_loss, span_loss, link_loss (`torch.FloatTensor`, *optional*): the three terms of `loss`.
    left_logits (`batch x words`): `is_left` logits.
    span_starts (`batch x brackets`): word index of every left bracket `is_span` was evaluated for (`-1` padding).
    span_logits (`batch x brackets x widths x entity_types`): `is_span` logits for the span starting at
        `span_starts[b, k]` and ending (inclusively) at word `span_starts[b, k] + w`.
    span_mask (`batch x brackets x widths`): which of those spans exist.
    word_hidden_states (`batch x words x hidden`): the word representations, reused by `decode` for `is_link`.
    """

    left_loss: torch.FloatTensor | None = None
    span_loss: torch.FloatTensor | None = None
    link_loss: torch.FloatTensor | None = None
    left_logits: torch.FloatTensor | None = None
    span_starts: torch.LongTensor | None = None
    span_logits: torch.FloatTensor | None = None
    span_mask: torch.BoolTensor | None = None
    word_hidden_states: torch.FloatTensor | None = None


class IterModel(JointIEPreTrainedModel):
    """ITER on any `transformers` encoder. See the module docstring for the paper's sections each part follows."""

    config_class = IterConfig

    def __init__(self, config: IterConfig):
        super().__init__(config)
        hidden, size = config.encoder_hidden_size, config.head_size or config.encoder_hidden_size
        activation = _ACTIVATIONS[config.activation]
        self.dropout = nn.Dropout(config.dropout)
        self.is_left = nn.Sequential(nn.Linear(hidden, size), activation(), nn.Linear(size, 1))
        self.span_left = nn.Linear(hidden, size)
        self.span_right = nn.Linear(hidden, size, bias=False)
        self.span_out = nn.Sequential(activation(), nn.Linear(size, config.num_entity_types))
        self.link_head = nn.Linear(2 * hidden, size)
        self.link_tail = nn.Linear(2 * hidden, size, bias=False)
        self.link_out = nn.Sequential(activation(), nn.Linear(size, max(config.num_relation_types, 1)))
        self.post_init()

    def _span_candidates(
        self, left_logits: torch.Tensor, word_mask: torch.Tensor, entity_labels: torch.Tensor | None, threshold: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left brackets fed to `is_span`: predicted ones, plus the gold ones in training. Returns `(mask, starts)`."""
        candidates = torch.sigmoid(left_logits.detach()) > threshold
        if entity_labels is not None:
            valid = entity_labels[..., 0] >= 0
            rows = torch.arange(len(entity_labels), device=left_logits.device).unsqueeze(1).expand_as(valid)
            candidates[rows[valid], entity_labels[..., 0][valid]] = True
        rows, columns = (candidates & word_mask).nonzero(as_tuple=True)
        mask, starts = pad_by_row(rows, len(word_mask), columns)
        return mask, starts

    def _span_logits(
        self, hidden: torch.Tensor, word_mask: torch.Tensor, starts: torch.Tensor, start_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`is_span` logits for every (left bracket, later word) pair: `batch x brackets x widths x types`.

        The head runs only on the pairs that exist (inside the sentence, within `max_span_width`), gathered flat, so
        padding words, padding brackets and the words before a bracket cost nothing; the dense result is filled in.
        """
        lengths = word_mask.sum(dim=1)
        room = (lengths.unsqueeze(1) - starts).masked_fill(~start_mask, 0)
        widths = min(int(room.max()) if room.numel() else 0, self.config.max_span_width or hidden.size(1))
        offsets = torch.arange(widths, device=hidden.device)
        span_mask = start_mask.unsqueeze(-1) & (offsets < room.unsqueeze(-1))
        rows, slots, width = span_mask.nonzero(as_tuple=True)
        bracket = starts[rows, slots]
        pairs = self.span_left(hidden)[rows, bracket] + self.span_right(hidden)[rows, bracket + width]
        logits = hidden.new_zeros(*span_mask.shape, self.config.num_entity_types)
        logits[rows, slots, width] = self.span_out(pairs).to(logits.dtype)
        return logits, span_mask

    def link_logits(
        self, hidden: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, exists: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`is_link` logits for every ordered pair of distinct entities `[starts, ends)` (where `exists`):
        `batch x entities x entities x relation_types`, and the mask of the pairs that exist. As in `_span_logits`,
        the head runs only on the existing pairs."""
        pairs = exists.unsqueeze(2) & exists.unsqueeze(1)
        pairs &= ~torch.eye(pairs.size(1), dtype=torch.bool, device=pairs.device)
        batch = torch.arange(len(hidden), device=hidden.device).unsqueeze(1)
        spans = torch.cat([hidden[batch, starts.clamp(min=0)], hidden[batch, (ends - 1).clamp(min=0)]], dim=-1)
        rows, heads, tails = pairs.nonzero(as_tuple=True)
        scores = self.link_out(self.link_head(spans)[rows, heads] + self.link_tail(spans)[rows, tails])
        logits = hidden.new_zeros(*pairs.shape, scores.size(-1))
        logits[rows, heads, tails] = scores.to(logits.dtype)
        return logits, pairs

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        entity_labels: torch.Tensor | None = None,
        relation_labels: torch.Tensor | None = None,
        entity_fragments: torch.Tensor | None = None,
    ) -> IterOutput:
        r"""
        entity_labels (`batch x entities x 3`, *optional*): gold `[start, end, type]` (see `encode_labels`).
        relation_labels (`batch x relations x 3`, *optional*): gold `[head, tail, type]`.
        entity_fragments: accepted for the shared batch format; ITER models continuous (possibly nested) spans.
        """
        word_mask = word_mask.bool()
        hidden = self.dropout(self.word_states(input_ids, attention_mask, word_index))
        left_logits = self.is_left(hidden).squeeze(-1)
        start_mask, starts = self._span_candidates(
            left_logits, word_mask, entity_labels, self.config.left_threshold
        )
        span_logits, span_mask = self._span_logits(hidden, word_mask, starts, start_mask)
        output = IterOutput(
            left_logits=left_logits,
            span_starts=starts,
            span_logits=span_logits,
            span_mask=span_mask,
            word_hidden_states=hidden,
        )
        if entity_labels is None:
            return output
        output.left_loss = self._left_loss(left_logits, word_mask, entity_labels)
        output.span_loss = self._span_loss(span_logits, span_mask, starts, entity_labels)
        output.link_loss = self._link_loss(hidden, entity_labels, relation_labels)
        output.loss = output.left_loss + output.span_loss + output.link_loss
        return output

    @staticmethod
    def _left_loss(left_logits: torch.Tensor, word_mask: torch.Tensor, entity_labels: torch.Tensor) -> torch.Tensor:
        """Eq. 12, summed over words and averaged over sentences."""
        targets = torch.zeros_like(left_logits)
        valid = entity_labels[..., 0] >= 0
        rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(valid)
        targets[rows[valid], entity_labels[..., 0][valid]] = 1.0
        losses = F.binary_cross_entropy_with_logits(left_logits, targets, reduction="none")
        return (losses * word_mask).sum() / len(targets)

    def _span_loss(
        self, span_logits: torch.Tensor, span_mask: torch.Tensor, starts: torch.Tensor, entity_labels: torch.Tensor
    ) -> torch.Tensor:
        """Eq. 13 over every evaluated (left bracket, word) pair, summed and averaged over sentences."""
        if starts.size(1) == 0:  # no gold entity and no predicted bracket in the batch: nothing to score
            return span_logits.sum()
        targets = torch.zeros_like(span_logits, dtype=torch.bool)
        gold_start, gold_end, gold_type = entity_labels.unbind(-1)
        width = gold_end - gold_start - 1
        # the bracket slot k holding each gold entity's start (gold starts are always among the candidates)
        slot = (starts.unsqueeze(2) == gold_start.unsqueeze(1)).float().argmax(dim=1)
        valid = (gold_start >= 0) & (width < span_logits.size(2))
        rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(valid)
        targets[rows[valid], slot[valid], width[valid], gold_type[valid]] = True
        null = span_logits.new_zeros(span_logits.shape[:-1] + (1,))
        everything = torch.logsumexp(torch.cat([span_logits, null], dim=-1), dim=-1)
        gold = torch.logsumexp(span_logits.masked_fill(~targets, float("-inf")), dim=-1)
        losses = everything - torch.where(targets.any(-1), gold, torch.zeros_like(gold))
        return losses.masked_fill(~span_mask, 0.0).sum() / len(targets)

    def _link_loss(
        self, hidden: torch.Tensor, entity_labels: torch.Tensor, relation_labels: torch.Tensor | None
    ) -> torch.Tensor:
        """Eq. 14 over every ordered pair of distinct gold entities, summed and averaged over sentences."""
        if self.config.num_relation_types == 0:
            return hidden.new_zeros(())
        exists = entity_labels[..., 0] >= 0
        logits, pairs = self.link_logits(hidden, entity_labels[..., 0], entity_labels[..., 1], exists)
        targets = torch.zeros_like(logits)
        if relation_labels is not None:
            head, tail, label = relation_labels.unbind(-1)
            valid = head >= 0
            rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(valid)
            targets[rows[valid], head[valid], tail[valid], label[valid]] = 1.0
        losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
        return (losses * pairs).sum() / len(targets)

    def decode(
        self,
        outputs: IterOutput,
        batch: dict[str, torch.Tensor],
        threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> list[JointIEPrediction]:
        """Entities from `is_span` over the predicted left brackets, then relations from `is_link` over every ordered
        pair of decoded entities; all on batched tensors. `threshold` / `relation_threshold` override the config's
        `span_threshold` / `relation_threshold`."""
        threshold = self.config.span_threshold if threshold is None else threshold
        relation_threshold = self.config.relation_threshold if relation_threshold is None else relation_threshold
        num_rows = len(outputs.span_logits)
        # brackets evaluated in training also include gold ones: keep only those is_left predicts
        left_prob = torch.sigmoid(outputs.left_logits)
        starts = outputs.span_starts
        is_left = (starts >= 0) & (left_prob.gather(1, starts.clamp(min=0)) > self.config.left_threshold)
        null = outputs.span_logits.new_zeros(outputs.span_logits.shape[:-1] + (1,))
        probs = torch.softmax(torch.cat([outputs.span_logits, null], dim=-1), dim=-1)[..., :-1]
        selected = (probs > threshold) & (outputs.span_mask & is_left.unsqueeze(-1)).unsqueeze(-1)
        rows, slots, widths, labels = selected.nonzero(as_tuple=True)
        entity_start = starts[rows, slots]
        entity_end = entity_start + widths + 1
        scores = probs[rows, slots, widths, labels]
        if not self.config.nested:
            keep = best_of_overlapping(rows, entity_start, entity_end, scores)
            rows, entity_start, entity_end, labels, scores = (
                t[keep] for t in (rows, entity_start, entity_end, labels, scores)
            )
        entities = {"row": rows, "start": entity_start, "end": entity_end, "type": labels, "score": scores}
        if self.config.num_relation_types == 0:
            return assemble_predictions(self.config, num_rows, entities)
        exists, start, end = pad_by_row(rows, num_rows, entity_start, entity_end)
        link_logits, pairs = self.link_logits(outputs.word_hidden_states, start, end, exists)
        link_probs = torch.sigmoid(link_logits)
        rel_rows, heads, tails, rel_labels = ((link_probs > relation_threshold) & pairs.unsqueeze(-1)).nonzero(
            as_tuple=True
        )
        relations = {
            "row": rel_rows, "head": heads, "tail": tails, "type": rel_labels,
            "score": link_probs[rel_rows, heads, tails, rel_labels],
        }
        return assemble_predictions(self.config, num_rows, entities, relations)


__all__ = ["IterModel", "IterOutput"]
