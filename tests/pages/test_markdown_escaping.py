"""Echoed user text is Markdown-escaped: it shows as typed, never as bold, links, LaTeX or lists."""

from __future__ import annotations

import pytest

from ui.markdown import md_code, md_text


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


@pytest.mark.parametrize("typed", [
    "**bold** _it_ `code`", "[link](javascript:alert(1)) ![img](http://x/y.png)", "$x^2$ and $$y$$",
    "<b>x</b> &lt; ~~gone~~ a|b", "# heading", "- item", "12. item", ":red[colour]", "back\\slash",
])
def test_md_text_leaves_no_markup_and_reads_back_as_typed(typed):
    escaped = md_text(typed)
    assert _unescape(escaped) == typed
    for marker in ("**", "`", "[", "$", "<b>", "~~", "|", "&"):
        # every marker that was typed is preceded by a backslash now
        for position in range(len(escaped)):
            if escaped.startswith(marker[0], position) and marker[0] in typed:
                assert escaped[position - 1] == "\\", (escaped, position)
    assert not escaped.lstrip().startswith(("#", "- ", "12."))


def test_md_text_flattens_lines_so_no_block_markup_follows_a_break():
    assert md_text("ok\n# heading\n- item") == "ok # heading - item"  # one line: mid-line # and - are text


def test_md_code_span_cannot_be_closed_by_backticks_inside():
    span = md_code("a`b``c")
    fence = span.split(" ")[0]
    assert fence == "```" and span.endswith(" " + fence) and "a`b``c" in span


def test_model_size_echoes_a_typed_size_escaped(make_app):
    from ui.sections.model_size_ui import SIZE_TABS

    at = make_app()
    at.session_state["size_tab"] = SIZE_TABS[1]
    at.switch_page("app_pages/model_size.py").run()
    at.text_input(key="size_custom").set_value("**7B** [x](http://e)").run()
    assert not at.exception
    messages = [w.value for w in at.warning] + [c.value for c in at.caption]
    echoed = [m for m in messages if "7B" in m]
    assert echoed, messages
    assert all("**7B**" not in m and "[x](" not in m for m in echoed)
    assert any("\\*\\*7B\\*\\*" in m for m in echoed)
