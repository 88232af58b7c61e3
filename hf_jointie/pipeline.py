"""The `"joint-ie"` pipeline: text in, entities and relations with character offsets and probabilities out.

Follows `TokenClassificationPipeline`'s split: `_sanitize_parameters` validates options, `preprocess` splits a text
into words (with character offsets) and into windows that fit the encoder, `_forward` runs the model and its `decode`
on a batch of windows, `postprocess` merges the windows of one input and maps words back to characters. `__call__`
batches the windows of all inputs sorted by length (length bucketing wastes no compute on padding) and restores the
input order; everything runs under `torch.inference_mode()`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, Pipeline

from .data import encode_words

#: Default word splitter: runs of word characters, and every other non-space character alone (the tokenization of
#: CoNLL04, ADE and SciERC).
WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


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

    Options: `threshold` (entity probability, default the model config's), `relation_threshold`, `batch_size`
    (windows per forward pass, default 8), `stride` (words two consecutive windows share, default a quarter of a
    window). Text longer than the model's `max_length` subwords is split into overlapping windows whose predictions
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

    def __call__(self, inputs: Any, batch_size: int | None = None, **kwargs):
        """Extract from one input or a list of inputs (see the class docstring)."""
        single = isinstance(inputs, (str, dict))
        items = [inputs] if single else inputs
        if not isinstance(items, (list, tuple)) or not items:
            raise TypeError(
                "joint-ie expects a string, a {'tokens': [...]} dict, or a non-empty list of those; got "
                f"{type(inputs).__name__}."
            )
        batch_size = batch_size or self._batch_size or 8
        preprocess_params, forward_params, _ = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        forward_params = {**self._forward_params, **forward_params}
        documents = [self.preprocess(item, **preprocess_params) for item in items]
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
        results = [self.postprocess(document) for document in documents]
        return results[0] if single else results

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
        sizes = np.array([len(ids) or 1 for ids in self.tokenizer(tokens, add_special_tokens=False)["input_ids"]])
        budget = self.model.config.max_length - self.tokenizer.num_special_tokens_to_add()
        if sizes.max() > budget:
            raise ValueError(f"A single word has {sizes.max()} subwords, more than the model's window of {budget}.")
        windows, start = [], 0
        ends = np.cumsum(sizes)
        while True:
            end = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + budget, side="right"))
            windows.append({"offset": start, "tokens": tokens[start:end], "size": int(sizes[start:end].sum())})
            if end >= len(tokens):
                break
            window_stride = (end - start) // 4 if stride is None else stride
            start = max(end - window_stride, start + 1)
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
        """Merge the window predictions of one input into one list of entities and relations (best score wins) and
        express offsets in characters (text input) or tokens (pre-tokenized input)."""
        best_entities: dict[tuple, dict] = {}
        best_relations: dict[tuple, dict] = {}
        for window in document["windows"]:
            prediction, offset = window.get("prediction"), window["offset"]
            if prediction is None:
                continue
            keys = []
            for entity in prediction["entities"]:
                fragments = [[s + offset, e + offset] for s, e in entity.get("fragments", [])]
                key = (entity["start"] + offset, entity["end"] + offset, entity["type"], tuple(map(tuple, fragments)))
                keys.append(key)
                if key not in best_entities or entity["score"] > best_entities[key]["score"]:
                    best_entities[key] = {"score": entity["score"], "fragments": fragments}
            for relation in prediction["relations"]:
                key = (keys[relation["head"]], keys[relation["tail"]], relation["type"])
                if key not in best_relations or relation["score"] > best_relations[key]["score"]:
                    best_relations[key] = {"score": relation["score"]}
        ordered = sorted(best_entities, key=lambda key: key[:2] + (key[2],))
        ids = {key: i for i, key in enumerate(ordered)}
        entities = [self._entity(document, i, key, best_entities[key]) for i, key in enumerate(ordered)]
        relations = [
            {"head": ids[head], "tail": ids[tail], "type": label, "score": value["score"]}
            for (head, tail, label), value in sorted(best_relations.items(), key=lambda item: (ids[item[0][0]], ids[item[0][1]], item[0][2]))
        ]
        return {"entities": entities, "relations": relations}

    @staticmethod
    def _entity(document: dict[str, Any], entity_id: int, key: tuple, value: dict) -> dict[str, Any]:
        start, end, label, _ = key
        fragments = value["fragments"] or [[start, end]]
        text, offsets, tokens = document["text"], document["offsets"], document["tokens"]
        if text is None:
            entity = {"id": entity_id, "text": " ".join(" ".join(tokens[s:e]) for s, e in fragments), "type": label,
                      "start": start, "end": end, "score": value["score"]}
            if len(fragments) > 1:
                entity["fragments"] = fragments
            return entity
        char_fragments = [[offsets[s][0], offsets[e - 1][1]] for s, e in fragments]
        char_start, char_end = char_fragments[0][0], char_fragments[-1][1]
        entity = {"id": entity_id, "text": text[char_start:char_end], "type": label,
                  "start": char_start, "end": char_end, "score": value["score"]}
        if len(fragments) > 1:
            entity["fragments"] = char_fragments
        return entity
