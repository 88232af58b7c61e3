"""The one data schema every architecture reads, its validation, and word -> subword alignment.

A record is one sentence: `{"id", "tokens": [str], "entities": [{"start", "end", "type", "fragments"?}],
"relations": [{"head", "tail", "type"}]}` with token offsets (`end` exclusive) and relations indexing `entities`
(see `../shared/data/README.md`). Discontinuous entities carry `fragments` (`[[start, end], ...]`); in a `datasets`
table a continuous entity has `fragments == []`, so that the explicit [`FEATURES`] are the same for every dataset and a
converted dataset can be `push_to_hub`-ed and loaded back unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Features, List, Value, load_from_disk

FEATURES = Features(
    {
        "id": Value("string"),
        "tokens": List(Value("string")),
        "entities": List(
            {
                "start": Value("int32"),
                "end": Value("int32"),
                "type": Value("string"),
                "fragments": List(List(Value("int32"))),
            }
        ),
        "relations": List({"head": Value("int32"), "tail": Value("int32"), "type": Value("string")}),
    }
)

#: File stems recognised as splits in a dataset directory (`dev` and `validation` are both accepted).
SPLIT_NAMES = ("train", "dev", "validation", "test")


def _fail(where: str, problem: str) -> None:
    raise ValueError(f"{where}: {problem}")


def _check_int(where: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"`{name}` must be an integer, got {value!r}")


def _span_key(entity: Mapping[str, Any]) -> tuple:
    """Span identity of an entity: its boundaries and fragments (two entities with one key but two types nest)."""
    fragments = entity.get("fragments") or [[entity["start"], entity["end"]]]
    return tuple(tuple(fragment) for fragment in fragments)


def normalize_example(
    example: Mapping[str, Any],
    where: str = "example",
    entity_types: Sequence[str] | None = None,
    relation_types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Validate one record of the schema and return it with exactly the [`FEATURES`] keys.

    Unknown extra keys are dropped. Every problem raises a `ValueError` that starts with `where` (e.g.
    `"train.jsonl line 12"`): a missing key, a span outside the sentence, `start >= end`, overlapping or unordered
    fragments, a relation that indexes a missing entity, or a label outside `entity_types` / `relation_types` when
    those are given.
    """
    if not isinstance(example, Mapping):
        _fail(where, f"a record must be a JSON object, got {type(example).__name__}")
    for key in ("tokens", "entities", "relations"):
        if key not in example:
            _fail(where, f"missing key `{key}`")
    tokens = example["tokens"]
    if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
        _fail(where, "`tokens` must be a list of strings")
    if not tokens:
        _fail(where, "`tokens` is empty")
    num_tokens = len(tokens)
    entities = []
    for index, entity in enumerate(example["entities"]):
        at = f"{where}, entity {index}"
        for key in ("start", "end", "type"):
            if key not in entity:
                _fail(at, f"missing key `{key}`")
        start, end, label = entity["start"], entity["end"], entity["type"]
        _check_int(at, "start", start)
        _check_int(at, "end", end)
        if not 0 <= start < end <= num_tokens:
            _fail(at, f"span [{start}, {end}) is not inside the sentence of {num_tokens} tokens (need start < end)")
        if entity_types is not None and label not in entity_types:
            _fail(at, f"unknown entity type {label!r} (known: {list(entity_types)})")
        fragments = [list(fragment) for fragment in (entity.get("fragments") or [])]
        if len(fragments) > 1 or (fragments and fragments[0] != [start, end]):
            previous_end = None
            for fragment in fragments:
                if len(fragment) != 2:
                    _fail(at, f"a fragment must be [start, end], got {fragment!r}")
                _check_int(at, "fragment start", fragment[0])
                _check_int(at, "fragment end", fragment[1])
                if not fragment[0] < fragment[1]:
                    _fail(at, f"fragment {fragment} is empty (need start < end)")
                if previous_end is not None and fragment[0] <= previous_end:
                    _fail(at, f"fragments {fragments} overlap, touch or are out of order")
                previous_end = fragment[1]
            if fragments[0][0] != start or fragments[-1][1] != end:
                _fail(at, f"fragments {fragments} do not start at `start`={start} and end at `end`={end}")
        else:
            fragments = []
        entities.append({"start": start, "end": end, "type": label, "fragments": fragments})
    relations = []
    for index, relation in enumerate(example["relations"]):
        at = f"{where}, relation {index}"
        for key in ("head", "tail", "type"):
            if key not in relation:
                _fail(at, f"missing key `{key}`")
        for key in ("head", "tail"):
            _check_int(at, key, relation[key])
            if not 0 <= relation[key] < len(entities):
                _fail(at, f"`{key}`={relation[key]} points at a missing entity (the sentence has {len(entities)})")
        if relation_types is not None and relation["type"] not in relation_types:
            _fail(at, f"unknown relation type {relation['type']!r} (known: {list(relation_types)})")
        relations.append({"head": relation["head"], "tail": relation["tail"], "type": relation["type"]})
    return {"id": str(example.get("id", where)), "tokens": tokens, "entities": entities, "relations": relations}


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read and validate a JSONL file of the schema; errors name the file and the line."""
    path = Path(path)
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: invalid JSON ({error.msg})") from None
            records.append(normalize_example(record, where))
    return records


def read_parquet(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read and validate a parquet file of the schema (e.g. written by `dataset_scripts`); errors name the row."""
    path = Path(path)
    return [normalize_example(row, f"{path.name} row {i}") for i, row in enumerate(Dataset.from_parquet(str(path)))]


def _read_file(path: str | os.PathLike) -> list[dict[str, Any]]:
    return read_parquet(path) if Path(path).suffix == ".parquet" else read_jsonl(path)


def _split_files(directory: Path) -> dict[str, Path]:
    """Map split names to the `*.jsonl` / `*.parquet` files of a dataset directory (`train.jsonl`,
    `fold0_test.jsonl`, `test.parquet`, ...)."""
    files = {path.stem: path for pattern in ("*.jsonl", "*.parquet") for path in sorted(directory.glob(pattern))}
    if not files:
        raise ValueError(f"{directory} holds no *.jsonl or *.parquet files")
    return files


def load_jointie_dataset(
    path: str | os.PathLike | Mapping[str, str | os.PathLike] | DatasetDict,
    splits: Iterable[str] | None = None,
) -> DatasetDict:
    """Load a dataset in the hf_jointie schema as a `DatasetDict` with the explicit [`FEATURES`].

    Args:
        path: a directory of `<split>.jsonl` or `<split>.parquet` files (`train.jsonl`, `dev.jsonl`, `test.jsonl`, or
            any other stem such as ADE's `fold0_train.jsonl`), one such file, a folder written by
            `DatasetDict.save_to_disk`, a mapping `{split: file}`, or a `DatasetDict` (validated and cast).
        splits: keep only these split names.

    Every record is validated ([`normalize_example`]); the first problem raises a `ValueError` naming the file and
    line. Unknown keys are ignored.
    """
    if isinstance(path, DatasetDict):
        tables = {name: [normalize_example(row, f"{name} row {i}") for i, row in enumerate(ds)] for name, ds in path.items()}
    elif isinstance(path, Mapping):
        tables = {name: _read_file(file) for name, file in path.items()}
    else:
        directory = Path(path)
        if not directory.exists():
            raise FileNotFoundError(f"No dataset at {directory}")
        if directory.is_file():
            tables = {directory.stem: _read_file(directory)}
        elif (directory / "dataset_dict.json").exists():
            return load_jointie_dataset(load_from_disk(str(directory)), splits)
        else:
            tables = {name: _read_file(file) for name, file in _split_files(directory).items()}
    if splits is not None:
        missing = [name for name in splits if name not in tables]
        if missing:
            raise ValueError(f"Splits {missing} not found; available: {sorted(tables)}")
        tables = {name: tables[name] for name in splits}
    return DatasetDict({name: Dataset.from_list(rows, features=FEATURES) for name, rows in tables.items()})


def label_sets(dataset: Dataset | DatasetDict) -> tuple[list[str], list[str]]:
    """The sorted entity and relation labels used anywhere in `dataset` (for `entity_types=` / `relation_types=`)."""
    parts = dataset.values() if isinstance(dataset, DatasetDict) else [dataset]
    entity_types, relation_types = set(), set()
    for part in parts:
        for entities in part["entities"]:
            entity_types.update(entity["type"] for entity in entities)
        for relations in part["relations"]:
            relation_types.update(relation["type"] for relation in relations)
    return sorted(entity_types), sorted(relation_types)


def first_subword_index(word_ids: Sequence[int | None], num_words: int) -> np.ndarray:
    """Index of each word's first subword in a tokenized sequence, from a fast tokenizer's `word_ids()`.

    A word the tokenizer turned into no subword at all (e.g. a lone zero-width character) borrows the position of the
    subword before it, so that every word still has a representation.
    """
    ids = np.array([-1 if wid is None else wid for wid in word_ids], dtype=np.int64)
    positions = np.full(num_words, -1, dtype=np.int64)
    is_first = (ids >= 0) & (ids != np.concatenate(([-2], ids[:-1])))
    positions[ids[is_first]] = np.nonzero(is_first)[0]
    # forward-fill words without a subword from the previous word (or position 0 for the first word)
    filled = np.maximum.accumulate(np.where(positions >= 0, positions, 0))
    return np.where(positions >= 0, positions, filled)


def last_subword_index(word_ids: Sequence[int | None], num_words: int) -> np.ndarray:
    """Index of each word's last subword (ITER's right bracket reads it); a word without a subword borrows the
    position [`first_subword_index`] gives it."""
    ids = np.array([-1 if wid is None else wid for wid in word_ids], dtype=np.int64)
    positions = first_subword_index(word_ids, num_words)
    is_last = (ids >= 0) & (ids != np.concatenate((ids[1:], [-2])))
    positions[ids[is_last]] = np.nonzero(is_last)[0]
    return positions


def encode_words(
    tokenizer,
    batch_tokens: Sequence[Sequence[str]],
    max_length: int | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Tokenize pre-split sentences and align words to subwords.

    Returns `input_ids`, `attention_mask` (padded to the longest sequence) plus `word_index` (`batch x words`, the
    first subword of every word), `word_end_index` (the last subword of every word) and `word_mask`. A sentence longer than `max_length` subwords raises a `ValueError`
    naming it: training data is never silently truncated (the pipeline windows long text before calling this).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("hf_jointie needs a fast tokenizer (word alignment uses `word_ids()`).")
    encoding = tokenizer(
        [list(tokens) for tokens in batch_tokens], is_split_into_words=True, padding=True, return_tensors="pt"
    )
    lengths = encoding["attention_mask"].sum(dim=1)
    if max_length is not None and int(lengths.max()) > max_length:
        row = int(lengths.argmax())
        name = names[row] if names is not None else f"sentence {row}"
        raise ValueError(
            f"{name} has {int(lengths[row])} subwords, more than max_length={max_length}; split it into shorter "
            "sentences (the joint-ie pipeline windows long text automatically)."
        )
    num_words = max(len(tokens) for tokens in batch_tokens)
    word_index = np.zeros((len(batch_tokens), num_words), dtype=np.int64)
    word_end_index = np.zeros((len(batch_tokens), num_words), dtype=np.int64)
    word_mask = np.zeros((len(batch_tokens), num_words), dtype=bool)
    for row, tokens in enumerate(batch_tokens):
        word_index[row, : len(tokens)] = first_subword_index(encoding.word_ids(row), len(tokens))
        word_end_index[row, : len(tokens)] = last_subword_index(encoding.word_ids(row), len(tokens))
        word_mask[row, : len(tokens)] = True
    return {
        "input_ids": encoding["input_ids"],
        "attention_mask": encoding["attention_mask"],
        "word_index": torch.from_numpy(word_index),
        "word_end_index": torch.from_numpy(word_end_index),
        "word_mask": torch.from_numpy(word_mask),
    }


def encode_labels(
    records: Sequence[Mapping[str, Any]], entity_types: Sequence[str], relation_types: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Gold annotations of a batch as padded tensors, the label format every architecture's `forward` accepts.

    * `entity_labels` (`batch x entities x 3`): `[start, end, type_id]` in words, `end` exclusive, `-1` padding;
    * `entity_fragments` (`batch x entities x fragments x 2`): the fragments of every entity (a continuous entity has
      the single fragment `[start, end]`), `-1` padding;
    * `relation_labels` (`batch x relations x 3`): `[head, tail, type_id]` indexing `entity_labels`, `-1` padding.

    An unknown label raises a `ValueError` naming the record.
    """
    entity_ids = {label: i for i, label in enumerate(entity_types)}
    relation_ids = {label: i for i, label in enumerate(relation_types)}
    batch = len(records)
    max_entities = max(1, max(len(r["entities"]) for r in records))
    max_relations = max(1, max(len(r["relations"]) for r in records))
    max_fragments = max(
        [1] + [len(e.get("fragments") or []) for r in records for e in r["entities"]]
    )
    entity_labels = torch.full((batch, max_entities, 3), -1, dtype=torch.long)
    fragments = torch.full((batch, max_entities, max_fragments, 2), -1, dtype=torch.long)
    relation_labels = torch.full((batch, max_relations, 3), -1, dtype=torch.long)
    for row, record in enumerate(records):
        name = record.get("id", f"sentence {row}")
        for index, entity in enumerate(record["entities"]):
            if entity["type"] not in entity_ids:
                raise ValueError(f"{name}: unknown entity type {entity['type']!r} (known: {list(entity_types)})")
            entity_labels[row, index] = torch.tensor([entity["start"], entity["end"], entity_ids[entity["type"]]])
            parts = entity.get("fragments") or [[entity["start"], entity["end"]]]
            fragments[row, index, : len(parts)] = torch.tensor(parts)
        for index, relation in enumerate(record["relations"]):
            if relation["type"] not in relation_ids:
                raise ValueError(f"{name}: unknown relation type {relation['type']!r} (known: {list(relation_types)})")
            relation_labels[row, index] = torch.tensor(
                [relation["head"], relation["tail"], relation_ids[relation["type"]]]
            )
    return {"entity_labels": entity_labels, "entity_fragments": fragments, "relation_labels": relation_labels}
