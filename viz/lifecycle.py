"""The project lifecycle as an escaped HTML progress strip: one step per stage, done or to do."""

from __future__ import annotations

import html
from collections.abc import Sequence

_STYLE = (
    "display:flex;flex-wrap:wrap;gap:6px;align-items:center;font-family:sans-serif;font-size:15px;"
)


def lifecycle_progress_html(stages: Sequence[tuple[str, bool]]) -> str:
    """HTML strip of (stage title, done) pairs joined by arrows; done stages are green with a tick."""
    items = []
    for title, done in stages:
        colour, mark = ("#2ca02c", "✓") if done else ("#888888", "○")
        items.append(
            f'<span class="lifecycle-stage" data-done="{str(bool(done)).lower()}" '
            f'style="border:2px solid {colour};border-radius:14px;padding:3px 10px;color:{colour}">'
            f"{mark} {html.escape(title)}</span>"
        )
    done_count = sum(bool(done) for _, done in stages)
    summary = f"<span>{done_count} of {len(stages)} stages done</span>"
    return f'<div style="{_STYLE}">' + ' <span aria-hidden="true">→</span> '.join(items) + f"</div>{summary}"
