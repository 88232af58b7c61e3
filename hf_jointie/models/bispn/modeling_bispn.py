"""BiSPN: one-pass joint extraction of an entity set and a relation set with learned queries.

Paper: "BiSPN: Generating Entity Set and Relation Set Coherently in One Pass" (`../shared/papers/bispn.txt`).

* Sect. 3.2.1, shared encoder (Eq. 1): `M_e` entity and `M_r` relation queries (learned embeddings) join the tokens
  under **one-way self-attention**: the tokens x queries block of the mask is -inf, so tokens never see queries while
  queries see the tokens and each other.
* Sect. 3.2.2, shared decoder: `N` blocks of one-way self-attention over [tokens; queries], bidirectional
  self-attention among all queries, and feed-forward layers; outputs `H^x`, `H^e`, `H^r`.
* Sect. 3.2.3, entity module: entity-view projection (Eq. 2), entity decoder (Eq. 3: self-attention among the entity
  queries and cross-attention to `H^x_e`), start/end predictor (Eqs. 4-5), type MLP with a null label (Eq. 6).
* Sect. 3.2.4, relation module: head/tail split `[H^h; H^t] = Linear(H^r)` (Eq. 10), relation-view projection
  (Eq. 11), relation decoder over `[H^h; H^t; H^r]` (Eq. 12), the head-tail predictor (Eqs. 4-6 on `H^h`, `H^t` in
  relation view) and the relation type MLP with a null label (Eq. 13).
* Sect. 3.3, prediction loss (Eqs. 14-17) after Hungarian matching of queries to gold entities / gold triples.
* Sect. 3.4, bipartite consistency loss: `L_rel->ent` (Eq. 18), the has-relation classifier and loss (Eqs. 19-20) and
  `L_ent->rel` (Eqs. 21-22). Sect. 3.5, entity-relation linking loss (Eqs. 23-27). The total is
  `L_pred + alpha (L_rel->ent + L_ent->rel + L_has-rel) + beta L_link`, each term with its own config weight.
* Sect. 3.2.3 inference (Eqs. 7-9) plus the consistency rule of `decode` below.

Choices where the paper is vague or where a generic encoder needs them, and why:

* **One-way attention through the backbone's own layers.** Because tokens never attend to queries, the token states of
  every encoder layer are exactly those of the backbone run on the tokens alone. So the backbone runs unchanged (no
  custom 4-d mask, no position ids for queries) with `output_hidden_states=True`, and the query rows of each layer
  are computed with that layer's own pretrained weights (`layers_bispn.backbone_query_layer`; queries attend to the
  layer's input subword states and to each other, one softmax over both) - the paper's shared encoder, with no added
  parameter. Encoders without BERT-style layers (T5, ...) get one added one-way layer per encoder layer instead
  (`share_encoder_layers=False`). The shared decoder's one-way layer computes the token rows (tokens attend to
  tokens) and the query rows (queries attend to tokens and queries) with one attention module, which is the masked
  attention over the concatenation. Block order: one-way attention, query self-attention, then a feed-forward layer
  applied to tokens and queries, each with residual and post-LayerNorm as in BERT. Its blocks start from the
  encoder's top layers (`init_decoder_from_encoder`; the paper initialises its decoding modules randomly, but trains
  them 70 epochs where our CPU runs train about 10).
* The queries enter the encoder as learned embeddings of the encoder's width, without position embeddings. When they
  pass the pretrained layers they start as normalised embeddings of random vocabulary words, at the scale of the
  tokens (`_init_queries_from_vocabulary`: at std 0.02 the pretrained layers map all queries to one vector).
* Everything works in word units (each word's first subword, as the other hf_jointie models): `start`/`end` are
  distributions over words and the queries attend to word states.
* The head and tail queries share one start/end predictor and one type MLP ("similar to the entity prediction
  process"); head/tail types use the same label set as entities, including the null label, so the KL terms of
  Sect. 3.4 compare distributions over the same support.
* Matching costs (the paper follows Tan et al. 2021 / Shen et al. 2022): negative sum of the *probabilities* of the
  gold start, end and type for entities, and of the relation type plus head and tail start, end and type for
  triples. Unmatched queries are trained towards the null label only.
* **One-to-many matching** (`entity_label_repeats=10`, `relation_label_repeats=15`). Sect. 3.3 computes the
  assignment "in the same way as" Shen et al. (2022), whose matching is one-to-many: the gold items are offered
  several times to the Hungarian algorithm, so several queries learn each gold item (`hungarian_match`). The
  defaults are those of the authors' released ADE script; 1 and 1 give one-to-one matching. With one-to-one matching
  only ~3.7 of 30 entity queries get a gold entity per CoNLL04 sentence, and which queries do changes from step to
  step, so every query mostly learns "null": 200 steps on 200 CoNLL04 training sentences left every query null with
  probability ~0.9 and decoded nothing (0.0 F1 on those same sentences, with learning rates 2e-4 or 5e-5 / 3e-4),
  where the one-to-many matching with the weight below reached 61 NER F1 and 60 RE (boundary) F1 in as many steps
  (details in the model card).
* **Null-label weight** (`null_label_weight=None`). Eqs. 14-16 sum `-log P[null]` over the unmatched queries
  unweighted; as in DETR-style set prediction (and in the authors' code), the null terms are down-weighted: `None`
  scales them by (matched / unmatched queries of the batch), so both groups weigh the same in total; a number is a
  fixed weight, and `1.0` with repeats 1 is the paper's equations read literally.
* Sums over queries per sentence (Eqs. 14-18, 21) are averaged over the batch; Eqs. 20 and 27 are means as written
  (per sentence, then over the batch). With the paper's alpha = 1e-3 and beta = 1e-4 these terms are a small fraction
  of the loss, but the has-relation classifier and the biaffine linking layer receive gradient only from their own
  term, and AdamW normalises each parameter's step, so they train at the full learning rate whatever the weight
  (`tests/test_bispn.py` shows one step moving them); the weights decide how much those terms pull on the shared
  queries and encoder.
* KL targets are detached: in Eq. 18 the head/tail distributions "simulate" the reference entity, in Eq. 21 the
  entity simulates its reference head/tail. The max runs over every query (as Eqs. 18 and 21 write); Omega uses the
  current has-relation probabilities (no gradient through the selection).
* The linking loss reads the shared decoder's `H^e`, `H^r` (the "intermediate representations"); the biaffine layer is
  `x^T W y + U_e x + U_r y + b`.
* Eq. 8 writes `0 < j - i`, which would forbid one-word entities; decoding takes every `start <= end` (up to
  `max_span_width`). An entity's score is `P_type * P_start * P_end` of the decoded labels; a triple's score is
  `P_rel` times its two arguments' scores.
* **Consistency rule of `decode`.** Each head/tail is decoded with Eqs. 7-8 and the argmax non-null type. The output
  format needs relations to point at entities. With `relation_arguments="filter"` (default) a triple is output only
  when both arguments, span and type, are entities of the decoded entity set ("restricting the head/tail entities
  within the generated entity set", Sect. 1); with `"add"` missing arguments join the entity set. "add" scores higher
  early in training (the entity set is still incomplete), "filter" once it is good: after 6 CoNLL04 epochs, dev NER /
  RE+ F1 66.9 / 50.7 with "filter" and 65.2 / 46.1 with "add" (model card). Duplicate entities / triples from several
  queries (one-to-many matching makes them common) are merged, keeping the highest score; a triple whose head and
  tail are the same entity is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn
from transformers import initialization as init

from ...modeling_utils import (
    JointIEPreTrainedModel,
    assemble_predictions,
    best_of_overlapping,
    gather_words,
    rank_within_rows,
)
from ...outputs import JointIEOutput, JointIEPrediction
from .configuration_bispn import BispnConfig, _encoder_attribute
from .layers_bispn import (
    BoundaryPredictor,
    OneWayBlock,
    _decoder_layers,
    _mlp,
    backbone_query_layer,
    bert_style_layers,
    copy_bert_layer,
)


def hungarian_match(cost: torch.Tensor, num_gold: torch.Tensor, repeats: int = 1) -> torch.LongTensor:
    """Optimal assignment of queries to gold items for every sentence of a batch.

    `cost` is `batch x queries x gold` (built for the whole batch with tensor ops), `num_gold` the number of valid
    (leading) gold columns per sentence. Returns `batch x queries`: the gold index assigned to each query, `-1` for
    unmatched queries. One `scipy.optimize.linear_sum_assignment` call per sentence.

    `repeats > 1` is the one-to-many assignment of Shen et al. (2022), whose matching BiSPN follows (Sect. 3.3): the
    gold items of a sentence are offered `max(count, min(repeats, queries))` times in turn (each item
    `repeats // count` times, the first `repeats % count` items once more), so several queries can learn one gold
    item. `repeats=1` is the one-to-one matching.
    """
    costs = cost.detach().float().cpu().numpy()
    num_queries = costs.shape[1]
    assignment = np.full(costs.shape[:2], -1, dtype=np.int64)
    for row, count in enumerate(num_gold.tolist()):
        if count:
            offered = np.arange(max(count, min(repeats, num_queries))) % count  # gold index of each column
            queries, columns = linear_sum_assignment(costs[row][:, offered])
            assignment[row, queries] = offered[columns]
    return torch.from_numpy(assignment).to(cost.device)


def _pairwise_kl(targets: list[torch.Tensor], approximations: list[torch.Tensor]) -> torch.Tensor:
    """`sum_delta KL(P_a || Q_b)` for every pair: log-probability lists of `batch x A x n` and `batch x B x n`
    give `batch x A x B`. Targets are detached (they are the reference the other side simulates)."""
    total = 0.0
    for log_p, log_q in zip(targets, approximations):
        log_p = log_p.detach()
        p = log_p.exp()
        total = total + (p * log_p).sum(-1).unsqueeze(2) - p @ log_q.transpose(1, 2)
    return total


@dataclass
class BispnOutput(JointIEOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): the weighted sum of the terms below, averaged over the batch.
    entity_loss, relation_loss (`torch.FloatTensor`, *optional*): Eq. 14 and Eq. 16 (unweighted).
    consistency_loss (`torch.FloatTensor`, *optional*): `L_rel->ent + L_ent->rel` (Eqs. 18, 21; unweighted).
    has_relation_loss, linking_loss (`torch.FloatTensor`, *optional*): Eq. 20 and Eq. 27 (unweighted).
    entity_start_logits, entity_end_logits (`batch x M_e x words`): Eq. 4 for the entity queries.
    entity_type_logits (`batch x M_e x (entity_types + 1)`): Eq. 6; the last label is null.
    has_relation_logits (`batch x M_e`): Eq. 19 before the sigmoid.
    argument_start_logits, argument_end_logits (`batch x 2 M_r x words`): head queries first, then tail queries.
    argument_type_logits (`batch x 2 M_r x (entity_types + 1)`): the head/tail entity types.
    relation_type_logits (`batch x M_r x (relation_types + 1)`): Eq. 13; the last label is null.
    link_logits (`batch x M_e x M_r`): Eq. 25.
    """

    entity_loss: torch.FloatTensor | None = None
    relation_loss: torch.FloatTensor | None = None
    consistency_loss: torch.FloatTensor | None = None
    has_relation_loss: torch.FloatTensor | None = None
    linking_loss: torch.FloatTensor | None = None
    entity_start_logits: torch.FloatTensor | None = None
    entity_end_logits: torch.FloatTensor | None = None
    entity_type_logits: torch.FloatTensor | None = None
    has_relation_logits: torch.FloatTensor | None = None
    argument_start_logits: torch.FloatTensor | None = None
    argument_end_logits: torch.FloatTensor | None = None
    argument_type_logits: torch.FloatTensor | None = None
    relation_type_logits: torch.FloatTensor | None = None
    link_logits: torch.FloatTensor | None = None


class BispnModel(JointIEPreTrainedModel):
    """BiSPN on any `transformers` encoder. See the module docstring for the paper's sections each part follows."""

    config_class = BispnConfig

    def __init__(self, config: BispnConfig):
        super().__init__(config)
        d, p = config.hidden_size, config.dropout
        num_types = config.num_entity_types + 1
        encoder_layers = _encoder_attribute(
            config.encoder_config, ("num_hidden_layers", "num_layers", "n_layer", "encoder_layers")
        )
        if not encoder_layers:
            name = type(config.encoder_config).__name__
            raise ValueError(f"Cannot find the number of layers of the encoder config {name}.")
        width = config.encoder_hidden_size
        self.input_projection = nn.Linear(width, d) if width != d else nn.Identity()
        shared = config.share_encoder_layers
        if shared and bert_style_layers(self.encoder) is None:
            raise ValueError(
                f"`share_encoder_layers=True` needs BERT-style encoder layers; {type(self.encoder).__name__} has none "
                "(use share_encoder_layers=False)."
            )
        self.shares_encoder_layers = bert_style_layers(self.encoder) is not None if shared is None else shared
        # queries live in the encoder's width while they pass its layers, then share the tokens' projection
        query_width = width if self.shares_encoder_layers else d
        self.entity_queries = nn.Embedding(config.num_entity_queries, query_width)
        self.relation_queries = nn.Embedding(config.num_relation_queries, query_width)
        self.encoder_query_layers = nn.ModuleList(
            OneWayBlock(config, update_tokens=False, query_self_attention=False)
            for _ in range(0 if self.shares_encoder_layers else encoder_layers)
        )
        self.shared_decoder = nn.ModuleList(
            OneWayBlock(config, update_tokens=True, query_self_attention=True)
            for _ in range(config.num_shared_decoder_layers)
        )
        self.dropout = nn.Dropout(p)
        # entity decoding module (Sect. 3.2.3)
        self.entity_view = nn.Linear(d, d)
        self.entity_decoder = _decoder_layers(config, config.num_entity_decoder_layers)
        self.entity_start = BoundaryPredictor(d)
        self.entity_end = BoundaryPredictor(d)
        self.entity_type = _mlp(d, num_types, p)
        self.has_relation = _mlp(d, 1, p)
        # relation decoding module (Sect. 3.2.4)
        self.head_tail_split = nn.Linear(d, 2 * d)
        self.relation_view = nn.Linear(d, d)
        self.relation_decoder = _decoder_layers(config, config.num_relation_decoder_layers)
        self.argument_start = BoundaryPredictor(d)
        self.argument_end = BoundaryPredictor(d)
        self.argument_type = _mlp(d, num_types, p)
        self.relation_type = _mlp(d, config.num_relation_types + 1, p)
        # entity-relation linking (Sect. 3.5)
        self.link_entity = nn.Linear(d, d)
        self.link_relation = nn.Linear(d, d)
        self.link_bilinear = nn.Bilinear(d, d, 1)
        self.link_entity_linear = nn.Linear(d, 1, bias=False)
        self.link_relation_linear = nn.Linear(d, 1, bias=False)
        self.post_init()

    def post_load_backbone(self) -> None:
        """Start the queries in the distribution of the encoder's input states (when they pass its own layers) and
        initialise the shared decoder's blocks from the encoder's top layers (`init_decoder_from_encoder`), block `k`
        of `N` from layer `L - N + k`, when the layers are BERT-style and the widths match."""
        layers = bert_style_layers(self.encoder)
        config = self.config
        if self.shares_encoder_layers:
            self._init_queries_from_vocabulary()
        if not config.init_decoder_from_encoder or layers is None:
            return
        block = self.shared_decoder[0] if len(self.shared_decoder) else None
        if block is None or (config.hidden_size, config.intermediate_size) != (
            config.encoder_hidden_size, layers[0].intermediate.dense.out_features
        ) or config.num_attention_heads != layers[0].attention.self.num_attention_heads:
            return
        first = len(layers) - len(self.shared_decoder)
        for index, block in enumerate(self.shared_decoder):
            copy_bert_layer(layers[(first + index) % len(layers)], block)

    def _init_queries_from_vocabulary(self) -> None:
        """Each query starts as the normalised input embedding of a distinct random vocabulary word.

        Queries drawn at `initializer_range` (std 0.02) are ~25x smaller than the encoder's input states, so inside
        the pretrained layers every query's attention and output is set by the shared biases: after the six MiniLM
        layers the 55 queries have mean pairwise cosine 0.999, the set predictor sees one query 55 times, and a run
        on 200 CoNLL04 sentences did not fit them (NER F1 17 on those same sentences after 300 steps). Embedded words
        keep them apart (mean cosine 0.17 after the six layers)."""
        embeddings = self.encoder.get_input_embeddings().weight
        norm = getattr(getattr(self.encoder, "embeddings", None), "LayerNorm", nn.Identity())
        counts = [self.entity_queries.num_embeddings, self.relation_queries.num_embeddings]
        ids = torch.randperm(len(embeddings), device=embeddings.device)[: sum(counts)]
        with torch.no_grad():
            entity_words, relation_words = norm(embeddings[ids]).split(counts)
            self.entity_queries.weight.copy_(entity_words)
            self.relation_queries.weight.copy_(relation_words)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Bilinear):
            init.normal_(module.weight, mean=0.0, std=0.02)
            init.zeros_(module.bias)

    @staticmethod
    def _decode_queries(layers: nn.ModuleList, queries: torch.Tensor, view: torch.Tensor, padding: torch.Tensor):
        for layer in layers:
            queries = layer(queries, view, memory_key_padding_mask=padding)
        return queries

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
    ) -> BispnOutput:
        r"""
        entity_labels (`batch x entities x 3`, *optional*): gold `[start, end, type]` (see `encode_labels`).
        relation_labels (`batch x relations x 3`, *optional*): gold `[head, tail, type]`.
        entity_fragments: accepted for the shared batch format; BiSPN predicts continuous spans.
        """
        padding = ~word_mask.bool()
        config = self.config
        # the backbone on the tokens alone = the token rows of the one-way encoder (module docstring)
        encoded = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        queries = torch.cat([self.entity_queries.weight, self.relation_queries.weight])
        queries = queries.unsqueeze(0).expand(len(input_ids), -1, -1)
        if self.shares_encoder_layers:  # Sect. 3.2.1 with the pretrained layers (layers_bispn)
            for layer_input, layer in zip(encoded.hidden_states[:-1], bert_style_layers(self.encoder)):
                queries = backbone_query_layer(layer, layer_input, queries, attention_mask)
            queries = self.input_projection(queries)
            tokens = self.input_projection(gather_words(encoded.last_hidden_state, word_index))
        else:
            states = [self.input_projection(gather_words(hidden, word_index)) for hidden in encoded.hidden_states]
            for layer_input, block in zip(states[:-1], self.encoder_query_layers):
                queries = block(layer_input, queries, padding)[1]
            tokens = states[-1]
        tokens = self.dropout(tokens)
        for block in self.shared_decoder:
            tokens, queries = block(tokens, queries, padding)
        entity_queries, relation_queries = queries.split([config.num_entity_queries, config.num_relation_queries], 1)
        # entity decoding module, Eqs. 2-6 and 19
        entity_view = self.entity_view(tokens)
        entity_states = self._decode_queries(self.entity_decoder, entity_queries, entity_view, padding)
        # relation decoding module, Eqs. 10-13
        relation_view = self.relation_view(tokens)
        head, tail = self.head_tail_split(relation_queries).chunk(2, dim=-1)
        states = self._decode_queries(
            self.relation_decoder, torch.cat([head, tail, relation_queries], 1), relation_view, padding
        )
        arguments, relation_states = states.split([2 * config.num_relation_queries, config.num_relation_queries], 1)
        # linking scores, Eqs. 23-25
        linked_entities, linked_relations = self.link_entity(entity_queries), self.link_relation(relation_queries)
        link_logits = (
            torch.einsum("bid,de,bje->bij", linked_entities, self.link_bilinear.weight[0], linked_relations)
            + self.link_entity_linear(linked_entities)
            + self.link_relation_linear(linked_relations).transpose(1, 2)
            + self.link_bilinear.bias
        )
        output = BispnOutput(
            entity_start_logits=self.entity_start(entity_states, entity_view, padding),
            entity_end_logits=self.entity_end(entity_states, entity_view, padding),
            entity_type_logits=self.entity_type(entity_states),
            has_relation_logits=self.has_relation(entity_states).squeeze(-1),
            argument_start_logits=self.argument_start(arguments, relation_view, padding),
            argument_end_logits=self.argument_end(arguments, relation_view, padding),
            argument_type_logits=self.argument_type(arguments),
            relation_type_logits=self.relation_type(relation_states),
            link_logits=link_logits,
        )
        if entity_labels is not None:
            self._losses(output, entity_labels, relation_labels)
        return output

    # ----------------------------------------------------------------------------------------------------- losses

    def _losses(self, output: BispnOutput, entity_labels: torch.Tensor, relation_labels: torch.Tensor | None) -> None:
        """Fill the loss fields of `output` (Sects. 3.3-3.5)."""
        config = self.config
        if relation_labels is None:
            relation_labels = entity_labels.new_full((len(entity_labels), 1, 3), -1)
        batch = len(entity_labels)
        log_probs = {
            name: torch.log_softmax(getattr(output, f"{name}_logits"), dim=-1)
            for name in ("entity_start", "entity_end", "entity_type", "argument_start", "argument_end",
                         "argument_type", "relation_type")
        }
        gold_start, gold_end, gold_type = entity_labels.clamp(min=0).unbind(-1)
        gold_last = (gold_end - 1).clamp(min=0)
        has_entity = entity_labels[..., 0] >= 0
        head, tail, relation_type = relation_labels.clamp(min=0).unbind(-1)
        has_relation = relation_labels[..., 0] >= 0
        # gold arguments of every gold triple, heads then tails: batch x 2R
        arg_entity = torch.cat([head, tail], 1)
        arg_start, arg_last, arg_type = (x.gather(1, arg_entity) for x in (gold_start, gold_last, gold_type))

        def prob_of(name: str, targets: torch.Tensor) -> torch.Tensor:
            """`batch x queries x targets`: probability each query gives each gold label."""
            probs = log_probs[name].exp()
            return probs.gather(2, targets.unsqueeze(1).expand(-1, probs.size(1), -1))

        # matching costs for the whole batch (negative probabilities of the gold labels)
        entity_cost = -(
            prob_of("entity_start", gold_start) + prob_of("entity_end", gold_last) + prob_of("entity_type", gold_type)
        )
        argument_probs = prob_of("argument_start", arg_start) + prob_of("argument_end", arg_last)
        argument_probs = argument_probs + prob_of("argument_type", arg_type)
        heads, tails = argument_probs.chunk(2, dim=1)  # query halves: head queries, tail queries
        num_gold_relations = relation_labels.size(1)
        relation_cost = -(
            prob_of("relation_type", relation_type)
            + heads[..., :num_gold_relations]
            + tails[..., num_gold_relations:]
        )
        entity_match = hungarian_match(entity_cost, has_entity.sum(1), config.entity_label_repeats)
        relation_match = hungarian_match(relation_cost, has_relation.sum(1), config.relation_label_repeats)
        entity_matched, relation_matched = entity_match >= 0, relation_match >= 0
        entity_slot, relation_slot = entity_match.clamp(min=0), relation_match.clamp(min=0)

        def null_weight(matched: torch.Tensor) -> torch.Tensor:
            """Per-query weight of the type term: 1 for matched queries, `config.null_label_weight` for the others
            (`None`: the matched / unmatched ratio of the batch, so both groups weigh the same in total)."""
            weight = config.null_label_weight
            if weight is None:
                num_matched = matched.sum()
                weight = num_matched / (matched.numel() - num_matched).clamp(min=1)
            return torch.where(matched, 1.0, weight)

        def span_nll(prefix: str, matched, start, last, label) -> torch.Tensor:
            """`-log P_start - log P_end` for matched queries plus the weighted `-log P_type` (null when unmatched),
            per query."""
            boundary = log_probs[f"{prefix}_start"].gather(2, start.unsqueeze(-1)).squeeze(-1)
            boundary = boundary + log_probs[f"{prefix}_end"].gather(2, last.unsqueeze(-1)).squeeze(-1)
            label = torch.where(matched, label, config.num_entity_types)
            typed = log_probs[f"{prefix}_type"].gather(2, label.unsqueeze(-1)).squeeze(-1)
            return -(boundary * matched + typed * null_weight(matched))

        # Eq. 14
        entity_loss = span_nll(
            "entity", entity_matched, gold_start.gather(1, entity_slot), gold_last.gather(1, entity_slot),
            gold_type.gather(1, entity_slot),
        ).sum() / batch
        # Eqs. 15-16: head queries take the gold head of their triple, tail queries the gold tail
        argument_slot = torch.cat([relation_slot, relation_slot + num_gold_relations], 1)
        argument_matched = relation_matched.repeat(1, 2)
        argument_nll = span_nll(
            "argument", argument_matched, arg_start.gather(1, argument_slot), arg_last.gather(1, argument_slot),
            arg_type.gather(1, argument_slot),
        ).sum()
        relation_target = torch.where(
            relation_matched, relation_type.gather(1, relation_slot), config.num_relation_types
        )
        relation_nll = log_probs["relation_type"].gather(2, relation_target.unsqueeze(-1)).squeeze(-1)
        relation_nll = -(relation_nll * null_weight(relation_matched)).sum()
        relation_loss = (argument_nll + relation_nll) / batch
        # Eq. 20: y = 1 when the gold entity matched to the query is an argument of a gold triple
        involved = torch.zeros_like(has_entity)
        rows = torch.arange(batch, device=involved.device).unsqueeze(1).expand_as(has_relation)
        involved[rows[has_relation], head[has_relation]] = True
        involved[rows[has_relation], tail[has_relation]] = True
        has_relation_target = (entity_matched & involved.gather(1, entity_slot)).float()
        has_relation_loss = F.binary_cross_entropy_with_logits(output.has_relation_logits, has_relation_target)
        # Eq. 27: y_ij = 1 when the gold entity of entity query i is the head or tail of the gold triple of query j
        query_head, query_tail = head.gather(1, relation_slot), tail.gather(1, relation_slot)
        link_target = (query_head.unsqueeze(1) == entity_match.unsqueeze(2)) | (
            query_tail.unsqueeze(1) == entity_match.unsqueeze(2)
        )
        link_target &= entity_matched.unsqueeze(2) & relation_matched.unsqueeze(1)
        linking_loss = F.binary_cross_entropy_with_logits(output.link_logits, link_target.float())
        # Eqs. 18 and 21-22
        entity_dists = [log_probs[f"entity_{name}"] for name in ("start", "end", "type")]
        argument_dists = [log_probs[f"argument_{name}"] for name in ("start", "end", "type")]
        rel_to_ent = _pairwise_kl(entity_dists, argument_dists).min(dim=1).values.sum() / batch
        omega = torch.sigmoid(output.has_relation_logits.detach()) >= 0.5
        ent_to_rel = (_pairwise_kl(argument_dists, entity_dists).min(dim=1).values * omega).sum() / batch

        output.entity_loss, output.relation_loss = entity_loss, relation_loss
        output.consistency_loss = rel_to_ent + ent_to_rel
        output.has_relation_loss, output.linking_loss = has_relation_loss, linking_loss
        output.loss = (
            config.entity_loss_weight * entity_loss
            + config.relation_loss_weight * relation_loss
            + config.consistency_loss_weight * output.consistency_loss
            + config.has_relation_loss_weight * has_relation_loss
            + config.linking_loss_weight * linking_loss
        )

    # ----------------------------------------------------------------------------------------------------- decoding

    def _best_spans(
        self, start_logits: torch.Tensor, end_logits: torch.Tensor, word_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eqs. 7-8 for every query: the `start <= end` pair maximising `P_start[i] + P_end[j]`. Returns `start`,
        exclusive `end` and `P_start * P_end`, each `batch x queries`."""
        p_start, p_end = torch.softmax(start_logits, -1), torch.softmax(end_logits, -1)
        num_words = p_start.size(-1)
        positions = torch.arange(num_words, device=p_start.device)
        width = positions.unsqueeze(0) - positions.unsqueeze(1)  # j - i
        allowed = (width >= 0) & (width < (self.config.max_span_width or num_words))
        allowed = allowed & word_mask.unsqueeze(2) & word_mask.unsqueeze(1)  # batch x i x j
        score = (p_start.unsqueeze(-1) + p_end.unsqueeze(-2)).masked_fill(~allowed.unsqueeze(1), -1.0)
        best = score.flatten(2).argmax(-1)
        start, last = best // num_words, best % num_words
        prob = p_start.gather(2, start.unsqueeze(-1)).squeeze(-1) * p_end.gather(2, last.unsqueeze(-1)).squeeze(-1)
        return start, last + 1, prob

    def decode(
        self,
        outputs: BispnOutput,
        batch: dict[str, torch.Tensor],
        threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> list[JointIEPrediction]:
        """Entities of the non-null entity queries, triples of the non-null relation queries, made consistent by the
        rule of `config.relation_arguments` (module docstring); batched on tensors. An entity (a triple) is kept when
        its type probability exceeds the class threshold and its (each argument's) boundary probability
        `P_start * P_end` exceeds `config.entity_boundary_threshold`; `threshold` / `relation_threshold` override the
        config's `entity_threshold` / `relation_threshold`. With `config.nested=False` only the best of overlapping
        entities is kept (flat decoding)."""
        config = self.config
        threshold = config.entity_threshold if threshold is None else threshold
        relation_threshold = config.relation_threshold if relation_threshold is None else relation_threshold
        word_mask = batch["word_mask"].bool()
        num_rows, num_words = word_mask.shape
        num_types, null_type = config.num_entity_types, config.num_entity_types

        # entity set (Eqs. 7-9)
        start, end, boundary = self._best_spans(outputs.entity_start_logits, outputs.entity_end_logits, word_mask)
        boundary_threshold = config.entity_boundary_threshold
        type_prob, label = torch.softmax(outputs.entity_type_logits, -1).max(-1)
        score = type_prob * boundary
        keep = (label != null_type) & (type_prob > threshold) & (boundary > boundary_threshold)
        rows, queries = keep.nonzero(as_tuple=True)
        candidates = [(rows, start[rows, queries], end[rows, queries], label[rows, queries], score[rows, queries])]

        # triples: arguments take the argmax non-null entity type
        arg_start, arg_end, arg_boundary = self._best_spans(
            outputs.argument_start_logits, outputs.argument_end_logits, word_mask
        )
        arg_type_prob, arg_label = torch.softmax(outputs.argument_type_logits, -1)[..., :num_types].max(-1)
        arg_score = arg_type_prob * arg_boundary
        relation_prob, relation_label = torch.softmax(outputs.relation_type_logits, -1).max(-1)
        head_score, tail_score = arg_score.chunk(2, dim=1)
        relation_score = relation_prob * head_score * tail_score
        head_boundary, tail_boundary = arg_boundary.chunk(2, dim=1)
        keep = (relation_label != config.num_relation_types) & (relation_prob > relation_threshold)
        keep &= (head_boundary > boundary_threshold) & (tail_boundary > boundary_threshold)
        rel_rows, rel_queries = keep.nonzero(as_tuple=True)
        argument_queries = torch.cat([rel_queries, rel_queries + relation_prob.size(1)])
        argument_rows = rel_rows.repeat(2)
        argument_keys = self._entity_key(
            argument_rows, arg_start[argument_rows, argument_queries], arg_end[argument_rows, argument_queries],
            arg_label[argument_rows, argument_queries], num_words,
        )
        if config.relation_arguments == "add":
            candidates.append(
                (argument_rows, arg_start[argument_rows, argument_queries], arg_end[argument_rows, argument_queries],
                 arg_label[argument_rows, argument_queries], arg_score[argument_rows, argument_queries])
            )

        # merge duplicates: one entity per (row, start, end, type), the highest score
        rows, start, end, label, score = (torch.cat(column) for column in zip(*candidates))
        keys, inverse = torch.unique(self._entity_key(rows, start, end, label, num_words), return_inverse=True)
        merged_score = score.new_full((len(keys),), -1.0).scatter_reduce(0, inverse, score, reduce="amax")
        label, rest = keys % num_types, keys // num_types
        end, rest = rest % (num_words + 1), rest // (num_words + 1)
        start, rows = rest % num_words, rest // num_words
        if not config.nested:  # flat decoding: the best of overlapping entities (keys stay sorted)
            kept = best_of_overlapping(rows, start, end, merged_score)
            keys, rows, start, end, label, merged_score = (
                t[kept] for t in (keys, rows, start, end, label, merged_score)
            )
        entities = {"row": rows, "start": start, "end": end, "type": label, "score": merged_score}
        if config.num_relation_types == 0:
            return assemble_predictions(config, num_rows, entities)

        # consistency: a triple's arguments must be entities of the set (numbered within their row)
        counts, _, number_in_row = rank_within_rows(rows, num_rows)
        position = torch.searchsorted(keys, argument_keys).clamp(max=max(len(keys) - 1, 0))
        found = keys[position] == argument_keys if len(keys) else torch.zeros_like(argument_keys, dtype=torch.bool)
        argument_number = number_in_row[position] if len(keys) else argument_keys
        head_found, tail_found = found.chunk(2)
        head_number, tail_number = argument_number.chunk(2)
        valid = head_found & tail_found & (head_number != tail_number)
        rel_rows, head_number, tail_number = rel_rows[valid], head_number[valid], tail_number[valid]
        rel_queries = rel_queries[valid]
        rel_label, rel_score = relation_label[rel_rows, rel_queries], relation_score[rel_rows, rel_queries]
        # merge duplicate triples, keeping the highest score
        size = int(counts.max()) if len(keys) else 1
        num_labels = config.num_relation_types
        rel_keys, inverse = torch.unique(
            ((rel_rows * size + head_number) * size + tail_number) * num_labels + rel_label, return_inverse=True
        )
        merged = rel_score.new_full((len(rel_keys),), -1.0).scatter_reduce(0, inverse, rel_score, reduce="amax")
        relations = {
            "row": rel_keys // (num_labels * size * size),
            "head": rel_keys // (num_labels * size) % size,
            "tail": rel_keys // num_labels % size,
            "type": rel_keys % num_labels,
            "score": merged,
        }
        return assemble_predictions(config, num_rows, entities, relations)

    def _entity_key(self, rows, start, end, label, num_words: int) -> torch.Tensor:
        """A unique integer per (row, start, end, type), ordered by row, then start, end and type."""
        return ((rows * num_words + start) * (num_words + 1) + end) * self.config.num_entity_types + label


__all__ = ["BispnModel", "BispnOutput", "hungarian_match"]
