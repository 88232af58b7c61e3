"""ITER: non-autoregressive joint entity and relation extraction with three per-token decisions, the same network as
the authors' `iter` package, so their released checkpoints load as they are (see `configuration_iter.py`).

Paper: "ITER: Iterative Transformer-based Entity Recognition and Relation Extraction" (`../shared/papers/iter.txt`);
code facts from upstream `iter/modeling_iter2.py` (commit 39b95b72b7414a58d6762363f0fe115452317db8), read, not copied.

* Heads (Sect. 3.1, 3.2): `is_l`, `lr_score`, `rr_score`, each a bias-free gated feed-forward block
  `wo(dropout(act(gate(x)) * wi(x)))` of inner width `d_ff` (doubled for the two pair heads when `use_scale`).
* Positions: a left bracket sits on the first subword of an entity's start word (`word_index`), a right bracket on
  the last subword of its end word (`word_end_index`); the heads read those hidden states, so predictions live on
  word boundaries (the authors' code may also bracket a special token or a word's inner subword: spans that do not
  start and end on word boundaries have no characters in the text, so they are not candidates here).
* `is_l` (Eq. 7): a word opens a left bracket where its logit is > 0; loss Eq. 12 over every word.
* `lr_score` (Eq. 8): every word `n` pairs with its closest preceding (or own) left bracket (flat) or its
  `max_nest_depth` closest ones (nested), reading `[h_first(left); h_last(n)]`. Flat: the span exists where the
  log-sum-exp of its type logits beats the implicit "no span" logit 0 (Eq. 13), with the argmax type; score
  `sigmoid(LSE)`. Nested: the span exists where the best real type beats the NONE type (the extra last row); score
  `sigmoid(best - NONE)`. Both scores pass 0.5 exactly when the authors' rule fires. Loss Eq. 13 on the gold
  brackets' candidates (teacher forcing, as their training does).
* `rr_score` (Eq. 9 / 10): an entity is represented by `h_last(end)` (flat, Eq. 9) or `h_last(end) + h_first(start)`
  (nested, Eq. 10); a link from head `a` to tail `b` reads `[rep(b); rep(a)]` (tail first, the authors' order) and
  exists where its sigmoid passes `relation_threshold`. With `inverse_relations` (their bit 18) the logits of the
  second half score `b -> a` links; when both directions fire for one link, its probability is the one the
  authors' decoding writes last (the inverse one when the tail does not precede the head, in (end, slot) order). Self
  links (head = tail) are decoded as their code decodes them. Loss Eq. 14 (binary cross-entropy, summed) with every
  word as head candidate and the gold entities as tails, as their training does.
* The losses are summed (Sect. 3.3) and divided by the batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

from ...modeling_utils import JointIEPreTrainedModel, assemble_predictions, gather_words, pairs_within_rows
from ...outputs import JointIEOutput, JointIEPrediction
from .configuration_iter import IterConfig


#: Logit of masked alternatives inside the losses: finite, so that no gradient turns into NaN.
_MASKED = -1e4


def _logit(probability: float) -> float:
    if probability <= 0.0:
        return float("-inf")
    if probability >= 1.0:
        return float("inf")
    return math.log(probability) - math.log1p(-probability)


class IterFeedForward(nn.Module):
    """The gated feed-forward head `wo(dropout(act(gate(x)) * wi(x)))` (no biases), parameter names as upstream."""

    def __init__(self, config: IterConfig, in_features: int, inner: int, out_features: int):
        super().__init__()
        self.gate = nn.Linear(in_features, inner, bias=False) if config.use_gate else None
        self.wi = nn.Linear(in_features, inner, bias=False)
        self.wo = nn.Linear(inner, out_features, bias=False)
        self.act = ACT2FN[config.activation_fn]
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.wi(x), None if self.gate is None else self.gate(x))

    def split_first_layer(
        self, left: torch.Tensor, right: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]:
        """`wi` and `gate` of an input `[left; right]` as one part per half, `(wi, gate)` each (`gate` `None` without
        a gate): `wi([l; r]) = wi_left(l) + wi_right(r)`, so a pair head can apply its first layer once per item
        rather than once per pair, and only to the items some pair uses."""
        width = left.size(-1)
        layers = (self.wi, self.gate)
        return (
            tuple(None if layer is None else left @ layer.weight[:, :width].T for layer in layers),
            tuple(None if layer is None else right @ layer.weight[:, width:].T for layer in layers),
        )

    def rest(self, wi: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
        """The block after its first layer: `wo(dropout(act(gate) * wi))`, or `wo(dropout(act(wi)))` without a gate."""
        return self.wo(self.dropout(self.act(wi) if gate is None else self.act(gate) * wi))

    def on_pairs(
        self, left: torch.Tensor, right: torch.Tensor, left_of: torch.Tensor, right_of: torch.Tensor
    ) -> torch.Tensor:
        """The block on `[left[left_of[k]]; right[right_of[k]]]` for every pair `k` (`pairs x out_features`), its first
        layer applied once per item of `left` and of `right` (`split_first_layer`), not once per pair."""
        (left_wi, left_gate), (right_wi, right_gate) = self.split_first_layer(left, right)
        gate = None if left_gate is None else left_gate[left_of] + right_gate[right_of]
        return self.rest(left_wi[left_of] + right_wi[right_of], gate)


@dataclass
class IterOutput(JointIEOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): `left_loss + span_loss + link_loss`, divided by the batch size.
    left_logits (`batch x words`): `is_l` logits.
    span_left (`batch x words x slots`): word index of the left bracket each word pairs with (`-1`: none); slots are
        ordered closest first (one slot when flat).
    span_logits (`batch x words x slots x types`): `lr_score` logits of those spans (`types` includes NONE).
    first_states, last_states (`batch x words x hidden`): each word's first / last subword state, for `rr_score`.
    """

    left_loss: torch.FloatTensor | None = None
    span_loss: torch.FloatTensor | None = None
    link_loss: torch.FloatTensor | None = None
    left_logits: torch.FloatTensor | None = None
    span_left: torch.LongTensor | None = None
    span_logits: torch.FloatTensor | None = None
    first_states: torch.FloatTensor | None = None
    last_states: torch.FloatTensor | None = None


def closest_lefts(is_left: torch.Tensor, depth: int, word_mask: torch.Tensor | None = None) -> torch.Tensor:
    """For every word, the `depth` closest left brackets at or before it, closest first: `batch x words x depth`
    word indices, `-1` where there are fewer and at the padding positions outside `word_mask` (which would otherwise
    pair with the sentence's last bracket, and cost the span head as much as real words)."""
    words = torch.arange(is_left.size(1), device=is_left.device)
    distance = words[:, None] - words[None, :]  # [n, l] = n - l
    valid = (distance >= 0) & is_left.unsqueeze(1)
    far = torch.iinfo(torch.long).max
    best, _ = torch.where(valid, distance, far).topk(min(depth, is_left.size(1)), dim=-1, largest=False)
    lefts = (words.unsqueeze(-1) - best).masked_fill(best == far, -1)
    if lefts.size(-1) < depth:
        lefts = F.pad(lefts, (0, depth - lefts.size(-1)), value=-1)
    return lefts if word_mask is None else lefts.masked_fill(~word_mask.unsqueeze(-1), -1)


class IterModel(JointIEPreTrainedModel):
    """ITER on any `transformers` encoder. See the module docstring for the paper's sections each part follows."""

    config_class = IterConfig

    def __init__(self, config: IterConfig):
        super().__init__(config)
        hidden, d_ff = config.encoder_hidden_size, config.d_ff
        pair_inner = d_ff * (1 + int(config.use_scale))
        self.is_l = IterFeedForward(config, hidden, d_ff, 1)
        self.lr_score = IterFeedForward(config, 2 * hidden, pair_inner, config.num_type_logits)
        self.rr_score = (
            IterFeedForward(config, 2 * hidden, pair_inner, config.num_link_logits)
            if config.num_relation_types
            else None
        )
        self.post_init()

    @classmethod
    def checkpoint_key_mapping(cls, pretrained_model_name_or_path, kwargs: dict) -> dict[str, str]:
        """The authors' checkpoints (config.json with `transformer_config`) call the backbone `model.`; a T5 backbone
        is their `T5EncoderModel` (`model.encoder.*` plus the shared embedding `model.shared`), ours its encoder
        stack."""
        fields, _ = IterConfig.get_config_dict(pretrained_model_name_or_path)
        if "transformer_config" not in fields:
            return {}
        if "t5" in fields["transformer_config"].get("model_type", ""):
            return {r"^model\.encoder\.": "encoder.", r"^model\.shared\.": "encoder.embed_tokens."}
        return {r"^model\.": "encoder."}

    # ---------------------------------------------------------------- forward
    def span_logits(self, first: torch.Tensor, last: torch.Tensor, lefts: torch.Tensor) -> torch.Tensor:
        """`lr_score([h_first(left); h_last(n)])` for every word `n` and slot: `batch x words x slots x types`,
        `-inf` where the slot holds no left bracket. The first layer's left half runs once per bracket word and its
        right half once per word that has a candidate, and the rest of the head on the candidates only
        (`IterFeedForward.on_pairs`). That is the same function as the head on every concatenation, at a fraction of
        its cost: most of the words are no bracket, and a word without a bracket before it has no candidate."""
        logits = first.new_full((*lefts.shape, self.config.num_type_logits), float("-inf"))
        rows, words, slots = (lefts >= 0).nonzero(as_tuple=True)
        num_words = lefts.size(1)
        left_keys, left_of = torch.unique(rows * num_words + lefts[rows, words, slots], return_inverse=True)
        right_keys, right_of = torch.unique_consecutive(rows * num_words + words, return_inverse=True)
        logits[rows, words, slots] = self.lr_score.on_pairs(
            first.flatten(0, 1)[left_keys], last.flatten(0, 1)[right_keys], left_of, right_of
        )
        return logits

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        word_end_index: torch.Tensor | None = None,
        entity_labels: torch.Tensor | None = None,
        relation_labels: torch.Tensor | None = None,
        entity_fragments: torch.Tensor | None = None,
    ) -> IterOutput:
        r"""
        word_end_index (`batch x words`): each word's last subword (see `encode_words`); defaults to `word_index`.
        entity_labels (`batch x entities x 3`, *optional*): gold `[start, end, type]` (see `encode_labels`).
        relation_labels (`batch x relations x 3`, *optional*): gold `[head, tail, type]`.
        entity_fragments: accepted for the shared batch format; ITER models continuous (possibly nested) spans.
        """
        word_mask = word_mask.bool()
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        first = gather_words(hidden, word_index)
        last = gather_words(hidden, word_index if word_end_index is None else word_end_index)
        left_logits = self.is_l(first).squeeze(-1).masked_fill(~word_mask, float("-inf"))
        output = IterOutput(left_logits=left_logits, first_states=first, last_states=last)
        if entity_labels is None or not self.training:  # the candidates decoding reads: the predicted brackets
            output.span_left = closest_lefts(left_logits > 0, self.config.max_nest_depth, word_mask)
            output.span_logits = self.span_logits(first, last, output.span_left)  # -inf at padding: no candidate
        if entity_labels is None:
            return output
        # training reads the candidates of the gold brackets (teacher forcing)
        gold_left = self._gold_lefts(entity_labels, word_mask)
        lefts = closest_lefts(gold_left, self.config.max_nest_depth, word_mask)
        batch_size = len(input_ids)
        output.left_loss = self._left_loss(left_logits, gold_left, word_mask) / batch_size
        output.span_loss = self._span_loss(self.span_logits(first, last, lefts), lefts, entity_labels, word_mask)
        output.span_loss = output.span_loss / batch_size
        output.link_loss = self._link_loss(first, last, lefts, entity_labels, relation_labels, word_mask) / batch_size
        output.loss = output.left_loss + output.span_loss + output.link_loss
        return output

    @staticmethod
    def _gold_lefts(entity_labels: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        is_left = torch.zeros_like(word_mask)
        rows, items = (entity_labels[..., 0] >= 0).nonzero(as_tuple=True)
        is_left[rows, entity_labels[rows, items, 0]] = True
        return is_left

    @staticmethod
    def _left_loss(left_logits: torch.Tensor, gold: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """Eq. 12: `LSE([0, l]) - (l if gold else 0)` summed over words (binary cross-entropy with logits)."""
        logits = left_logits.masked_fill(~word_mask, 0.0)
        losses = F.binary_cross_entropy_with_logits(logits, gold.float(), reduction="none")
        return (losses * word_mask).sum()

    def _span_targets(self, lefts: torch.Tensor, entity_labels: torch.Tensor) -> torch.Tensor:
        """Gold types of every (word, slot) span: `batch x words x slots x types` (NONE set where none holds)."""
        batch, words, slots = lefts.shape
        targets = torch.zeros(batch, words, words, self.config.num_type_logits, dtype=torch.bool, device=lefts.device)
        rows, items = (entity_labels[..., 0] >= 0).nonzero(as_tuple=True)
        start, end, label = entity_labels[rows, items].unbind(-1)
        targets[rows, end - 1, start, label] = True  # [b, right word, left word, type]
        targets = targets.gather(2, lefts.clamp(min=0)[..., None].expand(-1, -1, -1, targets.size(-1)))
        targets &= (lefts >= 0).unsqueeze(-1)
        if self.config.none_type:
            targets[..., -1] = ~targets.any(-1)
        return targets

    def _span_loss(
        self, span_logits: torch.Tensor, lefts: torch.Tensor, entity_labels: torch.Tensor, word_mask: torch.Tensor
    ) -> torch.Tensor:
        """Eq. 13 on the gold brackets' candidates. Per word (flat) or per (word, slot) (nested):
        `LSE(0, logits) - LSE(gold)`, where the gold set is the no-span logit 0 for a word that ends no entity and
        the gold types of the pair (or NONE, nested) otherwise."""
        targets = self._span_targets(lefts, entity_labels)
        is_right = torch.zeros_like(word_mask)
        rows, items = (entity_labels[..., 0] >= 0).nonzero(as_tuple=True)
        is_right[rows, entity_labels[rows, items, 1] - 1] = True
        has_left = (lefts >= 0) & word_mask.unsqueeze(-1)
        logits = span_logits.masked_fill(~has_left.unsqueeze(-1), 0.0)  # finite everywhere: no NaN gradients
        if self.config.max_nest_depth == 1:  # one decision per word over every (slot, type)
            logits, targets, has_left = logits.flatten(2), targets.flatten(2), has_left.any(-1)
        else:  # one decision per (word, slot); the NONE type is the gold of a non-entity pair
            is_right = is_right.unsqueeze(-1).expand_as(has_left)
        null = logits.new_zeros(logits.shape[:-1] + (1,))
        everything = torch.logsumexp(torch.cat([null, logits], dim=-1), dim=-1)
        gold = torch.cat([null.masked_fill(is_right.unsqueeze(-1), _MASKED), logits.masked_fill(~targets, _MASKED)], -1)
        gold = torch.logsumexp(gold, dim=-1)
        # a word that ends an entity whose left bracket is not among its candidates falls back to "no span"
        gold = torch.where(gold < _MASKED / 2, torch.zeros_like(gold), gold)
        return (everything - gold).masked_fill(~has_left, 0.0).sum()

    def entity_states(self, first: torch.Tensor, last: torch.Tensor, lefts: torch.Tensor) -> torch.Tensor:
        """The representation `rr_score` reads for the span ending at each word in each slot: `h_last(end)` (flat,
        Eq. 9) or `h_last(end) + h_first(start)` (nested, Eq. 10). `batch x words x slots x hidden`."""
        if self.config.max_nest_depth == 1:
            return last.unsqueeze(2)
        batch = torch.arange(len(first), device=first.device)[:, None, None]
        return last.unsqueeze(2) + first[batch, lefts.clamp(min=0)]

    def link_logits(self, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """`rr_score([rep(tail); rep(head)])` for every head in `heads` (`batch x H x hidden`) and tail in `tails`
        (`batch x T x hidden`): `batch x H x T x link types`, the first layer applied to each head and tail once
        (`IterFeedForward.split_first_layer`)."""
        (tail_wi, tail_gate), (head_wi, head_gate) = self.rr_score.split_first_layer(tails, heads)
        wi = head_wi.unsqueeze(2) + tail_wi.unsqueeze(1)
        gate = None if head_gate is None else head_gate.unsqueeze(2) + tail_gate.unsqueeze(1)
        return self.rr_score.rest(wi, gate)

    def pair_link_logits(self, states: torch.Tensor, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """`rr_score([rep(tail); rep(head)])` for the listed pairs of the items `states` (`items x hidden`):
        `pairs x link types`, the first layer applied to each item once."""
        return self.rr_score.on_pairs(states, states, tails, heads)

    def _link_targets(
        self, entity_slot: torch.Tensor, entity_labels: torch.Tensor, relation_labels: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Gold links as flat `(row, head end word, head slot, head entity, tail entity, type)` index tensors, with
        the inverse-direction (`inverse_relations`) and symmetric (`symmetric_relation_types`) copies."""
        rows, items = (relation_labels[..., 0] >= 0).nonzero(as_tuple=True)
        head, tail, label = relation_labels[rows, items].unbind(-1)
        num = self.config.num_relation_types
        if self.config.inverse_relations or self.config.symmetric_relation_types:
            symmetric = torch.zeros(num, dtype=torch.bool, device=label.device)
            for name in self.config.symmetric_relation_types:
                symmetric[self.config.relation_types.index(name)] = True
            both = symmetric[label]
            inverse = ~both if self.config.inverse_relations else torch.zeros_like(both)
            extra = both | inverse
            rows = torch.cat([rows, rows[extra]])
            head, tail = torch.cat([head, tail[extra]]), torch.cat([tail, head[extra]])
            label = torch.cat([label, label[extra] + num * inverse[extra]])
        end = entity_labels[rows, head, 1] - 1
        return rows, end, entity_slot[rows, head], head, tail, label

    def _link_loss(
        self,
        first: torch.Tensor,
        last: torch.Tensor,
        lefts: torch.Tensor,
        entity_labels: torch.Tensor,
        relation_labels: torch.Tensor | None,
        word_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Eq. 14: binary cross-entropy over link types, summed, for every (word, slot) as head and every gold entity
        as tail (the heads include non-entities, which learn to link nothing)."""
        if self.rr_score is None:
            return first.new_zeros(())
        gold_start, gold_end = entity_labels[..., 0], entity_labels[..., 1]
        exists = gold_start >= 0
        if not exists.any():
            return first.new_zeros(())
        # the slot of each gold entity among the candidates of its end word
        end_word = (gold_end - 1).clamp(min=0)
        batch = torch.arange(len(first), device=first.device)[:, None]
        slot_match = lefts[batch, end_word] == gold_start.unsqueeze(-1)
        entity_slot = slot_match.float().argmax(-1)
        exists &= slot_match.any(-1)  # deeper than `max_nest_depth`: not a candidate, not trained as a tail
        states = self.entity_states(first, last, lefts)  # [b, words, slots, hidden]
        tails = states[batch, end_word, entity_slot]  # [b, entities, hidden]
        heads = states.flatten(1, 2)  # [b, words*slots, hidden]
        logits = self.link_logits(heads, tails)  # [b, words*slots, entities, types]
        targets = torch.zeros_like(logits)
        if relation_labels is not None:
            rows, end, slot, head, tail, label = self._link_targets(entity_slot, entity_labels, relation_labels)
            keep = exists[rows, head] & exists[rows, tail]
            targets[rows[keep], (end * lefts.size(2) + slot)[keep], tail[keep], label[keep]] = 1.0
        valid = ((lefts >= 0) & word_mask.unsqueeze(-1)).flatten(1).unsqueeze(2) & exists.unsqueeze(1)
        losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
        return losses.masked_fill(~valid, 0.0).sum()

    # ---------------------------------------------------------------- decode
    @torch.no_grad()
    def decode(
        self,
        outputs: IterOutput,
        batch: dict[str, torch.Tensor] | None = None,
        threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> list[JointIEPrediction]:
        """Entities from the candidates of `forward` (see the module docstring for the flat and nested rules), then
        links among the decoded entities; all on batched tensors. `threshold` / `relation_threshold` override the
        config's."""
        config = self.config
        threshold = config.threshold if threshold is None else threshold
        relation_threshold = config.relation_threshold if relation_threshold is None else relation_threshold
        logits, lefts = outputs.span_logits, outputs.span_left
        num_real = config.num_entity_types
        if config.max_nest_depth == 1:
            flat = logits.flatten(2)
            margin, label = torch.logsumexp(flat, dim=-1, keepdim=True), flat.argmax(-1, keepdim=True)  # one slot
        else:
            best_logit, label = logits[..., :num_real].max(-1, keepdim=True)
            margin, label = (best_logit - logits[..., -1:]).squeeze(-1), label.squeeze(-1)
        # `sigmoid(margin) > threshold`, compared on logits so that 0.5 is exactly the authors' `> 0`
        exists = (margin > _logit(threshold)) & (lefts >= 0) & (label < num_real)
        score = torch.sigmoid(margin)
        rows, ends, slots = exists.nonzero(as_tuple=True)
        entities = {
            "row": rows,
            "start": lefts[rows, ends, slots],
            "end": ends + 1,
            "type": label[rows, ends, slots],
            "score": score[rows, ends, slots],
        }
        num_rows = len(logits)
        if self.rr_score is None:
            return assemble_predictions(config, num_rows, entities)
        states = self.entity_states(outputs.first_states, outputs.last_states, lefts)[rows, ends, slots]
        heads, tails, rank, reverse = pairs_within_rows(rows)  # the pairs of one sentence's entities only
        link_probs = torch.sigmoid(self.pair_link_logits(states, heads, tails))  # [pairs, link types]
        num = config.num_relation_types
        probs = link_probs[:, :num]
        direct = probs > relation_threshold
        if config.inverse_relations:
            inverse_probs = link_probs[reverse, num:]  # the tail -> head logits of the reversed pair, read back
            inverse = inverse_probs > relation_threshold
            tail_last = (tails >= heads).unsqueeze(-1)
            probs = torch.where(inverse & (~direct | tail_last), inverse_probs, probs)
            direct = direct | inverse
        pair, rel_labels = direct.nonzero(as_tuple=True)
        relations = {
            "row": rows[heads[pair]], "head": rank[heads[pair]], "tail": rank[tails[pair]], "type": rel_labels,
            "score": probs[pair, rel_labels],
        }
        return assemble_predictions(config, num_rows, entities, relations)


__all__ = ["IterModel", "IterOutput"]
