"""Uploads on the Prompt strategies page: a shifted CSV or a hostile experiment JSON is a message, not a traceback."""

from __future__ import annotations

import json

import pytest

PAGE = "app_pages/prompting.py"


def _page(make_app):
    at = make_app()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _uploader(at, key: str):
    return next(u for u in at.get("file_uploader") if u.proto.id.endswith(key) or key in u.proto.id)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"text,label\ngreat film,positive,extra\nbad,negative\n", "Line 2 has 3 fields"),
     (b"text,label,label\na,b,c\n", "more than one column named")],
)
def test_uploaded_csv_with_shifted_or_duplicate_columns_gets_a_message(make_app, data, message):
    at = _page(make_app)
    at.radio(key="pr_eval_source").set_value("upload").run()
    _uploader(at, "pr_eval_csv").upload("<b>set</b>.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]


@pytest.mark.parametrize(
    ("payload", "message"),
    [({"settings": "x"}, "settings must be an object"), ({"instruction": 7}, "instruction must be text"),
     ({"few_k": 1e308 * 10}, "is too large"), (None, "nested too deeply")],
)
def test_hostile_experiment_json_gets_a_message(make_app, payload, message):
    at = _page(make_app)
    base = {"version": 1, "instruction": "", "examples": [["a", "b"]], "query": "q", "format": "plain", "few_k": 1}
    if payload is None:
        data = ("[" * 50_000 + "]" * 50_000).encode()
    else:
        data = json.dumps({**base, **payload}).replace("Infinity", "1e400").encode()
    _uploader(at, "pr_experiment_file").upload("exp.json", data, "application/json").run()
    assert not at.exception, at.exception
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
