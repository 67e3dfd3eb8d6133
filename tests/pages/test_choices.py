"""One declaration per choice (AppTest, tiny Llama): each page's widgets and its share link agree on every bound."""

from __future__ import annotations

import pytest

from core import share_state
from ui import share
from ui.choices import Choice
from ui.sections import attention_ui, generation_ui, why_ui

WIDGET_LISTS = {"toggle": "toggle", "slider": "slider", "number": "number_input", "radio": "radio",
                "select": "selectbox"}
# The views that, together, put every declared widget of a page on screen (tabs run lazily).
VIEWS = {
    "attention": ({}, {"attn_tab": attention_ui.TABS[6]}, {"attn_tab": attention_ui.TABS[7]}),
    "generation": ({}, {"genpage_tab": generation_ui.TABS[3]}),
    "prompting": ({},),
    "why": ({}, *({"why_tab": why_ui.TABS[i]} for i in (2, 3, 4, 5))),
    "embeddings": ({},),
    "tokens": ({},),
}


def _open(make_app, page: str, params: dict[str, str]):
    at = make_app()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _widget(at, choice: Choice):
    """The widget the page drew for a declared choice, or None when this view does not show it."""
    found = [w for w in getattr(at, WIDGET_LISTS[choice.widget]) if w.key == choice.key]
    assert len(found) <= 1, f"{choice.key} drawn twice"
    return found[0] if found else None


def _assert_matches(widget, choice: Choice) -> None:
    assert widget.label == choice.label and (widget.help or None) == choice.help, choice.key
    if choice.widget in ("slider", "number"):
        assert (widget.min, widget.max) == (choice.low, choice.high), choice.key
    if choice.widget in ("radio", "select"):
        assert len(widget.options) == len(choice.options), choice.key
    assert widget.value == choice.default, choice.key


def test_a_declaration_refuses_a_default_its_bounds_reject():
    with pytest.raises(ValueError, match="outside 1…8"):
        Choice("n", "int", 9, 1, 8, widget="number")
    with pytest.raises(ValueError, match="not one of its options"):
        Choice("side", "choice", "middle", choices=("end", "start"), widget="radio")
    with pytest.raises(ValueError, match="first tab"):
        Choice("tab", "choice", "B", choices=("A", "B"), widget="tabs")
    assert Choice("dims", "int", 2, 2, 3, widget="radio").options == (2, 3)


def test_every_link_field_is_a_declared_choice():
    for page in share.PAGE_SECTIONS:
        fields = share.page_fields(page)
        assert all(isinstance(field, Choice) for field in fields), page
        keys = [field.key for field in fields]
        assert len(keys) == len(set(keys)), page


@pytest.mark.parametrize("page", list(VIEWS))
def test_every_widget_has_its_declared_bounds_and_default(make_app, page):
    seen = set()
    for params in VIEWS[page]:
        at = _open(make_app, page, params)
        for choice in share.page_fields(page):
            if choice.widget == "tabs":
                labels, n = [tab.label for tab in at.tabs], len(choice.options)
                assert any(labels[i:i + n] == list(choice.options) for i in range(len(labels))), labels
                assert at.session_state[choice.key] == params.get(choice.key, choice.default)
            elif choice.widget and (widget := _widget(at, choice)) is not None:
                _assert_matches(widget, choice)
                seen.add(choice.key)
    drawn = {choice.key for choice in share.page_fields(page) if choice.widget not in ("", "tabs")}
    assert drawn <= seen, f"declared but never drawn: {drawn - seen}"


def _outside(choice: Choice) -> str:
    """A link value the declaration rejects: one past the top, not 0/1, or no option at all."""
    if choice.kind in ("int", "float"):
        return share_state.format_field(choice, choice.high + 1)
    return "2" if choice.kind == "bool" else "no-such-option"


@pytest.mark.parametrize("page", list(VIEWS))
def test_a_link_value_outside_the_bounds_falls_back_to_the_declared_default(make_app, page):
    choices = share.page_fields(page)
    at = _open(make_app, page, {choice.key: _outside(choice) for choice in choices})
    notices = " ".join(w.value for w in at.warning)
    for choice in choices:
        assert f"{choice.key}=" in notices, (choice.key, notices)
        assert choice.key not in at.session_state.get(share.LINKED, set())
        if choice.widget == "tabs":
            assert at.session_state[choice.key] == choice.default
        elif choice.widget and (widget := _widget(at, choice)) is not None:
            assert widget.value == choice.default, choice.key
        elif choice.default is not None:  # not drawn in this view, or drawn from the model's sizes
            assert at.session_state.get(choice.key, choice.default) == choice.default, choice.key
