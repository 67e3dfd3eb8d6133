"""Helpers shared by the page tests: open one page of the app in AppTest, seeded and checked."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def open_page(make_app: Callable[[], AppTest], page: str, typed: str | None = None,
              params: dict | None = None, **state) -> AppTest:
    """Run app_pages/<page>.py with session state (and query params) seeded; type `typed` into its Prompt box.

    Fails the test if the page raised: every caller checks a page that rendered.
    """
    at = make_app()
    for key, value in state.items():
        at.session_state[key] = value
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.switch_page(page if page.endswith(".py") else f"app_pages/{page}.py").run()
    if typed is not None:
        at.text_area(key="prompt").set_value(typed).run()
    assert not at.exception, at.exception
    return at
