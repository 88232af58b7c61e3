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
from dataclasses import dataclass, field
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
    name = example.get("id", where)
    if isinstance(name, bool) or not isinstance(name, (str, int)):
        _fail(where, f"`id` must be a string or an integer, got {name!r}")
    for key in ("entities", "relations"):
        if not isinstance(example[key], list):
            _fail(where, f"`{key}` must be a list, got {type(example[key]).__name__}")
    num_tokens = len(tokens)
    entities = []
    for index, entity in enumerate(example["entities"]):
        at = f"{where}, entity {index}"
        if not isinstance(entity, Mapping):
            _fail(at, f"an entity must be an object, got {entity!r}")
        for key in ("start", "end", "type"):
            if key not in entity:
                _fail(at, f"missing key `{key}`")
        start, end, label = entity["start"], entity["end"], entity["type"]
        _check_int(at, "start", start)
        _check_int(at, "end", end)
        if not 0 <= start < end <= num_tokens:
            _fail(at, f"span [{start}, {end}) is not inside the sentence of {num_tokens} tokens (need start < end)")
        if not isinstance(label, str):
            _fail(at, f"`type` must be a string, got {label!r}")
        if entity_types is not None and label not in entity_types:
            _fail(at, f"unknown entity type {label!r} (known: {list(entity_types)})")
        fragments = entity.get("fragments") or []
        if not isinstance(fragments, list) or not all(isinstance(f, list) and len(f) == 2 for f in fragments):
            _fail(at, f"`fragments` must be a list of [start, end] pairs, got {fragments!r}")
        fragments = [list(fragment) for fragment in fragments]
        if len(fragments) > 1 or (fragments and fragments[0] != [start, end]):
            previous_end = None
            for fragment in fragments:
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
        if not isinstance(relation, Mapping):
            _fail(at, f"a relation must be an object, got {relation!r}")
        for key in ("head", "tail", "type"):
            if key not in relation:
                _fail(at, f"missing key `{key}`")
        if not isinstance(relation["type"], str):
            _fail(at, f"`type` must be a string, got {relation['type']!r}")
        for key in ("head", "tail"):
            _check_int(at, key, relation[key])
            if not 0 <= relation[key] < len(entities):
                _fail(at, f"`{key}`={relation[key]} points at a missing entity (the sentence has {len(entities)})")
        if relation_types is not None and relation["type"] not in relation_types:
            _fail(at, f"unknown relation type {relation['type']!r} (known: {list(relation_types)})")
        relations.append({"head": relation["head"], "tail": relation["tail"], "type": relation["type"]})
    return {"id": str(name), "tokens": tokens, "entities": entities, "relations": relations}


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read and validate a JSONL file of the schema; errors name the file and the line."""
    path = Path(path)
    records = []
    with path.open(encoding="utf-8-sig") as handle:  # -sig: a byte-order mark some editors write is not data
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


# --- Long examples: the windows the pipeline, the collator and evaluation share -----------------------------------


def word_lengths(tokenizer, batch_tokens: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Subwords each word of each sentence takes alone (at least 1): the measure every window is cut by.

    One tokenizer call for the whole batch. A word the tokenizer turns into nothing counts as 1, so a window's sum
    never underestimates its encoded length.
    """
    words = [word for tokens in batch_tokens for word in tokens]
    ids = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    flat = np.array([len(pieces) or 1 for pieces in ids], dtype=np.int64)
    return np.split(flat, np.cumsum([len(tokens) for tokens in batch_tokens])[:-1])


def window_budget(tokenizer, max_length: int) -> int:
    """Subwords of words a window may hold: `max_length` minus the special tokens the tokenizer adds."""
    return max_length - tokenizer.num_special_tokens_to_add()


def window_spans(lengths: Sequence[int], budget: int, stride: int | None = None) -> list[tuple[int, int]]:
    """Split a sentence of words with the given subword `lengths` into windows `[(start, end), ...]` (word offsets,
    `end` exclusive) of at most `budget` subwords each.

    Each window is as long as fits; the next one starts `stride` words before the previous one ended (default a
    quarter of the previous window), and always at least one word later, so that the windows cover every word and an
    entity near a window's edge is seen whole by its neighbour. A sentence that fits is one window. This is the one
    windowing of the `joint-ie` pipeline, the training collator and evaluation, so a model is trained and scored on
    the windows it sees at inference. A single word longer than the budget raises a `ValueError`.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size == 0:
        return []
    if lengths.max() > budget:
        raise ValueError(f"A single word has {lengths.max()} subwords, more than the model's window of {budget}.")
    ends = np.cumsum(lengths)
    spans, start = [], 0
    while True:
        end = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + budget, side="right"))
        spans.append((start, end))
        if end >= len(lengths):
            return spans
        window_stride = (end - start) // 4 if stride is None else stride
        start = max(end - window_stride, start + 1)


def window_record(record: Mapping[str, Any], spans: Sequence[tuple[int, int]]) -> tuple[list[dict[str, Any]], int, int]:
    """Cut one record of the schema into the windows `spans` (from [`window_spans`]).

    Returns `(windows, lost_entities, lost_relations)`. A window keeps the entities wholly inside it (offsets made
    window-relative, fragments too) and the relations whose two arguments it keeps. An entity no window holds whole,
    and a relation whose arguments share no window, cannot be trained on; they are counted, not silently dropped.
    """
    entities = list(record.get("entities") or [])
    relations = list(record.get("relations") or [])
    held_entities: set[int] = set()
    held_relations: set[int] = set()
    windows = []
    for start, end in spans:
        local = {}
        window_entities = []
        for index, entity in enumerate(entities):
            if start <= entity["start"] and entity["end"] <= end:
                local[index] = len(window_entities)
                window_entities.append({
                    "start": entity["start"] - start, "end": entity["end"] - start, "type": entity["type"],
                    "fragments": [[s - start, e - start] for s, e in entity.get("fragments") or []],
                })
        window_relations = []
        for index, relation in enumerate(relations):
            if relation["head"] in local and relation["tail"] in local:
                held_relations.add(index)
                window_relations.append(
                    {"head": local[relation["head"]], "tail": local[relation["tail"]], "type": relation["type"]}
                )
        held_entities.update(local)
        name = record.get("id")
        windows.append({
            "id": name if len(spans) == 1 else f"{name} [words {start}:{end}]",
            "tokens": list(record["tokens"][start:end]),
            "entities": window_entities,
            "relations": window_relations,
        })
    return windows, len(entities) - len(held_entities), len(relations) - len(held_relations)


def merge_windows(predictions: Sequence[Mapping[str, Any]], offsets: Sequence[int]) -> dict[str, list]:
    """Merge the predictions of one sentence's windows (word offsets relative to each window, which starts at
    `offsets[i]`) into one prediction in sentence offsets.

    An entity (boundaries, type and fragments) or a relation (both arguments and type) found in several overlapping
    windows is kept once, with its highest score; entities come out sorted by `(start, end, type)`. The rule is the
    pipeline's, so evaluation scores exactly what `pipeline("joint-ie")` would return for the sentence.
    """
    best_entities: dict[tuple, dict] = {}
    best_relations: dict[tuple, float] = {}
    for prediction, offset in zip(predictions, offsets):
        keys = []
        for entity in prediction["entities"]:
            fragments = tuple((s + offset, e + offset) for s, e in entity.get("fragments") or [])
            key = (entity["start"] + offset, entity["end"] + offset, entity["type"], fragments)
            keys.append(key)
            if key not in best_entities or entity["score"] > best_entities[key]["score"]:
                best_entities[key] = {"start": key[0], "end": key[1], "type": key[2], "score": entity["score"]}
                if len(fragments) > 1:
                    best_entities[key]["fragments"] = [list(fragment) for fragment in fragments]
        for relation in prediction["relations"]:
            key = (keys[relation["head"]], keys[relation["tail"]], relation["type"])
            best_relations[key] = max(relation["score"], best_relations.get(key, -1.0))
    ordered = sorted(best_entities, key=lambda key: key[:3] + (key[3],))
    ids = {key: i for i, key in enumerate(ordered)}
    relations = sorted(
        ({"head": ids[head], "tail": ids[tail], "type": label, "score": score}
         for (head, tail, label), score in best_relations.items()),
        key=lambda relation: (relation["head"], relation["tail"], relation["type"]),
    )
    return {"entities": [best_entities[key] for key in ordered], "relations": relations}


@dataclass
class WindowReport:
    """What windowing does to one split (see [`check_long_examples`]).

    `long_examples` lists `(row, id, subwords)` of every example longer than the window; `windows` is how many
    windows those become; `lost_entities` / `lost_relations` count the gold annotations no window can hold (training
    cannot learn them; evaluation still scores them, as misses); `unsplittable` lists `(row, id, subwords)` of
    examples holding a single word longer than the window.
    """

    split: str
    examples: int
    max_length: int
    long_examples: list[tuple[int, str, int]] = field(default_factory=list)
    windows: int = 0
    lost_entities: int = 0
    lost_relations: int = 0
    unsplittable: list[tuple[int, str, int]] = field(default_factory=list)

    def summary(self) -> str:
        if not self.long_examples:
            return f"{self.split}: all {self.examples} examples fit the window of {self.max_length} subwords"
        return (
            f"{self.split}: {len(self.long_examples)} of {self.examples} examples are longer than {self.max_length} "
            f"subwords and become {self.windows} overlapping windows; {self.lost_entities} gold entities and "
            f"{self.lost_relations} gold relations fit in no window (not trained on; scored as misses)"
        )


def check_long_examples(
    splits: Mapping[str, Dataset],
    tokenizer,
    max_length: int,
    stride: int | None = None,
    allow_windows: bool = True,
    locations: Mapping[str, Sequence[str]] | None = None,
    count_relations: bool = True,
) -> dict[str, WindowReport]:
    """Measure every example of `splits` against the window of `max_length` subwords, before the first step.

    Returns one [`WindowReport`] per split. Raises one `ValueError` listing every example that cannot be used — each
    with its location (`locations[split][row]`, e.g. from [`record_locations`]: file and line), id and length — when
    a single word is longer than the window, or, with `allow_windows=False` (an architecture or a user that will not
    train on windows), when any example is longer than `max_length`. Relations are ignored with
    `count_relations=False` (an entity-only model).
    """
    budget = window_budget(tokenizer, max_length)
    specials = tokenizer.num_special_tokens_to_add()
    reports, problems = {}, []
    for name, dataset in splits.items():
        report = reports[name] = WindowReport(name, len(dataset), max_length)
        for row, lengths in enumerate(word_lengths(tokenizer, dataset["tokens"])):
            length = int(lengths.sum()) + specials
            if length <= max_length:
                continue
            record = dataset[row]
            entry = (row, record.get("id") or f"row {row}", length)
            report.long_examples.append(entry)
            where = locations[name][row] if locations is not None and name in locations else f"{name} row {row}"
            if lengths.max() > budget:
                report.unsplittable.append(entry)
                problems.append(f"{where} (id {entry[1]!r}): a word of {int(lengths.max())} subwords")
                continue
            if not allow_windows:
                problems.append(f"{where} (id {entry[1]!r}): {length} subwords")
                continue
            if not count_relations:
                record = {**record, "relations": []}
            windows, lost_entities, lost_relations = window_record(record, window_spans(lengths, budget, stride))
            report.windows += len(windows)
            report.lost_entities += lost_entities
            report.lost_relations += lost_relations
    if problems:
        cause = "are longer than" if not allow_windows else "hold a word longer than"
        raise ValueError(
            f"{len(problems)} example(s) {cause} the model's window of {max_length} subwords "
            f"({budget} for words); fix or drop them before training:\n  " + "\n  ".join(problems)
        )
    return reports


def record_locations(
    path: str | os.PathLike | Mapping[str, str | os.PathLike] | DatasetDict,
) -> dict[str, list[str]]:
    """Where each record of [`load_jointie_dataset`]`(path)` comes from, split by split, in the form its validation
    errors use (`"train.jsonl line 12"`, `"test.parquet row 3"`), for error messages about whole rows."""
    if isinstance(path, DatasetDict):
        return {name: [f"{name} row {i}" for i in range(len(part))] for name, part in path.items()}
    if isinstance(path, Mapping):
        files = {name: Path(file) for name, file in path.items()}
    else:
        directory = Path(path)
        if directory.is_file():
            files = {directory.stem: directory}
        elif (directory / "dataset_dict.json").exists():
            return record_locations(load_from_disk(str(directory)))
        else:
            files = _split_files(directory)
    locations = {}
    for name, file in files.items():
        if file.suffix == ".parquet":
            locations[name] = [f"{file.name} row {i}" for i in range(len(Dataset.from_parquet(str(file))))]
        else:
            with file.open(encoding="utf-8") as handle:
                locations[name] = [f"{file.name} line {n}" for n, line in enumerate(handle, start=1) if line.strip()]
    return locations


def has_overlapping_entities(rows: Iterable[Mapping[str, Any]]) -> bool:
    """Whether rows of the schema (e.g. a training split) hold two entities that share a word (nested or crossing):
    the example script then keeps nested decoding (`nested`) and STSN's extended BIO scheme (`extended_bio`)."""
    for entities in (row["entities"] for row in rows):
        reach = -1  # the furthest end of the entities starting earlier
        for start, end in sorted((entity["start"], entity["end"]) for entity in entities):
            if start < reach:
                return True
            reach = max(reach, end)
    return False

