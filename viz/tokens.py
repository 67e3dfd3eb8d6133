"""Views of tokenized text: token chips (escaped HTML), token-count charts and the context-window gauge."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import plotly.graph_objects as go

from viz.plotly_text import plotly_text, plotly_texts

MAX_CHIPS = 2_000  # beyond this the browser slows down; the page says how many are hidden
BANDS = ("#fde2e4", "#dbeafe", "#dcfce7", "#fef3c7", "#ede9fe", "#cffafe")  # light, readable on a projector
SPECIAL_STYLE = "background:#e5e7eb;border:1px dashed #6b7280;font-weight:600;"
PART_STYLE = "box-shadow:inset 0 -3px 0 #f97316;"  # one character split over several tokens
CHIP_STYLE = (
    "display:inline-block;margin:2px 1px;padding:1px 5px;border-radius:5px;font-family:monospace;"
    "white-space:pre;line-height:1.5;font-size:15px;color:#111827;"
)
SUB_STYLE = "font-size:10px;color:#4b5563;margin-left:3px;"
SHOW_OPTIONS = ("position", "id", "none")


class TokenRows(Protocol):
    """Per-position token data a chip needs (core's Tokenization has it); viz never imports core."""

    ids: np.ndarray  # (pos,) int
    pieces: Sequence[str]  # raw vocabulary pieces
    texts: Sequence[str]  # decoded text per token
    labels: Sequence[str]  # display labels, whitespace visible
    spans: np.ndarray  # (pos, 2) character offsets [start, end)
    special: np.ndarray  # (pos,) bool
    part_count: np.ndarray  # (pos,) tokens sharing one split character
    byte_hex: Sequence[str]  # raw bytes of byte-level pieces, or ""

    def __len__(self) -> int: ...


class WindowFit(Protocol):
    """Token counts against a context window (core's ContextFit has them)."""

    prompt: int
    overhead: int
    reserved: int
    window: int
    cut_tokens: int
    total: int


def token_chips_html(tokens: TokenRows, show: str = "position", max_chips: int = MAX_CHIPS) -> str:
    """One coloured chip per token; whitespace visible, special tokens dashed, split characters underlined."""
    if show not in SHOW_OPTIONS:
        raise ValueError(f"show must be one of {SHOW_OPTIONS}, not '{show}'.")
    chips = [_chip(tokens, position, show) for position in range(min(len(tokens), max_chips))]
    hidden = len(tokens) - len(chips)
    if hidden > 0:
        chips.append(f'<p style="color:#6b7280">… and {hidden:,} more tokens (first {max_chips:,} shown).</p>')
    return f'<div class="token-chips" style="line-height:2">{"".join(chips)}</div>'


def _chip(tokens: TokenRows, position: int, show: str) -> str:
    token_id = int(tokens.ids[position])
    special = bool(tokens.special[position])
    style = CHIP_STYLE + (SPECIAL_STYLE if special else f"background:{BANDS[position % len(BANDS)]};")
    if tokens.part_count[position] > 1:
        style += PART_STYLE
    tip = f"position {position} · id {token_id} · piece {tokens.pieces[position]!r}"
    if tokens.byte_hex[position]:
        tip += f" · bytes {tokens.byte_hex[position]}"
    if special:  # added ones cover no characters; [UNK] or a typed special token stands for typed text
        added = tokens.spans[position, 1] <= tokens.spans[position, 0]
        tip += " · special token added by the tokenizer" if added else " · special token standing for typed text"
    sub = {"position": str(position), "id": str(token_id), "none": ""}[show]
    sub_html = f'<span style="{SUB_STYLE}">{sub}</span>' if sub else ""
    label = html.escape(tokens.labels[position])
    chip = f'<span style="{style}" title="{html.escape(tip, quote=True)}">{label}{sub_html}</span>'
    # Follow the text's own line breaks so a poem still looks like a poem.
    return chip + ("<br>" if "\n" in tokens.texts[position] else "")


def token_count_chart(names: Sequence[str], counts: Sequence[int]) -> go.Figure:
    """Bar chart: how many tokens each tokenizer needs for the same text."""
    labels = plotly_texts(names)
    figure = go.Figure(go.Bar(x=labels, y=list(counts), text=list(counts), textposition="outside"))
    figure.update_layout(
        title="Tokens for the same text", yaxis_title="tokens", height=360, margin={"t": 50, "b": 40}
    )
    return figure


def language_cost_chart(languages: Sequence[str], names: Sequence[str], counts: np.ndarray) -> go.Figure:
    """Grouped bars: tokens for one sentence in several languages. counts: (language, tokenizer)."""
    counts = np.asarray(counts)
    figure = go.Figure(
        [
            go.Bar(name=plotly_text(name), x=plotly_texts(languages), y=counts[:, j].tolist(),
                   text=counts[:, j].tolist())
            for j, name in enumerate(names)
        ]
    )
    figure.update_layout(
        barmode="group", title="The same sentence in different languages", yaxis_title="tokens", height=380,
        margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15},
    )
    return figure


def context_gauge(fit: WindowFit) -> go.Figure:
    """Stacked bar of prompt, template overhead and reserved answer tokens against the context window."""
    kept_prompt = fit.prompt - fit.cut_tokens
    parts = [
        ("prompt", kept_prompt, "#3b82f6"),
        ("chat template", fit.overhead, "#a855f7"),
        ("reserved for the answer", fit.reserved, "#22c55e"),
        ("cut: does not fit", fit.cut_tokens, "#ef4444"),
    ]
    figure = go.Figure(
        [
            go.Bar(name=name, y=["tokens"], x=[value], orientation="h", marker_color=colour,
                   hovertemplate=f"{name}: %{{x:,}}<extra></extra>")
            for name, value, colour in parts
        ]
    )
    figure.add_vline(x=fit.window, line_width=3, line_dash="dash", line_color="#111827",
                     annotation_text=f"context window {fit.window:,}", annotation_position="top left")
    figure.update_layout(
        barmode="stack", height=200, margin={"t": 40, "b": 30, "l": 60, "r": 20},
        xaxis={"range": [0, max(fit.window, fit.total) * 1.05], "title": "tokens"},
        legend={"orientation": "h", "y": -0.6, "traceorder": "normal"},
    )
    return figure
