"""One declaration per user choice: key, type, bounds and default, from which its widget and share-link field come."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.share_state import Field

MAX_INDEX = 4_095  # layers, heads and token positions in a link: the page checks them against the model
WIDGETS = ("toggle", "slider", "number", "radio", "select", "steps", "tabs")  # steps: a select slider


@dataclass(frozen=True)
class Choice(Field):
    """A widget choice declared once: the share-link Field (key, kind, default, bounds or options) plus its look.

    widget "" means the page builds the widget itself because its options come from the model (layers,
    heads, positions): the declaration then gives the key and the link's outer bounds, and the page checks
    a linked value against the model (ui.widgets.linked_out_of_range).
    """

    label: str = ""
    widget: str = ""  # one of WIDGETS, or "" (options from the model)
    step: float | None = None
    help: str | None = None

    def __post_init__(self) -> None:
        """Refuse a declaration whose default its own bounds or options would reject (caught at import)."""
        if self.widget and self.widget not in WIDGETS:
            raise ValueError(f"{self.key}: widget {self.widget!r} is not one of {', '.join(WIDGETS)}")
        if self.default is None:
            return
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"{self.key}: default {self.default!r} is not one of its options")
        if self.kind in ("int", "float") and not self.low <= self.default <= self.high:
            raise ValueError(f"{self.key}: default {self.default} is outside {self.low:g}…{self.high:g}")
        if self.widget == "tabs" and self.default != self.choices[0]:
            raise ValueError(f"{self.key}: tabs open on their first tab, not {self.default!r}")

    @property
    def options(self) -> tuple:
        """What a radio, select box or tab bar offers: the choices, or every integer from low to high."""
        return self.choices or tuple(range(int(self.low), int(self.high) + 1))


def _number(choice: Choice, value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if choice.kind == "int" else float(value)


def show(choice: Choice, where: Any = st, **extra: Any) -> Any:
    """The declared widget (in `where`: st, st.sidebar or a column) with its key, bounds and default; its value.

    `extra` passes what the declaration leaves to the page: disabled, on_change, format_func, horizontal,
    persist_state.
    """
    kwargs = {"key": choice.key, "help": choice.help, **extra}
    if choice.widget == "toggle":
        return where.toggle(choice.label, value=bool(choice.default), **kwargs)
    if choice.widget in ("slider", "number"):
        make = where.slider if choice.widget == "slider" else where.number_input
        low, high, default, step = (_number(choice, v) for v in (choice.low, choice.high, choice.default, choice.step))
        return make(choice.label, low, high, default, step, **kwargs)
    if choice.widget in ("radio", "select"):
        make = where.radio if choice.widget == "radio" else where.selectbox
        return make(choice.label, choice.options, index=choice.options.index(choice.default), **kwargs)
    if choice.widget == "steps":
        return where.select_slider(choice.label, choice.options, value=choice.default, **kwargs)
    if choice.widget == "tabs":  # opens on the first tab (checked in Choice); the open tab is session state
        kwargs.pop("help")
        return where.tabs(choice.options, **kwargs)
    raise ValueError(f"{choice.key} has no widget of its own: the page builds it from the model")
