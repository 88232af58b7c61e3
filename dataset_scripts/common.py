"""Shared machinery of the converters: schema, validation, statistics, writing and CLI.

Every converter module only knows how to turn *one source file* into a list of records
of the project's schema (``{"id", "tokens", "entities", "relations"}`` with token
offsets, ``end`` exclusive).  Everything that is the same for all formats lives here
once: finding split files, validating records, building a ``datasets.DatasetDict``
with explicit :data:`FEATURES`, writing jsonl/parquet/arrow, and printing statistics.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import datasets

from hf_jointie import data as jointie_data

FEATURES = jointie_data.FEATURES
"""The one schema every converter produces (the package's own); ``fragments`` is ``[]`` for continuous entities."""

FORMATS = ("jsonl", "parquet", "arrow")
DEFAULT_ID_FORMAT = "{split}-{key}"
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "dev": "dev",
    "valid": "dev",
    "validation": "dev",
    "val": "dev",
    "test": "test",
    "testa": "dev",
    "testb": "test",
}

Record = dict[str, Any]


class ConversionError(ValueError):
    """A source file breaks its format; the message names the file and line/record."""

    def __init__(self, path: Path | str, where: str, message: str) -> None:
        super().__init__(f"{path}: {where}: {message}")


@dataclass
class Split:
    """What a converter made of one source file.

    ``dropped`` counts what was removed by a documented rule (never silently);
    ``notes`` counts things that were kept but deserve a mention (e.g. ambiguities).
    """

    records: list[Record] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def add(self, record: Record, path: Path | str, where: str) -> None:
        """Validate ``record`` (errors name ``path`` and ``where``) and keep it."""
        validate(record, path, where)
        self.records.append(record)

    def add_deduplicated(self, record: Record, path: Path | str, where: str, sort: bool = False) -> None:
        """Validate ``record`` as the source wrote it, drop its exact duplicate entities (counted in ``dropped``),
        optionally sort its entities, and keep it. Neither step can make a valid record invalid."""
        validate(record, path, where)
        entities, relations = dedupe_entities(record["entities"], record["relations"], self.dropped)
        if sort:
            entities, relations = sort_entities(entities, relations)
        self.records.append(dict(record, entities=entities, relations=relations))


Reader = Callable[..., Split]


def entity(start: int, end: int, type_: str, fragments: Sequence[Sequence[int]] = ()) -> Record:
    """Build an entity dict; a single fragment is the continuous case and is stored as ``[]``."""
    frags = [[int(s), int(e)] for s, e in fragments]
    return {"start": int(start), "end": int(end), "type": type_,
            "fragments": frags if len(frags) > 1 else []}


def runs(indices: Sequence[int]) -> list[list[int]]:
    """Maximal runs of consecutive token indices as ``[s, e)`` fragments (input any order)."""
    out: list[list[int]] = []
    for i in sorted(set(indices)):
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def token_set(ent: Record) -> frozenset[int]:
    """The tokens an entity covers, honouring fragments."""
    spans = ent.get("fragments") or [[ent["start"], ent["end"]]]
    return frozenset(i for s, e in spans for i in range(s, e))


def dedupe_entities(entities: list[Record], relations: list[Record],
                    dropped: Counter[str]) -> tuple[list[Record], list[Record]]:
    """Drop exact duplicate entities (same span, fragments and type), remapping relations."""
    kept: list[Record] = []
    index: dict[tuple, int] = {}
    remap: list[int] = []
    for ent in entities:
        key = (ent["start"], ent["end"], ent["type"], json.dumps(ent.get("fragments") or []))
        if key in index:
            dropped["exact duplicate entities"] += 1
        else:
            index[key] = len(kept)
            kept.append(ent)
        remap.append(index[key])
    rels = [dict(r, head=remap[r["head"]], tail=remap[r["tail"]]) for r in relations]
    return kept, rels


def sort_entities(entities: list[Record], relations: list[Record]) -> tuple[list[Record], list[Record]]:
    """Sort entities by (start, end, fragments, type) and remap relation indices accordingly."""
    order = sorted(range(len(entities)), key=lambda i: (
        entities[i]["start"], entities[i]["end"], entities[i].get("fragments") or [], entities[i]["type"]))
    new_pos = {old: new for new, old in enumerate(order)}
    rels = [dict(r, head=new_pos[r["head"]], tail=new_pos[r["tail"]]) for r in relations]
    return [entities[i] for i in order], rels


def validate(record: Record, path: Path | str, where: str) -> None:
    """Raise :class:`ConversionError` unless ``record`` is a well-formed schema record (the package's own checks,
    plus: no empty-string tokens, which no tokenizer can align)."""
    if any(not isinstance(token, str) or not token for token in record["tokens"]):
        raise ConversionError(path, where, "sentence has an empty or non-string token")
    try:
        jointie_data.normalize_example(record, "record")
    except ValueError as error:
        raise ConversionError(path, where, str(error).removeprefix("record: ").removeprefix("record, ")) from None


def require(obj: Any, keys: Sequence[str], path: Path | str, where: str) -> None:
    """Raise :class:`ConversionError` unless ``obj`` is a JSON object holding every key."""
    if not isinstance(obj, dict):
        raise ConversionError(path, where, f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ConversionError(path, where, f"missing key(s) {', '.join(map(repr, missing))}")


def make_id(id_format: str, split: str, key: Any) -> str:
    """Render a record id; ``key`` is the source's own id when it has one, else the position."""
    return id_format.format(split=split, key=key)


# ---------------------------------------------------------------- reading

def read_json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(where, object)`` from a JSON array file or a JSON-lines file.

    Research repos use ``.json`` for both, so the first non-blank character decides.
    ``where`` is ``"record N"`` (0-based array position) or ``"line N"`` (1-based).
    """
    text = path.read_text(encoding="utf-8")
    if text.lstrip()[:1] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConversionError(path, f"line {err.lineno}", f"invalid JSON: {err.msg}") from None
        for i, obj in enumerate(data):
            yield f"record {i}", obj
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {lineno}", json.loads(line)
        except json.JSONDecodeError as err:
            raise ConversionError(path, f"line {lineno}", f"invalid JSON: {err.msg}") from None


def split_of(path: Path) -> str | None:
    """The canonical split (train/dev/test) named in a file name, if exactly one is."""
    words = set(path.name.lower().replace("-", "_").replace(".", "_").split("_"))
    found = {SPLIT_ALIASES[w] for w in words if w in SPLIT_ALIASES}
    return found.pop() if len(found) == 1 else None


def find_split_files(src: Path, suffixes: Sequence[str], split_name: str | None = None) -> dict[str, Path]:
    """Map split name -> source file for a file or a directory of split files.

    A single file is named by ``split_name``, else by its file name, else ``train``.
    In a directory every file with one of ``suffixes`` must name its split, once.
    """
    src = Path(src)
    if src.is_file():
        return {split_name or split_of(src) or "train": src}
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such file or directory")
    if split_name:
        raise ValueError("--split-name applies to a single source file, not a directory")
    found: dict[str, Path] = {}
    for path in sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.name.endswith(tuple(suffixes))):
        name = split_of(path)
        if name is None:
            raise ValueError(f"{path}: cannot tell its split from the file name; convert it alone with --split-name")
        if name in found:
            raise ValueError(f"{found[name]} and {path} both look like split {name!r}; convert them one by one")
        found[name] = path
    if not found:
        raise ValueError(f"{src}: no source files ending in {', '.join(suffixes)}")
    order = ("train", "dev", "test")
    return {name: found[name] for name in sorted(found, key=order.index)}


# ---------------------------------------------------------------- converting

def convert_source(src: Path | str, reader: Reader, suffixes: Sequence[str], *,
                   split_name: str | None = None, report: bool = True, **options: Any) -> datasets.DatasetDict:
    """Run ``reader(path, split, **options)`` on every split file, validate, build the DatasetDict.

    With ``report`` the statistics and every by-rule drop are printed per split.
    """
    files = find_split_files(Path(src), suffixes, split_name)
    return finish({name: reader(path, name, **options) for name, path in files.items()}, report)


def finish(splits: dict[str, Split], report: bool = True) -> datasets.DatasetDict:
    """Check ids are unique per split, build the ``DatasetDict`` and optionally print the report."""
    for name, split in splits.items():
        ids = Counter(r["id"] for r in split.records)
        duplicate = next((i for i, c in ids.items() if c > 1), None)
        if duplicate is not None:
            raise ValueError(f"split {name!r}: id {duplicate!r} occurs {ids[duplicate]} times; "
                             "choose an --id-format that includes {key}")
    dataset_dict = to_dataset_dict({name: s.records for name, s in splits.items()})
    if report:
        print(format_report(dataset_dict, splits))
    return dataset_dict


def to_dataset_dict(splits: dict[str, list[Record]]) -> datasets.DatasetDict:
    """Build a ``DatasetDict`` with :data:`FEATURES` (fragments ``[]`` when continuous)."""
    def normal(rec: Record) -> Record:
        ents = [entity(e["start"], e["end"], e["type"], e.get("fragments") or ()) for e in rec["entities"]]
        rels = [{"head": r["head"], "tail": r["tail"], "type": r["type"]} for r in rec["relations"]]
        return {"id": rec["id"], "tokens": list(rec["tokens"]), "entities": ents, "relations": rels}

    return datasets.DatasetDict({
        name: datasets.Dataset.from_list([normal(r) for r in recs], features=FEATURES)
        for name, recs in splits.items()
    })


# ---------------------------------------------------------------- statistics

def statistics(records: Sequence[Record]) -> dict[str, Any]:
    """Counts per split: sizes, nesting/crossing overlaps, discontinuity and type counts.

    Two entities *overlap* when their token sets intersect; the pair is *nested* when
    one token set contains the other, else *crossing*.
    """
    stats: dict[str, Any] = Counter()
    entity_types: Counter[str] = Counter()
    relation_types: Counter[str] = Counter()
    for rec in records:
        ents = rec["entities"]
        stats["sentences"] += 1
        stats["entities"] += len(ents)
        stats["relations"] += len(rec["relations"])
        stats["discontinuous"] += sum(1 for e in ents if len(e.get("fragments") or []) > 1)
        entity_types.update(e["type"] for e in ents)
        relation_types.update(r["type"] for r in rec["relations"])
        sets = [token_set(e) for e in ents]
        nested = crossing = 0
        for a, b in combinations(sets, 2):
            if a & b:
                if a <= b or b <= a:
                    nested += 1
                else:
                    crossing += 1
        stats["nested pairs"] += nested
        stats["crossing pairs"] += crossing
        stats["sentences with overlap"] += bool(nested or crossing)
    return {**stats, "entity types": dict(sorted(entity_types.items())),
            "relation types": dict(sorted(relation_types.items()))}


COLUMNS = ("sentences", "entities", "relations", "nested pairs", "crossing pairs",
           "sentences with overlap", "discontinuous")


def format_report(dataset_dict: datasets.DatasetDict, splits: dict[str, Split] | None = None) -> str:
    """A markdown table of :func:`statistics` per split, then type counts and by-rule drops."""
    lines = ["| split | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    details: list[str] = []
    for name, ds in dataset_dict.items():
        st = statistics(ds.to_list())
        lines.append(f"| {name} | " + " | ".join(str(st.get(c, 0)) for c in COLUMNS) + " |")
        details.append(f"{name}: entity types {st['entity types']}; relation types {st['relation types']}")
        split = (splits or {}).get(name)
        if split is not None:
            for rule, count in sorted(split.dropped.items()):
                details.append(f"{name}: DROPPED {count} {rule}")
            for rule, count in sorted(split.notes.items()):
                details.append(f"{name}: note: {count} {rule}")
    return "\n".join(lines + details)


# ---------------------------------------------------------------- writing

def to_jsonl_record(rec: Record) -> Record:
    """A record as the shared JSONL writes it: ``fragments`` only on discontinuous entities."""
    ents = []
    for e in rec["entities"]:
        out = {"start": e["start"], "end": e["end"], "type": e["type"]}
        if e.get("fragments"):
            out["fragments"] = e["fragments"]
        ents.append(out)
    return {"id": rec["id"], "tokens": rec["tokens"], "entities": ents,
            "relations": [{"head": r["head"], "tail": r["tail"], "type": r["type"]} for r in rec["relations"]]}


def write(dataset_dict: datasets.DatasetDict, out: Path | str, format: str = "jsonl") -> list[Path]:
    """Write every split: ``OUT/<split>.jsonl`` / ``.parquet``, or ``save_to_disk(OUT)`` for arrow."""
    out = Path(out)
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "arrow":
        dataset_dict.save_to_disk(str(out))
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, ds in dataset_dict.items():
        path = out / f"{name}.{format}"
        if format == "jsonl":
            with path.open("w", encoding="utf-8") as fh:
                for rec in ds:
                    fh.write(json.dumps(to_jsonl_record(rec), ensure_ascii=False) + "\n")
        else:
            ds.to_parquet(str(path))
        written.append(path)
    return written


# ---------------------------------------------------------------- CLI

def main(convert: Callable[..., datasets.DatasetDict], description: str,
         argv: Sequence[str] | None = None,
         add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """The CLI shared by all converters: ``SRC OUT [--format] [--split-name] [--id-format]``.

    ``add_arguments`` may add format-specific options; every parsed option other than
    ``src``/``out``/``format`` is passed to ``convert`` as a keyword argument.
    """
    module = Path(sys.modules[convert.__module__].__file__ or "converter").stem
    parser = argparse.ArgumentParser(prog=f"python -m dataset_scripts.{module}", description=description)
    parser.add_argument("src", type=Path, help="a source file, or a directory of split files")
    parser.add_argument("out", type=Path, help="output directory (a save_to_disk folder for arrow)")
    parser.add_argument("--format", choices=FORMATS, default="jsonl")
    parser.add_argument("--split-name", default=None,
                        help="split name for a single SRC file (default: from its file name, else train)")
    parser.add_argument("--id-format", default=DEFAULT_ID_FORMAT,
                        help="record id template with {split} and {key} (source id or position), "
                             "e.g. 'conll04-{split}-{key}'")
    if add_arguments:
        add_arguments(parser)
    args = vars(parser.parse_args(argv))
    src, out, fmt = args.pop("src"), args.pop("out"), args.pop("format")
    try:
        dataset_dict = convert(src, **args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in write(dataset_dict, out, fmt):
        print(f"wrote {path}")
    return 0


def json_converter(read_split: Reader, doc: str) -> tuple[Callable[..., datasets.DatasetDict], Callable[..., int]]:
    """The `convert` function and CLI `main` of a converter that reads JSON / JSONL files and takes no options."""

    def convert(src: Path | str, *, split_name: str | None = None, id_format: str = DEFAULT_ID_FORMAT,
                report: bool = True) -> datasets.DatasetDict:
        """Convert a file or a directory of split files to a ``DatasetDict``."""
        return convert_source(src, read_split, (".json", ".jsonl"), split_name=split_name, report=report,
                              id_format=id_format)

    def cli(argv: Sequence[str] | None = None) -> int:
        """CLI entry point: ``python -m dataset_scripts.<name> SRC OUT``."""
        return main(convert, doc.splitlines()[0], argv)

    convert.__module__ = cli.__module__ = read_split.__module__  # they belong to the converter's module
    return convert, cli
