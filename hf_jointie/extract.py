"""Run a joint-ie model over a whole corpus: `python -m hf_jointie.extract`, also under `accelerate launch`.

    python -m hf_jointie.extract --model DIR --input corpus.jsonl --text_column text --output out/
    accelerate launch --num_processes 4 -m hf_jointie.extract --model DIR --dataset NAME_OR_DIR --output out/ --bf16

`--input` reads a `.jsonl` (one JSON object a line), `.parquet` or `.txt` (one text a line) file; `--dataset` a saved
`datasets` directory (`load_from_disk`) or anything `datasets.load_dataset(NAME_OR_DIR, split=..., streaming=True)`
reads. The result is `out/predictions.jsonl` (or `.parquet`), one row per input row in input order:
`{"id": <the input's --id_column, else its row number>, "entities": [...], "relations": [...]}` as the `joint-ie`
pipeline returns them (parquet stores `id` as a string, since a column has one type).

How, and why:

* The input is streamed and cut into chunks of `--chunk_size` consecutive rows; chunk `k` belongs to process
  `k % num_processes` (a round-robin shard). Every process reads the stream but parses and runs only its own chunks,
  so none holds more than one chunk, and a chunk is batched the same way whatever the number of processes: one
  process and N write byte-identical output. Each process runs on its own device (`PartialState().device`: its
  GPU under `accelerate launch` on a GPU machine, else the CPU); `--bf16` / `--fp16` load the model in that dtype
  (`--fp16` needs CUDA).
* Resumable: a finished chunk is written to `out/parts/` under a temporary name and then renamed (atomic), its
  counts and bad rows first in a sidecar `.json`, so a part that exists is complete and a temporary file never
  counts. Killed at any point and started again with the same arguments, the run skips the chunks it has and writes
  output identical to an uninterrupted run. `out/extract_args.json` records the arguments that decide the output; a
  restart with different ones is refused instead of mixing two runs.
* When every process is done, the main process concatenates the parts in chunk order into the output (temporary
  name, then rename), writes `bad_rows.jsonl` and `summary.json` (the mark of a finished run) and removes the parts.
* Bad rows: a row without the text column, with a null or non-string text, or a line that is not a JSON object is
  reported on stderr with its row number and skipped (`--on_bad_row skip`; also listed in `bad_rows.jsonl` and
  counted in the summary) or stops the run (`--on_bad_row fail`). An empty text is not bad: it gets an empty
  prediction. Nothing is dropped silently.
* A progress bar (rows/s) runs on the main process; the run ends with one summary line on stdout: rows, entities,
  relations, bad rows, wall time, rows/s.

`texts_and_predictions(args)` walks the finished output beside its input texts, for reports over the results.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from accelerate import PartialState
from tqdm.auto import tqdm
from transformers import HfArgumentParser, pipeline

logger = logging.getLogger("hf_jointie.extract")

_ENTITY = pa.struct([("id", pa.int64()), ("text", pa.string()), ("type", pa.string()), ("start", pa.int64()),
                     ("end", pa.int64()), ("score", pa.float64()), ("fragments", pa.list_(pa.list_(pa.int64())))])
_RELATION = pa.struct([("head", pa.int64()), ("tail", pa.int64()), ("type", pa.string()), ("score", pa.float64())])
#: The parquet output's schema: one row per input row.
PARQUET_SCHEMA = pa.schema([("id", pa.string()), ("entities", pa.list_(_ENTITY)), ("relations", pa.list_(_RELATION))])


@dataclass
class ExtractArguments:
    model: str = field(metadata={"help": "Directory of a saved hf_jointie model with its tokenizer."})
    output: str = field(metadata={"help": "Output directory (created; a rerun with the same arguments resumes)."})
    input: str | None = field(default=None, metadata={"help": "A .jsonl, .parquet or .txt file."})
    dataset: str | None = field(default=None, metadata={"help": "A saved `datasets` directory or a load_dataset name."})
    split: str = field(default="train", metadata={"help": "Split of --dataset."})
    text_column: str = field(default="text", metadata={"help": "Column (JSON key) holding the text."})
    id_column: str = field(default="id", metadata={"help": "Column of the row's own id; absent: the row number."})
    format: str = field(default="jsonl", metadata={"help": "Output format.", "choices": ["jsonl", "parquet"]})
    batch_size: int = field(default=8, metadata={"help": "Windows per forward pass."})
    chunk_size: int = field(default=1000, metadata={"help": "Rows per part (the unit of sharding and resuming)."})
    threshold: float | None = field(default=None, metadata={"help": "Entity threshold (default: the model's)."})
    relation_threshold: float | None = field(default=None, metadata={"help": "Relation threshold."})
    on_bad_row: str = field(default="skip", metadata={"help": "Report and skip bad rows, or stop.",
                                                      "choices": ["skip", "fail"]})
    bf16: bool = field(default=False, metadata={"help": "Run the model in bfloat16."})
    fp16: bool = field(default=False, metadata={"help": "Run the model in float16 (CUDA only)."})
    html: str | None = field(default=None, metadata={"help": "Also write the HTML view of the first --html_rows "
                                                           "extracted rows to this file (hf_jointie.visualize)."})
    html_rows: int = field(default=100, metadata={"help": "Rows shown by --html (a page stays readable)."})

    def __post_init__(self):
        if (self.input is None) == (self.dataset is None):
            raise ValueError("Give exactly one of --input FILE and --dataset NAME_OR_DIR.")
        if self.input is not None and Path(self.input).suffix not in _FILE_READERS:
            raise ValueError(f"--input must end in one of {sorted(_FILE_READERS)}, got {self.input!r}.")
        if self.bf16 and self.fp16:
            raise ValueError("--bf16 and --fp16 exclude each other.")
        for name in ("batch_size", "chunk_size", "html_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be positive, got {getattr(self, name)}.")

    def identity(self) -> dict[str, Any]:
        """The arguments that decide the output bytes (not `on_bad_row`: a failed chunk writes nothing)."""
        return {key: value for key, value in dataclasses.asdict(self).items()
                if key not in ("on_bad_row", "html", "html_rows")}


class BadRow(ValueError):
    """A row that cannot be extracted from; the message says why."""


# ----------------------------------------------------------------------------------------------------------- input
# A reader returns (records, parse, total rows or None); `parse` turns a raw record into a mapping and runs only on
# the rows of the process's own chunks.


def _read_jsonl(path: str, args: ExtractArguments):
    def parse(line: str) -> dict:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadRow(f"not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise BadRow(f"a line must be a JSON object, got {type(record).__name__}")
        return record

    return _lines(path), parse, None


def _read_txt(path: str, args: ExtractArguments):
    return _lines(path), lambda line: {args.text_column: line.rstrip("\r\n")}, None


def _lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as file:
        yield from file


def _read_parquet(path: str, args: ExtractArguments):
    file = pq.ParquetFile(path)
    columns = _columns(file.schema_arrow.names, args, path)
    batches = file.iter_batches(batch_size=args.chunk_size, columns=columns)
    records = (row for batch in batches for row in batch.to_pylist())
    return records, dict, file.metadata.num_rows


def _read_dataset(name: str, args: ExtractArguments):
    import datasets

    if Path(name, "state.json").is_file() or Path(name, "dataset_dict.json").is_file():
        dataset = datasets.load_from_disk(name)
        dataset = dataset[args.split] if isinstance(dataset, datasets.DatasetDict) else dataset
    else:
        dataset = datasets.load_dataset(name, split=args.split, streaming=True)
    if dataset.column_names is not None:
        dataset = dataset.select_columns(_columns(dataset.column_names, args, name))
    total = len(dataset) if isinstance(dataset, datasets.Dataset) else None
    return iter(dataset), dict, total


def _columns(names: list[str], args: ExtractArguments, source: str) -> list[str]:
    if args.text_column not in names:
        raise ValueError(f"{source} has no column {args.text_column!r} (columns: {names}); pass --text_column.")
    return [args.text_column] + ([args.id_column] if args.id_column in names else [])


_FILE_READERS = {".jsonl": _read_jsonl, ".parquet": _read_parquet, ".txt": _read_txt}


def read_input(args: ExtractArguments) -> tuple[Iterator[Any], Callable[[Any], dict], int | None]:
    """The input as (raw records, a parser for one record, number of rows if known), streamed."""
    if args.dataset is not None:
        return _read_dataset(args.dataset, args)
    return _FILE_READERS[Path(args.input).suffix](args.input, args)


def row_text(record: Any, row: int, parse: Callable[[Any], dict], args: ExtractArguments) -> tuple[Any, str]:
    """(id, text) of one raw record; a `BadRow` says what is wrong with it."""
    record = parse(record)
    if args.text_column not in record:
        raise BadRow(f"no {args.text_column!r} column")
    text = record[args.text_column]
    if not isinstance(text, str):
        raise BadRow(f"{args.text_column!r} is {'null' if text is None else type(text).__name__}, not text")
    row_id = record.get(args.id_column)
    return (row if row_id is None else row_id), text


# ---------------------------------------------------------------------------------------------------------- output


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write `path` through a temporary file renamed into place, so `path` exists only complete."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def _write_rows(path: Path, rows: list[dict], fmt: str) -> None:
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    else:
        rows = [{**row, "id": str(row["id"])} for row in rows]
        pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA), path)


def _merge(parts: list[Path], path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        with open(path, "wb") as out:
            for part in parts:
                with open(part, "rb") as file:
                    shutil.copyfileobj(file, out)
        return
    with pq.ParquetWriter(path, PARQUET_SCHEMA) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part, schema=PARQUET_SCHEMA))


def read_predictions(path: str | Path) -> Iterator[dict]:
    """The rows of a finished output file, streamed, as the pipeline returns them (plus `id`)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as file:
            yield from (json.loads(line) for line in file)
        return
    for batch in pq.ParquetFile(path).iter_batches():
        for row in batch.to_pylist():
            for entity in row["entities"]:
                if entity["fragments"] is None:
                    del entity["fragments"]
            yield row


def texts_and_predictions(args: ExtractArguments) -> Iterator[tuple[str, dict]]:
    """(text, prediction) of every extracted row of a finished run, in input order, read from the input and the
    output side by side (bad rows, which have no prediction, are passed over)."""
    records, parse, _ = read_input(args)
    predictions = read_predictions(Path(args.output, f"predictions.{args.format}"))
    for row, record in enumerate(records):
        try:
            _, text = row_text(record, row, parse, args)
        except BadRow:
            continue
        prediction = next(predictions)
        yield text, {"entities": prediction["entities"], "relations": prediction["relations"]}


# ------------------------------------------------------------------------------------------------------------- run


def _extract_chunk(ie, chunk: list, first_row: int, parse, args: ExtractArguments) -> tuple[list[dict], dict]:
    """Rows and stats (rows, entities, relations, bad rows) of one chunk."""
    good, bad = [], []
    for row, record in enumerate(chunk, start=first_row):
        try:
            good.append(row_text(record, row, parse, args))
        except BadRow as error:
            if args.on_bad_row == "fail":
                raise ValueError(f"row {row}: {error} (pass --on_bad_row skip to report and skip such rows)") from None
            logger.warning("row %d: %s; skipped", row, error)
            bad.append({"row": row, "reason": str(error)})
    options = {key: getattr(args, key) for key in ("threshold", "relation_threshold") if getattr(args, key) is not None}
    predictions = ie([text for _, text in good], batch_size=args.batch_size, **options) if good else []
    rows = [{"id": row_id, **prediction} for (row_id, _), prediction in zip(good, predictions)]
    stats = {"rows": len(chunk), "entities": sum(len(row["entities"]) for row in rows),
             "relations": sum(len(row["relations"]) for row in rows), "bad_rows": bad}
    return rows, stats


def _check_arguments(out: Path, args: ExtractArguments, state: PartialState) -> None:
    """Record the run's arguments, or refuse to resume a run made with other ones."""
    path = out / "extract_args.json"
    if state.is_main_process and not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, lambda p: p.write_text(json.dumps(args.identity(), indent=2, sort_keys=True) + "\n"))
    state.wait_for_everyone()
    recorded = json.loads(path.read_text())
    if recorded != args.identity():
        changed = sorted(key for key in recorded.keys() | args.identity().keys()
                         if recorded.get(key) != args.identity().get(key))
        raise ValueError(f"{out} holds a run made with other arguments ({', '.join(changed)} differ); use another "
                         "--output or remove it.")


def _stats(parts: Path, fmt: str) -> dict[int, dict]:
    """Stats of the finished chunks, by chunk index (a sidecar whose part is missing does not count)."""
    return {int(path.stem.split("-")[1]): json.loads(path.read_text()) for path in sorted(parts.glob("part-*.json"))
            if path.with_suffix(f".{fmt}").exists()}


def _summary_line(summary: dict) -> str:
    return (f"extract: {summary['rows']} rows ({summary['rows_this_run']} this run), {summary['entities']} entities, "
            f"{summary['relations']} relations, {summary['bad_rows']} bad rows skipped; "
            f"wall {summary['wall_s']:.1f} s, {summary['rows_per_s']:.1f} rows/s -> {summary['output']}")


def run(args: ExtractArguments) -> dict:
    """Extract over the input (this process's shard) and merge on the main process; returns the summary (on every
    process)."""
    start = time.perf_counter()
    # on a machine without CUDA (or with ACCELERATE_USE_CPU) the processes torchrun starts form a gloo group
    state = PartialState(cpu=not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in
                         ("1", "true", "yes"))
    out, parts = Path(args.output), Path(args.output, "parts")
    _check_arguments(out, args, state)
    if (out / "summary.json").exists():  # finished before: nothing to do
        summary = json.loads((out / "summary.json").read_text())
        return {**summary, "rows_this_run": 0, "wall_s": time.perf_counter() - start, "rows_per_s": 0.0}
    if args.fp16 and state.device.type != "cuda":
        raise ValueError("--fp16 needs a CUDA device; use --bf16 or full precision on the CPU.")
    dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
    ie = pipeline("joint-ie", model=args.model, device=state.device, dtype=dtype)
    parts.mkdir(parents=True, exist_ok=True)
    resumed = sum(stats["rows"] for stats in _stats(parts, args.format).values()) if state.is_main_process else 0
    state.wait_for_everyone()  # the main process counted what earlier runs left before anyone writes

    records, parse, total = read_input(args)
    mine = range(state.process_index, -(-total // args.chunk_size), state.num_processes) if total is not None else None
    bar = tqdm(total=None if mine is None else sum(min(args.chunk_size, total - k * args.chunk_size) for k in mine),
               unit="rows", disable=True if not state.is_main_process else None, desc="extract")
    for index, chunk in enumerate(iter(lambda: list(islice(records, args.chunk_size)), [])):
        part = parts / f"part-{index:06d}.{args.format}"
        if index % state.num_processes != state.process_index:
            continue
        if part.exists():  # done by an earlier run
            bar.update(len(chunk))
            continue
        rows, stats = _extract_chunk(ie, chunk, index * args.chunk_size, parse, args)
        _write_atomic(part.with_suffix(".json"), lambda p: p.write_text(json.dumps(stats) + "\n"))
        _write_atomic(part, lambda p: _write_rows(p, rows, args.format))
        bar.update(len(chunk))
    bar.close()
    state.wait_for_everyone()
    if state.is_main_process:
        _finish(out, args, resumed, start)
    state.wait_for_everyone()
    return json.loads((out / "summary.json").read_text())


def _finish(out: Path, args: ExtractArguments, resumed: int, start: float) -> None:
    """Merge the parts in input order, write bad_rows.jsonl and summary.json (the mark of a finished run), and
    remove the parts."""
    parts, output = out / "parts", out / f"predictions.{args.format}"
    finished = _stats(parts, args.format)
    if sorted(finished) != list(range(len(finished))):
        raise RuntimeError(f"parts missing from {parts}: have {sorted(finished)}")
    _write_atomic(output, lambda p: _merge([parts / f"part-{k:06d}.{args.format}" for k in sorted(finished)], p,
                                           args.format))
    bad_rows = [bad for k in sorted(finished) for bad in finished[k]["bad_rows"]]
    _write_atomic(out / "bad_rows.jsonl", lambda p: p.write_text("".join(json.dumps(b) + "\n" for b in bad_rows)))
    rows, wall = sum(stats["rows"] for stats in finished.values()), time.perf_counter() - start
    summary = {"rows": rows, "rows_this_run": rows - resumed, "bad_rows": len(bad_rows),
               "entities": sum(stats["entities"] for stats in finished.values()),
               "relations": sum(stats["relations"] for stats in finished.values()),
               "wall_s": wall, "rows_per_s": (rows - resumed) / wall, "processes": PartialState().num_processes,
               "output": str(output)}
    _write_atomic(out / "summary.json", lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
    shutil.rmtree(parts)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="%(name)s: %(message)s", level=logging.INFO, stream=sys.stderr)
    (args,) = HfArgumentParser(ExtractArguments).parse_args_into_dataclasses(args=argv)
    summary = run(args)
    if PartialState().is_main_process:
        print(_summary_line(summary), flush=True)
        if args.html is not None:
            from .visualize import write_html

            pairs = list(islice(texts_and_predictions(args), args.html_rows))
            path = write_html(args.html, [text for text, _ in pairs], [prediction for _, prediction in pairs],
                              title=f"{args.model}: {len(pairs)} of {summary['rows']} rows")
            print(f"extract: HTML view of {len(pairs)} rows -> {path}", flush=True)


if __name__ == "__main__":
    main()
