"""Echo user or model text inside Streamlit Markdown (st.markdown, captions, alerts, labels) as text.

Streamlit renders Markdown plus its own extensions in those places: `**bold**`, `[links](…)`,
images, `$LaTeX$`, `:red[colour]` directives. A token, a typed word, a model folder's name or an
error message that quotes user input must not turn into any of them.
"""

from __future__ import annotations

import re

# CommonMark lets any ASCII punctuation be backslash-escaped. Escaped here: what starts inline markup
# (emphasis, code, links and images via "[", HTML, remark-math's "$", strikethrough, tables, "&"
# entities); Streamlit's ":name[…]" directives need a literal "[". Block markup (# headings, "-"
# lists, "1." lists) only counts at the start of a line, and line breaks become spaces.
_INLINE = re.compile(r"([\\`*_\[\]<>$~|&])")
_BLOCK_START = re.compile(r"^(\s*)([#>+\-=]|\d+[.)])")


def md_text(text: object) -> str:
    """Text shown literally inside Markdown: '**x**' → '\\*\\*x\\*\\*'; line breaks become spaces."""
    flat = " ".join(str(text).splitlines())
    escaped = _INLINE.sub(r"\\\1", flat)
    return _BLOCK_START.sub(_escape_block_start, escaped)


def _escape_block_start(match: re.Match) -> str:
    spaces, marker = match.group(1), match.group(2)
    if marker[0].isdigit():  # "12." starts a list; the escape goes before the "." (digits cannot be escaped)
        return spaces + marker[:-1] + "\\" + marker[-1]
    return spaces + "\\" + marker


def md_code(text: object) -> str:
    """Text as an inline code span that no backtick inside it can close early."""
    flat = " ".join(str(text).splitlines()) or " "
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {flat} {fence}"
