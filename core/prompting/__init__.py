"""Prompt strategies: task presets, zero/one/few-shot prompt building, answer extraction, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.prompting import experiment_schema

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "prompting"
FORMATS = {"plain": "Plain completion", "chat": "Chat template"}
MAX_UPLOAD_BYTES = 1_000_000
MAX_ROWS = 200  # each row is scored once per strategy, shot count and shuffle: keep runs minutes long
MAX_ITEM_CHARS = 2_000
EXPERIMENT_VERSION = 1
# Per query and per shot text. Classification inputs are a sentence or a paragraph: the presets'
# longest is under 20 tokens, and 256 tokens is about 1,000 characters of English. A cap this size
# keeps 8 shots plus the query near 2,300 tokens at most, a few seconds of CPU per prompt.
MAX_PART_TOKENS = 256
# A label is a class name. Every label is scored as a continuation after every prompt ("Rank the
# labels") and stands in every shot; a 3,000-character label made one Compare take a minute.
MAX_LABEL_TOKENS = 32
MAX_FEW_K = 64  # shots in the few-shot column (the page's widget bound; links and experiments are held to it)

Example = tuple[str, str]  # (text, label)


@dataclass(frozen=True)
class Task:
    """A classification task: what to ask, labelled examples to use as shots, a query, a test set."""

    name: str
    instruction: str
    examples: tuple[Example, ...]
    query: str
    few_k: int  # shots in the few-shot column by default
    sweep: tuple[int, ...]  # shot counts the evaluation sweeps by default
    eval_file: str  # CSV under data/prompting with columns text,label


def _read_presets() -> dict[str, Task]:
    """The task presets, kept as data in data/prompting/presets.json (name → Task, in file order)."""
    rows = json.loads((DATA_DIR / "presets.json").read_text(encoding="utf-8"))
    return {
        row["name"]: Task(row["name"], row["instruction"], tuple((text, label) for text, label in row["examples"]),
                          row["query"], int(row["few_k"]), tuple(row["sweep"]), row["eval_file"])
        for row in rows
    }


PRESETS: dict[str, Task] = _read_presets()


def load_eval_set(task: Task) -> pd.DataFrame:
    """The bundled labelled set of a preset: columns text, label (about 30 rows)."""
    return parse_labelled_csv((DATA_DIR / task.eval_file).read_bytes())


def build_prompt(
    instruction: str, examples: Sequence[Example], query: str, fmt: str = "plain", tokenizer=None,
    allow_empty: bool = False,
) -> str:
    """One prompt: instruction, then each example as Text/Label, then the query awaiting its label.

    "plain" is a completion prompt ending in "Label:"; "chat" puts the instruction in the system
    message and each example as a user turn answered by an assistant turn (needs a tokenizer).
    allow_empty admits an empty query (a content-free input of contextual calibration).
    """
    if not query.strip() and not allow_empty:
        raise ValueError("The query is empty: type a text to classify.")
    if fmt == "plain":
        blocks = [f"Text: {text}\nLabel: {label}" for text, label in examples]
        head = [instruction.strip()] if instruction.strip() else []
        return "\n\n".join([*head, *blocks, f"Text: {query}\nLabel:"])
    if fmt == "chat":
        return _chat_prompt(instruction, examples, query, tokenizer)
    raise ValueError(f"Unknown prompt format '{fmt}'; choose one of: {', '.join(FORMATS)}.")


def _chat_prompt(instruction: str, examples: Sequence[Example], query: str, tokenizer) -> str:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("This model has no chat template: use the plain completion format.")
    messages = [{"role": "system", "content": instruction.strip()}] if instruction.strip() else []
    for text, label in examples:
        messages += [{"role": "user", "content": f"Text: {text}"}, {"role": "assistant", "content": label}]
    messages.append({"role": "user", "content": f"Text: {query}"})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def strategy_prompts(
    instruction: str, examples: Sequence[Example], query: str, few_k: int, fmt: str = "plain", tokenizer=None
) -> tuple[str, str, str]:
    """The zero-, one- and few-shot prompts for one query (shots taken in table order)."""
    examples = check_examples(examples)
    if not 1 <= few_k <= len(examples):
        allowed = "1 shot" if len(examples) == 1 else f"between 1 and {len(examples)} shots"
        raise ValueError(f"Few-shot needs {allowed} (the number of examples); got {few_k}.")
    return tuple(build_prompt(instruction, examples[:k], query, fmt, tokenizer) for k in (0, 1, few_k))


def check_token_caps(tokenizer, examples: Sequence[Example], query: str | None) -> None:
    """ValueError naming the limit when the query or a shot's text has more than MAX_PART_TOKENS tokens,
    or a shot's label more than MAX_LABEL_TOKENS."""
    # The examples first: a page that checks them alone (the evaluation) then fails on the same message.
    for n, (text, _) in enumerate(examples, start=1):
        _check_part(tokenizer, f"Example {n}", text)
    check_label_caps(tokenizer, [(f"Example {n}", label) for n, (_, label) in enumerate(examples, start=1)])
    if query is not None:
        _check_part(tokenizer, "The query", query)


def _check_part(tokenizer, what: str, text: str) -> None:
    count = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    if count > MAX_PART_TOKENS:
        raise ValueError(f"{what} has {count:,} tokens; the limit is {MAX_PART_TOKENS:,} per query or shot "
                         "(plenty for a sentence to classify). Shorten it.")


def check_label_caps(tokenizer, labels: Sequence[tuple[str, str]]) -> None:
    """ValueError naming the limit when a label has more than MAX_LABEL_TOKENS tokens; labels: (where, label)."""
    for where, label in labels:
        count = len(tokenizer(" " + label, add_special_tokens=False)["input_ids"])
        if count > MAX_LABEL_TOKENS:
            shown = label if len(label) <= 24 else label[:24] + "…"
            raise ValueError(f"{where}: the label {shown!r} has {count:,} tokens; a label is limited to "
                             f"{MAX_LABEL_TOKENS} (a class name: every label is scored after every prompt). "
                             "Shorten it.")


def check_examples(examples: Sequence[Example]) -> list[Example]:
    """Clean example rows: strip both fields, drop fully blank rows; ValueError on half-filled ones."""
    cleaned = []
    for number, (text, label) in enumerate(examples, start=1):
        text, label = str(text or "").strip(), str(label or "").strip()
        if not text and not label:
            continue
        if not text or not label:
            raise ValueError(f"Example {number} needs both a text and a label.")
        if "\n" in label:
            raise ValueError(f"Example {number}: a label must be one line (answers are read up to the first newline).")
        cleaned.append((text, label))
    if not cleaned:
        raise ValueError("Add at least one labelled example (the one-shot column needs one).")
    return cleaned


def extract_answer(completion: str) -> str:
    """The answer in a completion: its first non-blank line, stripped."""
    for line in completion.splitlines():
        if line.strip():
            return line.strip()
    return ""


def normalize_label(text: str) -> str:
    """Fold case and drop surrounding quotes, punctuation and spaces, so ' Positive.' == 'positive'."""
    return text.strip().strip(string.punctuation + "“”‘’ \t").strip().casefold()


def match_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label an answer names (after normalising both), or None when it names none of them."""
    wanted = normalize_label(answer)
    return next((label for label in labels if normalize_label(label) == wanted), None)


def parse_labelled_csv(data: bytes, max_rows: int = MAX_ROWS, max_bytes: int = MAX_UPLOAD_BYTES) -> pd.DataFrame:
    """Parse an uploaded CSV with columns text,label; ValueError names what is wrong with it."""
    if len(data) > max_bytes:
        raise ValueError(f"The file has {len(data):,} bytes; the limit is {max_bytes:,}.")
    if not data.strip():
        raise ValueError("The file is empty: it needs a header row 'text,label' and at least one row.")
    if b"\x00" in data:
        raise ValueError("The file looks binary: upload a UTF-8 text CSV with columns text,label.")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"The file is not UTF-8 text (byte {error.start}): save it as UTF-8 CSV.") from None
    if "\r" in content and "\n" not in content:  # old Mac line endings: lines end with a carriage return alone
        content = content.replace("\r", "\n")
    _check_fields(content)
    try:
        # index_col=False: a row with an extra field must never turn its first field into an index
        # and shift the others left (_check_fields has already refused such rows with a message).
        frame = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False, skip_blank_lines=True,
                            index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"The file is not a readable CSV: {error}".strip()) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"text", "label"} <= set(frame.columns):
        found = ", ".join(map(str, frame.columns)) or "none"
        raise ValueError(f"The CSV needs columns 'text' and 'label'; found: {found}.")
    return _check_rows(frame[["text", "label"]], max_rows)


def _check_fields(content: str) -> None:
    """ValueError for duplicate column names or a row whose field count differs from the header's."""
    try:
        reader = csv.reader(io.StringIO(content), strict=True)  # strict: an unclosed quote is an error
        rows = [(reader.line_num, row) for row in reader if row]
    except csv.Error as error:
        raise ValueError(f"The file is not a readable CSV: {error}.") from None
    if not rows:
        return
    header = [name.strip().lower() for name in rows[0][1]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(f"The CSV has more than one column named {', '.join(map(repr, repeated))}: keep one.")
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise ValueError(
                f"Line {line} has {len(row)} fields but the header has {len(header)} ({', '.join(header)}): "
                "put a text that contains a comma in double quotes."
            )


def _check_rows(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    frame = frame.apply(lambda column: column.str.strip())
    frame = frame[(frame["text"] != "") | (frame["label"] != "")].reset_index(drop=True)
    if frame.empty:
        raise ValueError("The file has a header but no rows to score.")
    if len(frame) > max_rows:
        raise ValueError(f"The file has {len(frame):,} rows; the limit is {max_rows:,}.")
    for column in ("text", "label"):
        blank = frame.index[frame[column] == ""]
        if len(blank):
            raise ValueError(f"Row {blank[0] + 1} has an empty {column}.")
    long = frame.index[frame["text"].str.len() > MAX_ITEM_CHARS]
    if len(long):
        raise ValueError(f"Row {long[0] + 1} has more than {MAX_ITEM_CHARS:,} characters of text.")
    broken = frame.index[frame["label"].str.contains("\n", regex=False)]
    if len(broken):  # as for the shots' labels: answers are read up to the first newline
        raise ValueError(f"Row {broken[0] + 1}: a label must be one line (answers are read up to the first newline).")
    return frame


def experiment_to_json(experiment: dict) -> str:
    """Serialise an experiment (settings, examples, items, results) as indented JSON."""
    return json.dumps({"version": EXPERIMENT_VERSION, **experiment}, indent=2, ensure_ascii=False)


def experiment_from_json(data: bytes | str, max_bytes: int = 5 * MAX_UPLOAD_BYTES) -> dict:
    """Read back an exported experiment; ValueError if the file is not one."""
    if len(data) > max_bytes:
        raise ValueError(f"The file has {len(data):,} bytes; the limit is {max_bytes:,}.")
    loaded = experiment_schema.loads(data)  # finite numbers, bounded depth
    if not isinstance(loaded, dict) or loaded.get("version") != EXPERIMENT_VERSION:
        raise ValueError(f"The file is not an LLM Lens experiment (version {EXPERIMENT_VERSION}).")
    missing = [key for key in ("instruction", "examples", "query", "format", "few_k") if key not in loaded]
    if missing:
        raise ValueError(f"The experiment is missing: {', '.join(missing)}.")
    experiment_schema.check_experiment(loaded)
    loaded["examples"] = _pairs(loaded["examples"], "examples")
    loaded["few_k"] = int(loaded["few_k"])  # check_experiment: a whole number
    if not 1 <= loaded["few_k"] <= MAX_FEW_K:
        raise ValueError(f"The experiment's few_k must be between 1 and {MAX_FEW_K}; got {loaded['few_k']:,}.")
    if any(not 0 <= k <= MAX_FEW_K for k in loaded.get("sweep") or []):
        raise ValueError(f"The experiment's sweep must hold shot counts between 0 and {MAX_FEW_K}.")
    if loaded["format"] not in FORMATS:
        raise ValueError(f"Unknown prompt format '{loaded['format']}'; choose one of: {', '.join(FORMATS)}.")
    loaded["items"] = _pairs(loaded.get("items") or [], "items")
    if len(loaded["items"]) > MAX_ROWS:
        raise ValueError(f"The experiment has {len(loaded['items']):,} items; the limit is {MAX_ROWS:,}.")
    loaded["results"] = _results(loaded.get("results"))
    return loaded


def _pairs(rows, what: str) -> list[Example]:
    try:
        return [(str(text), str(label)) for text, label in rows]
    except (TypeError, ValueError):
        raise ValueError(f"The experiment's {what} must be [text, label] pairs.") from None


RESULT_COLUMNS = {"strategies": {"strategy", "k", "correct", "scored", "accuracy"},
                  "curve": {"k", "mean", "std", "min", "max", "runs"}}


def _results(results) -> dict | None:
    """Saved results, or None when absent; ValueError when present but not shaped as exported."""
    if not results:
        return None
    for part, columns in RESULT_COLUMNS.items():
        rows = results.get(part) if isinstance(results, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) and columns <= set(r) for r in rows):
            raise ValueError(f"The experiment's results.{part} must be rows with: {', '.join(sorted(columns))}.")
    return results
