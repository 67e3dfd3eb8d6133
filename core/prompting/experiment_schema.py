"""What an uploaded experiment JSON may hold: safe parsing (depth, finite numbers) and field types.

Kept apart from the experiment's meaning (core/prompting/__init__.py) so new fields add one line to
`FIELD_TYPES` or `SETTINGS_TYPES`. Every problem is a ValueError naming the field and what it
must be, so the page shows a message instead of a traceback.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 8  # the exported format nests 4 deep (results → items → row → value)

# field: (accepted types, what to call them in a message); absent optional fields are fine.
FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "instruction": ((str,), "text"),
    "query": ((str,), "text"),
    "format": ((str,), "text"),
    "preset": ((str, type(None)), "text"),
    "model": ((str, type(None)), "text"),
    "mode": ((str, type(None)), "text"),
    "normalise": ((str, type(None)), "text"),
    "few_k": ((int,), "a whole number"),
    "shuffles": ((int,), "a whole number"),
    "shuffle_seed": ((int,), "a whole number"),
    "examples": ((list,), "a list of [text, label] pairs"),
    "items": ((list, type(None)), "a list of [text, label] pairs"),
    "sweep": ((list, type(None)), "a list of shot counts"),
    "settings": ((dict, type(None)), "an object of generation settings"),
    "results": ((dict, type(None)), "an object with strategies and curve"),
}
SETTINGS_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "max_new_tokens": ((int,), "a whole number"),
    "do_sample": ((bool,), "true or false"),
    "temperature": ((int, float), "a number"),
    "top_k": ((int,), "a whole number"),
    "top_p": ((int, float), "a number"),
    "seed": ((int,), "a whole number"),
    "stop": ((list,), "a list of texts"),
}
PAIR_VALUE_TYPES = (str, int, float)  # a label may be saved as a number (1 / 0)


def loads(data: bytes | str) -> object:
    """json.loads that refuses what Python's parser lets through: 1e400 (inf), NaN, deep nesting."""
    def finite(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"The number {text[:20]} is too large for a float.")
        return number

    def constant(name: str) -> None:
        raise ValueError(f"{name} is not a number JSON allows.")

    try:
        loaded = json.loads(data, parse_float=finite, parse_constant=constant)
    except RecursionError:
        raise ValueError(f"The file is nested too deeply; an experiment nests at most {MAX_DEPTH} levels.") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"The file is not UTF-8 text (byte {error.start}).") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"The file is not valid JSON: {error}") from None
    check_depth(loaded)
    return loaded


def check_depth(value: object, limit: int = MAX_DEPTH) -> None:
    """ValueError when lists/objects nest deeper than limit (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth > limit:
                raise ValueError(f"The file is nested {depth} levels deep; an experiment nests at most {limit}.")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _is(value: object, types: tuple[type, ...]) -> bool:
    # JSON true/false arrive as bool, a subclass of int: a count must not accept them.
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def check_experiment(loaded: dict) -> None:
    """ValueError naming the first field of an experiment whose type is wrong."""
    for field, (types, what) in FIELD_TYPES.items():
        if field in loaded and not _is(loaded[field], types):
            raise ValueError(f"The experiment's {field} must be {what}, not {_kind(loaded[field])}.")
    for field, (types, what) in SETTINGS_TYPES.items():
        settings = loaded.get("settings") or {}
        if field in settings and not _is(settings[field], types):
            raise ValueError(f"The experiment's settings.{field} must be {what}, not {_kind(settings[field])}.")
    for field in ("examples", "items"):
        for number, pair in enumerate(loaded.get(field) or [], start=1):
            if not (isinstance(pair, list) and len(pair) == 2 and all(_is(v, PAIR_VALUE_TYPES) for v in pair)):
                raise ValueError(f"The experiment's {field} must be [text, label] pairs; entry {number} is not.")
    if not all(_is(k, (int,)) for k in loaded.get("sweep") or []):
        raise ValueError("The experiment's sweep must be a list of whole numbers (shot counts).")


def _kind(value: object) -> str:
    names = {str: "text", bool: "true/false", int: "a number", float: "a number", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
