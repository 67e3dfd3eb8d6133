"""bertviz head and model views as self-contained HTML that draws offline and keeps tokens as text."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

MAX_TOKENS = 64  # bertviz sends layer × head × token² weights as JSON and draws one line per pair
MAX_HEAD_VIEW_WEIGHTS = 1_500_000  # ~10 MB of JSON at 3 decimals; head view draws one layer at a time
MAX_MODEL_VIEW_WEIGHTS = 150_000  # model view draws every weight of every shown head as an SVG line
VIEWS = ("head", "model")

_CDN_SCRIPT = re.compile(r"<script[^>]*\bsrc=[\"'][^\"']*require[^\"']*[\"'][^>]*>\s*</script>", re.I)
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.S)
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.M)
_SENTINEL = "llm-lens-token-{}"
# Named AMD modules from the globals the plain scripts set, so requirejs(['jquery', 'd3']) never fetches.
_DEFINE_MODULES = (
    "define('jquery', [], function () { return window.jQuery; });\n"
    "define('d3', [], function () { return window.d3; });"
)


def _package_file(package: str, *parts: str) -> Path:
    path = Path(str(resources.files(package).joinpath(*parts)))
    if not path.is_file():
        raise RuntimeError(f"Missing {'/'.join(parts)} in the installed package '{package}'.")
    return path


@lru_cache(maxsize=1)
def library_scripts() -> tuple[str, str, str]:
    """jQuery, d3 v5 and require.js, read from installed packages (never from a CDN)."""
    from xstatic.pkg import jquery, requirejs

    sources = (
        Path(jquery.BASE_DIR) / "jquery.min.js",
        _package_file("mpld3", "js", "d3.v5.min.js"),
        Path(requirejs.BASE_DIR) / "require.min.js",
    )
    return tuple(_inline_safe(_SOURCE_MAP.sub("", path.read_text(encoding="utf-8"))) for path in sources)


def _inline_safe(script: str) -> str:
    # "</script" inside a script body would end it early; in JS source it can only sit in a string.
    return re.sub(r"</(script)", r"<\\/\1", script, flags=re.I)


def _json_string(text: str) -> str:
    """A JSON string literal that is also safe inside an HTML <script> body."""
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        encoded = encoded.replace(char, escape)
    return encoded


def check_size(view: str, layers: int, heads: int, tokens: int) -> None:
    """Raise ValueError naming the limit when a bertviz view would be too heavy for the browser."""
    if view not in VIEWS:
        raise ValueError(f"Unknown bertviz view '{view}'; choose one of {', '.join(VIEWS)}.")
    if tokens > MAX_TOKENS:
        raise ValueError(f"bertviz views are limited to {MAX_TOKENS} tokens; got {tokens}.")
    cap = MAX_HEAD_VIEW_WEIGHTS if view == "head" else MAX_MODEL_VIEW_WEIGHTS
    total = layers * heads * tokens * tokens
    if total > cap:
        raise ValueError(
            f"The {view} view of {layers} layers × {heads} heads × {tokens}² tokens has {total:,} weights; "
            f"the limit is {cap:,}. Pick fewer layers."
        )


def bertviz_html(view: str, attention: np.ndarray, labels: tuple[str, ...], layers: tuple[int, ...]) -> str:
    """A full HTML page with bertviz's head or model view of the chosen layers, drawing offline.

    attention: (layer, head, query, key); labels: one per position (shown as text, never markup).
    """
    import torch
    from bertviz import head_view, model_view

    n_layers, heads, n = attention.shape[0], attention.shape[1], attention.shape[-1]
    if len(labels) != n:
        raise ValueError(f"attention has {n} positions but there are {len(labels)} labels.")
    if not layers or any(not 0 <= layer < n_layers for layer in layers):
        raise ValueError(f"Pick at least one layer between 0 and {n_layers - 1}; got {list(layers)}.")
    check_size(view, len(layers), heads, n)
    # Rounded float64 serialises as "0.123", not "0.12300000339746475": a third of the payload.
    rounded = np.round(np.asarray(attention[list(layers)], dtype=np.float64), 3)
    tensors = [torch.zeros(1, heads, 1, 1)] * n_layers  # layers left out are never read
    for index, layer in enumerate(layers):
        tensors[layer] = torch.from_numpy(rounded[index])[None]  # (1, head, query, key)
    # bertviz splices its JSON unescaped into a <script> body: it only ever sees harmless
    # placeholders, which are swapped below for script-safe JSON strings of the real tokens.
    placeholders = [_SENTINEL.format(i) for i in range(n)]
    options = {"tokens": placeholders, "prettify_tokens": False, "include_layers": list(layers),
               "html_action": "return"}
    if view == "head":
        body = head_view(tensors, layer=layers[0], **options).data
    else:
        body = model_view(tensors, display_mode="light", **options).data
    body = _REQUIRE_CONFIG.sub("", _CDN_SCRIPT.sub("", body))
    body = re.sub(r'"llm-lens-token-(\d+)"', lambda m: _json_string(labels[int(m.group(1))]), body)
    scripts = "\n".join(f"<script>{source}</script>" for source in (*library_scripts(), _DEFINE_MODULES))
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        "<style>body{margin:0;background:#fff;color:#000}</style></head>\n"
        f"<body>\n{scripts}\n{body}\n</body></html>"
    )
