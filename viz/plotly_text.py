"""Escape text for plotly labels: tick, hover, legend, title and cell text render a subset of HTML.

Plotly draws `<b>`, `<i>`, `<br>`, `<a href=…>` and `<span style=…>` in those labels, so a token,
a typed sentence or an uploaded file's name that contains them would change the chart (or add a
link) instead of showing as text. Every figure in viz/ passes such text through `plotly_text`.
Only `&`, `<` and `>` are escaped: plotly decodes `&amp;`, `&lt;`, `&gt;` and numeric entities back
to characters, but not `&quot;`, which would show literally.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import numpy as np


def plotly_text(text: object) -> str:
    """One label as plotly shows it literally: '<b>x</b>' → '&lt;b&gt;x&lt;/b&gt;'."""
    return html.escape(str(text), quote=False)


def plotly_texts(texts: Iterable[object]) -> list[str]:
    """Every label of a sequence escaped (tick text, hover text, category names)."""
    return [plotly_text(text) for text in texts]


def plotly_text_array(texts) -> np.ndarray:
    """An object array of any shape with each string escaped (per-cell hover or heatmap text)."""
    array = np.asarray(texts, dtype=object)
    return np.vectorize(plotly_text, otypes=[object])(array) if array.size else array
