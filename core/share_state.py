"""Share-link state: widget choices as URL parameters, long text as one compressed blob (pure, no Streamlit)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

BLOB_VERSION = 1
MAX_BLOB_CHARS = 24_000  # the whole link stays far below the web server's 64 KB request-line limit
MAX_STATE_BYTES = 256_000  # decompressed JSON; a tiny blob cannot inflate into a memory bomb
MAX_TEXT_CHARS = 20_000  # a shared prompt (or any text in the blob)
MAX_PARAM_CHARS = 200  # one plain URL parameter
_BLOB_CHARS = re.compile(r"^[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Field:
    """One widget choice carried by the link: its session key (also the URL name), type and valid values."""

    key: str
    kind: str  # "int", "float", "bool" or "choice"
    default: object = None  # left out of the link when the value equals it
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    list_choices: bool = True  # False when a choice may be a server path (a model folder): never echo it


def quoted(raw: object, limit: int = 40) -> str:
    """A user-supplied value for a message: shortened, inside inline code so markdown and HTML stay text."""
    text = str(raw).replace("`", "'").replace("\n", " ")
    return f"`{text[:limit]}{'…' if len(text) > limit else ''}`"


def parse_field(field: Field, raw: str) -> object:
    """The value of one URL parameter, or ValueError naming what is allowed."""
    if len(raw) > MAX_PARAM_CHARS:
        raise ValueError(f"{field.key}: {len(raw):,} characters, at most {MAX_PARAM_CHARS}")
    if field.kind == "bool":
        if raw not in ("0", "1"):
            raise ValueError(f"{field.key}={quoted(raw)} is not 0 or 1")
        return raw == "1"
    if field.kind == "choice":
        if raw not in field.choices:
            valid = f"one of {', '.join(map(quoted, field.choices))}" if field.list_choices else "available here"
            raise ValueError(f"{field.key}={quoted(raw)} is not {valid}")
        return raw
    value = _number(field, raw)
    if (field.low is not None and value < field.low) or (field.high is not None and value > field.high):
        raise ValueError(f"{field.key}={quoted(raw)} is outside {field.low:g}…{field.high:g}")
    return value


def _number(field: Field, raw: str) -> int | float:
    try:
        value = int(raw) if field.kind == "int" else float(raw)
    except ValueError:
        kind = "an integer" if field.kind == "int" else "a number"
        raise ValueError(f"{field.key}={quoted(raw)} is not {kind}") from None
    if not math.isfinite(value):
        raise ValueError(f"{field.key}={quoted(raw)} is not a finite number")
    return value


def format_field(field: Field, value: object) -> str:
    """The URL text of one value (the inverse of parse_field)."""
    if field.kind == "bool":
        return "1" if value else "0"
    if field.kind == "float":
        return f"{float(value):g}"
    return str(int(value)) if field.kind == "int" else str(value)


def read_params(raw: Mapping[str, str], fields: tuple[Field, ...]) -> tuple[dict[str, object], list[str]]:
    """The valid values among the URL parameters, and one message per parameter that was rejected."""
    values, problems = {}, []
    for field in fields:
        if field.key in raw:
            try:
                values[field.key] = parse_field(field, raw[field.key])
            except ValueError as error:
                problems.append(str(error))
    return values, problems


def write_params(values: Mapping[str, object], fields: tuple[Field, ...]) -> dict[str, str]:
    """URL parameters for the values that differ from their field's default (a short link)."""
    params = {}
    for field in fields:
        if field.key in values and values[field.key] is not None and values[field.key] != field.default:
            params[field.key] = format_field(field, values[field.key])
    return params


def encode_state(data: Mapping[str, object]) -> str:
    """JSON → zlib → URL-safe base64 (no padding). ValueError past MAX_BLOB_CHARS, naming the size."""
    for name, value in data.items():
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise ValueError(f"The {name} has {len(value):,} characters; a link carries at most {MAX_TEXT_CHARS:,}.")
    payload = json.dumps({"v": BLOB_VERSION, **data}, ensure_ascii=False, separators=(",", ":")).encode()
    blob = base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode().rstrip("=")
    if len(blob) > MAX_BLOB_CHARS:
        raise ValueError(f"This view compresses to {len(blob):,} link characters; a link carries at most "
                         f"{MAX_BLOB_CHARS:,}. Shorten the prompt to share it.")
    return blob


def decode_state(blob: str) -> dict[str, object]:
    """The dict encode_state packed; ValueError for an oversized, malformed or foreign blob."""
    if len(blob) > MAX_BLOB_CHARS:
        raise ValueError(f"The link's state has {len(blob):,} characters; at most {MAX_BLOB_CHARS:,} are read.")
    if not _BLOB_CHARS.match(blob):
        raise ValueError("The link's state contains characters a link never produces.")
    try:
        packed = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        inflater = zlib.decompressobj()
        payload = inflater.decompress(packed, MAX_STATE_BYTES)
        if inflater.unconsumed_tail:
            raise ValueError(f"The link's state unpacks to more than {MAX_STATE_BYTES:,} bytes.")
        if not inflater.eof:
            raise zlib.error("truncated")
        data = json.loads(payload.decode())
    except (binascii.Error, zlib.error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("The link's state is damaged (it may have been cut short when copied).") from None
    if not isinstance(data, dict) or data.get("v") != BLOB_VERSION:
        raise ValueError("The link's state is not from this version of LLM Lens.")
    data.pop("v")
    return data


def text_entry(data: Mapping[str, object], name: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    """One text from a decoded blob, or None when absent; ValueError when it is not a string within limit."""
    if name not in data:
        return None
    value = data[name]
    if not isinstance(value, str):
        raise ValueError(f"The link's {name} is not text.")
    if len(value) > limit:
        raise ValueError(f"The link's {name} has {len(value):,} characters; at most {limit:,}.")
    return value


MAX_SHOTS = 64  # rows of a shared example table (the page's few-shot column takes at most 64)


def task_entry(task: object, formats: tuple[str, ...]) -> dict[str, object]:
    """A Prompt strategies task from a decoded blob, checked field by field; ValueError naming the bad one."""
    if not isinstance(task, dict):
        raise ValueError("The link's task is not a table of settings.")
    out = {name: text_entry(task, name) for name in ("instruction", "query")}
    if None in out.values():
        raise ValueError("The link's task lacks its instruction or query.")
    examples = task.get("examples")
    if not isinstance(examples, list) or len(examples) > MAX_SHOTS:
        raise ValueError(f"The link's examples are not a list of at most {MAX_SHOTS} rows.")
    if not all(isinstance(row, list) and len(row) == 2 and all(isinstance(c, str) for c in row) for row in examples):
        raise ValueError("The link's examples are not (text, label) pairs.")
    if sum(len(text) + len(label) for text, label in examples) > MAX_TEXT_CHARS:
        raise ValueError(f"The link's examples have more than {MAX_TEXT_CHARS:,} characters.")
    few_k, fmt = task.get("few_k"), task.get("format")
    if not isinstance(few_k, int) or isinstance(few_k, bool) or not 1 <= few_k <= MAX_SHOTS:
        raise ValueError(f"The link's shot count is not a whole number from 1 to {MAX_SHOTS}.")
    if fmt not in formats:
        raise ValueError(f"The link's prompt format is not one of {', '.join(formats)}.")
    return {**out, "examples": [tuple(row) for row in examples], "few_k": few_k, "format": fmt}
