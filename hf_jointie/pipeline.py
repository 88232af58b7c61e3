"""The `"joint-ie"` pipeline: text in, entities and relations with character offsets and probabilities out.

Follows `TokenClassificationPipeline`'s split: `_sanitize_parameters` validates options, `preprocess` splits a text
into words (with character offsets) and into windows that fit the encoder, `_forward` runs the model and its `decode`
on a batch of windows, `postprocess` merges the windows of one input and maps words back to characters. `__call__`
batches the windows of its inputs sorted by length (length bucketing wastes no compute on padding) and restores the
input order; everything runs under `torch.inference_mode()`.

Many inputs are consumed in blocks of `block_size` documents (default 64 batches' worth): each block is preprocessed,
bucketed and run, and its results are handed out before the next block is read, so memory stays bounded on a stream
of any length. A list or tuple returns a list; a generator, a torch `Dataset` (e.g. `KeyDataset`) or any other
iterable returns a lazy iterator, as `transformers` pipelines do. With `num_workers > 0` preprocessing (word
splitting, tokenization, windowing) runs in `DataLoader` worker processes while the model runs; an iterable that is
not a map-style dataset can only be read by one worker, so more are reduced to one (the rule `Pipeline.get_iterator`
applies).

Empty input, chosen rule: a single empty or whitespace-only text raises `ValueError` (a caller who passes one text
wants to know it was blank), while inside a batch or stream it gets `{"entities": [], "relations": []}` (one blank
row must not sink a corpus; the token-classification pipeline returns `[]` for it). A non-text item in a batch
raises `TypeError` naming its index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm.auto import tqdm
from transformers import AutoTokenizer, Pipeline
from transformers.utils import logging

from .data import encode_words, merge_windows, window_budget, window_spans, word_lengths

#: Default word splitter: runs of word characters, and every other non-space character alone (the tokenization of
#: CoNLL04, ADE and SciERC).
WORD_PATTERN = re.compile(r"\w+|[^\w\s]")

logger = logging.get_logger(__name__)


def backbone_tokenizer(config) -> Any:
    """The tokenizer of the backbone `config.encoder_config` names (its `name_or_path`), for checkpoints that carry
    no tokenizer files, as the ITER authors' released checkpoints do (their code loads it the same way). Only the
    tokenizer comes from there, never weights."""
    name = getattr(config.encoder_config, "_name_or_path", "") or ""
    if not name:
        raise ValueError(
            "The checkpoint has no tokenizer files and its encoder_config names no backbone to take one from; pass "
            "`tokenizer=` to `pipeline(\"joint-ie\", ...)`."
        )
    model_type = config.encoder_config.model_type
    kwargs = {"add_prefix_space": True} if "roberta" in model_type or "bart" in model_type else {}
    return AutoTokenizer.from_pretrained(name, **kwargs)


class JointIEPipeline(Pipeline):
    """Joint entity and relation extraction with any hf_jointie model.

    Inputs: a string, a list of strings, a pre-tokenized `{"tokens": [...]}` (offsets are then token indices), or a
    list of those. Each result is `{"entities": [{"id", "text", "type", "start", "end", "score"(, "fragments")}],
    "relations": [{"head", "tail", "type", "score"}]}` where `head` / `tail` are entity ids and, for text input,
    `text[start:end] == entity["text"]`.

    Also accepted: a generator, a torch `Dataset` such as `KeyDataset(dataset, "text")`, or any iterable of inputs;
    the results then come lazily, in input order (see the module docstring for memory, empty texts and workers).

    Options: `threshold` (entity probability, default the model config's), `relation_threshold`, `batch_size`
    (windows per forward pass, default 8), `stride` (words two consecutive windows share, default a quarter of a
    window), `block_size` (documents read, bucketed and run at a time), `num_workers` (preprocessing processes,
    default 0: in this process), `progress` (a tqdm bar over the inputs; its total is shown when they have a
    length). Text longer than the model's `max_length` subwords is split into overlapping windows whose predictions
    are merged (an entity or relation found in several windows keeps its highest score): nothing is truncated.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    #: soft: a checkpoint directory without tokenizer files falls back to its backbone's tokenizer (see `__init__`)
    _load_tokenizer = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.tokenizer is None:
            self.tokenizer = backbone_tokenizer(self.model.config)

    def get_inference_context(self):
        return torch.inference_mode

    def _sanitize_parameters(
        self,
        threshold: float | None = None,
        relation_threshold: float | None = None,
        stride: int | None = None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"Unknown joint-ie pipeline option(s): {sorted(kwargs)}")
        forward_params = {}
        for name, value in (("threshold", threshold), ("relation_threshold", relation_threshold)):
            if value is not None:
                if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise ValueError(f"`{name}` must be a probability in [0, 1], got {value!r}.")
                forward_params[name] = float(value)
        preprocess_params = {}
        if stride is not None:
            if not isinstance(stride, int) or stride < 0:
                raise ValueError(f"`stride` must be a non-negative number of words, got {stride!r}.")
            preprocess_params["stride"] = stride
        return preprocess_params, forward_params, {}

    def __call__(
        self,
        inputs: Any,
        batch_size: int | None = None,
        num_workers: int | None = None,
        block_size: int | None = None,
        progress: bool = False,
        **kwargs,
    ):
        """Extract from one input, a list of inputs, or a stream of them (see the class docstring)."""
        batch_size = (self._batch_size or 8) if batch_size is None else batch_size
        num_workers = (self._num_workers or 0) if num_workers is None else num_workers
        block_size = 64 * batch_size if block_size is None and isinstance(batch_size, int) else block_size
        for name, value, least in (("batch_size", batch_size, 1), ("block_size", block_size, 1),
                                   ("num_workers", num_workers, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"`{name}` must be an integer >= {least}, got {value!r}.")
        preprocess_params, forward_params, _ = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        forward_params = {**self._forward_params, **forward_params}
        if isinstance(inputs, (str, dict)):
            return self._extract([self.preprocess(inputs, **preprocess_params)], batch_size, forward_params)[0]
        if isinstance(inputs, (list, tuple)) and not inputs:
            raise TypeError("joint-ie expects a string, a {'tokens': [...]} dict, or a non-empty list of those; got an "
                            "empty list.")
        map_style = isinstance(inputs, (list, tuple)) or (
            isinstance(inputs, Dataset) and not isinstance(inputs, IterableDataset)
        )
        if not map_style and (not isinstance(inputs, Iterable) or isinstance(inputs, (bytes, bytearray))):
            raise TypeError(
                "joint-ie expects a string, a {'tokens': [...]} dict, or a list, generator or dataset of those; got "
                f"{type(inputs).__name__}."
            )
        prepare = partial(self._prepare, **preprocess_params)
        prepared = _PreparedMap(inputs, prepare) if map_style else _PreparedStream(inputs, prepare)
        if num_workers > 1 and not map_style:
            logger.warning("joint-ie: an iterable input can only be read by one worker; using num_workers=1.")
            num_workers = 1
        documents = iter(prepared) if num_workers == 0 else iter(
            DataLoader(prepared, batch_size=None, num_workers=num_workers, collate_fn=_identity)
        )
        total = len(inputs) if map_style else getattr(inputs, "__len__", lambda: None)()
        bar = tqdm(total=total, disable=not progress)
        results = self._stream(documents, batch_size, block_size, forward_params, bar)
        return list(results) if isinstance(inputs, (list, tuple)) else results

    def _stream(
        self, documents: Iterator[dict], batch_size: int, block_size: int, forward_params: dict, bar: tqdm
    ) -> Iterator[dict[str, list]]:
        """Results of `documents`, in order, running them `block_size` at a time so memory does not grow."""
        with bar:
            while block := list(islice(documents, block_size)):
                results = self._extract(block, batch_size, forward_params)
                bar.update(len(block))
                yield from results

    def _extract(self, documents: list[dict], batch_size: int, forward_params: dict) -> list[dict[str, list]]:
        """Run the windows of preprocessed `documents` in batches sorted by length; one result per document."""
        windows = [(doc, w) for doc, document in enumerate(documents) for w in range(len(document["windows"]))]
        order = sorted(range(len(windows)), key=lambda i: -documents[windows[i][0]]["windows"][windows[i][1]]["size"])
        window_predictions: list[dict | None] = [None] * len(windows)
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            tokens = [documents[windows[i][0]]["windows"][windows[i][1]]["tokens"] for i in chunk]
            for i, prediction in zip(chunk, self.forward({"tokens": tokens}, **forward_params)):
                window_predictions[i] = prediction
        for (doc, w), prediction in zip(windows, window_predictions):
            documents[doc]["windows"][w]["prediction"] = prediction
        return [self.postprocess(document) for document in documents]

    def _prepare(self, index: int, item: Any, **preprocess_params) -> dict[str, Any]:
        """`preprocess` for item `index` of a batch: an empty text (or token list) becomes a document without windows
        (an empty result), and an error names the item's index."""
        if isinstance(item, str) and not item.strip() or isinstance(item, dict) and item.get("tokens") == []:
            text = item if isinstance(item, str) else None
            return {"text": text, "tokens": [], "offsets": [] if text is not None else None, "windows": []}
        try:
            return self.preprocess(item, **preprocess_params)
        except (TypeError, ValueError) as error:
            raise type(error)(f"joint-ie input {index}: {error}") from error

    def preprocess(self, inputs: Any, stride: int | None = None) -> dict[str, Any]:
        """Split one input into words (with character offsets for text) and into windows of at most `max_length`
        subwords, consecutive windows sharing `stride` words."""
        if isinstance(inputs, dict):
            tokens = inputs.get("tokens")
            if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
                raise ValueError("A pre-tokenized input must be {'tokens': [non-empty strings]} with at least one token.")
            text, offsets = None, None
        elif isinstance(inputs, str):
            if not inputs.strip():
                raise ValueError("joint-ie got an empty or whitespace-only text; there is nothing to extract from.")
            matches = list(WORD_PATTERN.finditer(inputs))
            tokens = [match.group() for match in matches]
            text, offsets = inputs, [match.span() for match in matches]
        else:
            raise TypeError(f"joint-ie cannot read an input of type {type(inputs).__name__}; pass text or {{'tokens'}}.")
        sizes = word_lengths(self.tokenizer, [tokens])[0]
        spans = window_spans(sizes, window_budget(self.tokenizer, self.model.config.max_length), stride)
        windows = [
            {"offset": start, "tokens": tokens[start:end], "size": int(sizes[start:end].sum())} for start, end in spans
        ]
        return {"text": text, "tokens": tokens, "offsets": offsets, "windows": windows}

    def _forward(self, model_inputs: dict[str, Any], threshold=None, relation_threshold=None) -> list[dict]:
        batch = encode_words(self.tokenizer, model_inputs["tokens"])
        batch = {key: value.to(self.device) for key, value in batch.items()}
        outputs = self.model(**batch)
        return self.model.decode(outputs, batch, threshold=threshold, relation_threshold=relation_threshold)

    def forward(self, model_inputs, **forward_params):
        with self.device_placement(), self.get_inference_context()():
            return self._forward(model_inputs, **forward_params)

    def postprocess(self, document: dict[str, Any]) -> dict[str, list]:
        """Merge the window predictions of one input into one list of entities and relations with
        [`~hf_jointie.data.merge_windows`] (the rule evaluation uses, so both score the same output) and express
        offsets in characters (text input) or tokens (pre-tokenized input)."""
        windows = [window for window in document["windows"] if window.get("prediction") is not None]
        merged = merge_windows([window["prediction"] for window in windows], [window["offset"] for window in windows])
        entities = [self._entity(document, i, entity) for i, entity in enumerate(merged["entities"])]
        return {"entities": entities, "relations": merged["relations"]}

    @staticmethod
    def _entity(document: dict[str, Any], entity_id: int, entity: dict[str, Any]) -> dict[str, Any]:
        start, end, label, score = entity["start"], entity["end"], entity["type"], entity["score"]
        fragments = entity.get("fragments") or [[start, end]]
        text, offsets, tokens = document["text"], document["offsets"], document["tokens"]
        if text is None:
            output = {"id": entity_id, "text": " ".join(" ".join(tokens[s:e]) for s, e in fragments), "type": label,
                      "start": start, "end": end, "score": score}
            if len(fragments) > 1:
                output["fragments"] = fragments
            return output
        char_fragments = [[offsets[s][0], offsets[e - 1][1]] for s, e in fragments]
        char_start, char_end = char_fragments[0][0], char_fragments[-1][1]
        output = {"id": entity_id, "text": text[char_start:char_end], "type": label,
                  "start": char_start, "end": char_end, "score": score}
        if len(fragments) > 1:
            output["fragments"] = char_fragments
        return output


def _identity(item: Any) -> Any:
    """`collate_fn` that hands a preprocessed document over unchanged (a module function, so workers can pickle it)."""
    return item


class _PreparedMap(Dataset):
    """A list or map-style dataset of inputs, preprocessed on access (in `DataLoader` workers when there are any)."""

    def __init__(self, inputs: Any, prepare: Callable[[int, Any], dict]):
        self.inputs, self.prepare = inputs, prepare

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict:
        return self.prepare(index, self.inputs[index])

    def __iter__(self) -> Iterator[dict]:
        return (self[index] for index in range(len(self)))


class _PreparedStream(IterableDataset):
    """An iterable of inputs, preprocessed as it is read."""

    def __init__(self, inputs: Iterable, prepare: Callable[[int, Any], dict]):
        self.inputs, self.prepare = inputs, prepare

    def __iter__(self) -> Iterator[dict]:
        return (self.prepare(index, item) for index, item in enumerate(self.inputs))
