"""BiSPN building blocks: the query path through the pretrained encoder's own layers (Sect. 3.2.1), the one-way
blocks of the shared decoder (Sect. 3.2.2), the boundary predictor (Eq. 4), and the copy of a pretrained BERT-style
layer into a block.

The queries' path through the encoder. Tokens never attend to queries (one-way self-attention), so the token states of
every encoder layer are those of the backbone run on the tokens alone; the query rows of encoder layer `l` are the
layer applied to the queries with keys and values `[tokens at the layer's input; queries]` (one softmax over both, as
in the concatenated input of Eq. 1). [`backbone_query_layer`] computes exactly those rows with the layer's own
pretrained modules (its query/key/value projections, output projection, LayerNorms and feed-forward) for BERT-style
layers (BERT, RoBERTa, ELECTRA, MiniLM, ...: `attention.self.{query,key,value}`, `attention.output`, `intermediate`,
`output`), so no parameter is added there, as in the paper and the authors' code. For other encoders (T5, ...) the
query rows go through one added [`OneWayBlock`] per encoder layer instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_bispn import BispnConfig

#: The submodules a BERT-style encoder layer needs for [`backbone_query_layer`] and [`copy_bert_layer`].
_BERT_LAYER_PARTS = (
    "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
    "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
)


def bert_style_layers(encoder: nn.Module) -> nn.ModuleList | None:
    """The encoder's layer list when every layer has BERT's structure (`encoder.encoder.layer`), else None."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or not len(layers):
        return None
    for layer in layers:
        for part in _BERT_LAYER_PARTS:
            try:
                layer.get_submodule(part)
            except AttributeError:
                return None
        if getattr(layer.attention.self, "position_embedding_type", "absolute") != "absolute":
            return None  # relative position scores would need positions for the queries
    return layers


def backbone_query_layer(
    layer: nn.Module, tokens: torch.Tensor, queries: torch.Tensor, token_mask: torch.Tensor
) -> torch.Tensor:
    """The query rows of one BERT-style encoder layer under one-way self-attention (module docstring): queries
    (`batch x M x d`) attend to `[tokens; queries]` (`tokens` the layer's input, `token_mask` True for real tokens)
    with the layer's own weights, then its residual LayerNorms and feed-forward."""
    attention = layer.attention.self
    heads, size = attention.num_attention_heads, attention.attention_head_size
    batch, num_queries, _ = queries.shape
    memory = torch.cat([tokens, queries], dim=1)

    def split(states: torch.Tensor) -> torch.Tensor:
        return states.view(batch, -1, heads, size).transpose(1, 2)

    visible = torch.cat([token_mask.bool(), token_mask.new_ones(batch, num_queries, dtype=torch.bool)], dim=1)
    context = F.scaled_dot_product_attention(
        split(attention.query(queries)), split(attention.key(memory)), split(attention.value(memory)),
        attn_mask=visible[:, None, None, :], dropout_p=attention.dropout.p if layer.training else 0.0,
    )
    hidden = layer.attention.output(context.transpose(1, 2).reshape(batch, num_queries, heads * size), queries)
    return layer.output(layer.intermediate(hidden), hidden)


class OneWayBlock(nn.Module):
    """One-way self-attention over [tokens; queries] (tokens see tokens, queries see both), optionally bidirectional
    self-attention among the queries, then a feed-forward layer. `update_tokens=False` computes the query rows only
    (the encoder's query path, whose token rows are the backbone's own states)."""

    def __init__(self, config: BispnConfig, update_tokens: bool, query_self_attention: bool):
        super().__init__()
        d, heads, p = config.hidden_size, config.num_attention_heads, config.dropout
        self.update_tokens = update_tokens
        self.attention = nn.MultiheadAttention(d, heads, dropout=p, batch_first=True)
        self.attention_norm = nn.LayerNorm(d)
        if query_self_attention:
            self.query_attention = nn.MultiheadAttention(d, heads, dropout=p, batch_first=True)
            self.query_norm = nn.LayerNorm(d)
        else:
            self.query_attention = None
        ffn = config.intermediate_size
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Linear(ffn, d))
        self.ffn_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(p)

    def _feed_forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.ffn_norm(states + self.dropout(self.ffn(states)))

    def forward(
        self, tokens: torch.Tensor, queries: torch.Tensor, padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keys = torch.cat([tokens, queries], dim=1)
        key_padding = torch.cat([padding, padding.new_zeros(queries.shape[:2])], dim=1)
        update = self.attention(queries, keys, keys, key_padding_mask=key_padding, need_weights=False)[0]
        queries = self.attention_norm(queries + self.dropout(update))
        if self.update_tokens:
            update = self.attention(tokens, tokens, tokens, key_padding_mask=padding, need_weights=False)[0]
            tokens = self._feed_forward(self.attention_norm(tokens + self.dropout(update)))
        if self.query_attention is not None:
            update = self.query_attention(queries, queries, queries, need_weights=False)[0]
            queries = self.query_norm(queries + self.dropout(update))
        return tokens, self._feed_forward(queries)


class BoundaryPredictor(nn.Module):
    """Eq. 4: `S_i = Linear(ReLU(Linear(H_i) + Linear(H^x)))`, logits over words for every query (padding -> min)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.token = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, 1)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        fused = torch.relu(self.query(queries).unsqueeze(2) + self.token(tokens).unsqueeze(1))
        logits = self.out(fused).squeeze(-1)
        return logits.masked_fill(padding.unsqueeze(1), torch.finfo(logits.dtype).min)


def _mlp(hidden: int, outputs: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, outputs))


def _decoder_layers(config: BispnConfig, count: int) -> nn.ModuleList:
    """Transformer decoder layers (query self-attention, cross-attention to the view's tokens, feed-forward)."""
    return nn.ModuleList(
        nn.TransformerDecoderLayer(
            config.hidden_size, config.num_attention_heads, config.intermediate_size, config.dropout,
            activation="gelu", batch_first=True,
        )
        for _ in range(count)
    )


@torch.no_grad()
def copy_bert_layer(layer: nn.Module, block: OneWayBlock) -> None:
    """Initialise a shared-decoder block from a pretrained BERT-style layer: its one-way attention and the query
    self-attention from the layer's self-attention, the LayerNorms and the feed-forward from the layer's."""
    attention = layer.attention.self
    in_weight = torch.cat([attention.query.weight, attention.key.weight, attention.value.weight])
    in_bias = torch.cat([attention.query.bias, attention.key.bias, attention.value.bias])
    pairs = [(layer.attention.output.LayerNorm, block.attention_norm), (layer.intermediate.dense, block.ffn[0]),
             (layer.output.dense, block.ffn[2]), (layer.output.LayerNorm, block.ffn_norm)]
    targets = [(block.attention, block.attention_norm)]
    if block.query_attention is not None:
        targets.append((block.query_attention, block.query_norm))
        pairs.append((layer.attention.output.LayerNorm, block.query_norm))
    for target, _ in targets:
        target.in_proj_weight.copy_(in_weight)
        target.in_proj_bias.copy_(in_bias)
        target.out_proj.weight.copy_(layer.attention.output.dense.weight)
        target.out_proj.bias.copy_(layer.attention.output.dense.bias)
    for source, target in pairs:
        target.weight.copy_(source.weight)
        target.bias.copy_(source.bias)
