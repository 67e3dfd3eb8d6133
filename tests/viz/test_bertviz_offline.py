"""bertviz views as offline HTML: libraries inlined from installed packages, tokens kept as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mpld3
import numpy as np
import pytest

from viz import bertviz_offline as bv

HOSTILE = ("</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>", "the", "the", "👍🏽", "&<!--")


def _attention(layers: int = 3, heads: int = 2, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    weights = np.tril(rng.random((layers, heads, n, n)))
    return (weights / weights.sum(-1, keepdims=True)).astype(np.float32)


def _params(page: str) -> dict:
    """The JSON bertviz put in its script, parsed back."""
    start = page.index("const params = ") + len("const params = ")
    return json.JSONDecoder().raw_decode(page[start:])[0]


@pytest.mark.parametrize("view", bv.VIEWS)
def test_no_cdn_and_libraries_inlined(view):
    page = bv.bertviz_html(view, _attention(), tuple("abcdef"), (0, 2))
    assert "cdnjs" not in page and "require.config" not in page
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "sourceMappingURL" not in page
    jquery, d3, require = bv.library_scripts()
    assert jquery in page and d3 in page and require in page
    d3_file = Path(mpld3.__file__).parent / "js" / "d3.v5.min.js"
    assert d3_file.read_text(encoding="utf-8")[:2000] in page  # read from the installed package
    # Plain scripts first, then require.js, then the AMD shim, then bertviz's requirejs call.
    order = [page.index(jquery), page.index(d3), page.index(require), page.index("define('jquery'"),
             page.index("requirejs(['jquery', 'd3']")]
    assert order == sorted(order)


def test_hostile_tokens_stay_inside_the_json_string():
    page = bv.bertviz_html("head", _attention(), HOSTILE, (1,))
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 5  # jQuery, d3, require.js, AMD shim, bertviz: no token ended a script early
    assert page.lower().count("</script") == 5
    assert "<img" not in page and "<!--" not in page
    params = _params(page)
    assert params["attention"][0]["left_text"] == list(HOSTILE)  # the browser decodes back the exact tokens
    assert params["include_layers"] == [1]


def test_payload_holds_only_chosen_layers_rounded():
    attention = _attention(layers=4)
    params = _params(bv.bertviz_html("model", attention, tuple("abcdef"), (1, 3)))
    sent = np.asarray(params["attention"][0]["attn"])
    assert sent.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(sent, attention[[1, 3]], atol=5e-4)
    np.testing.assert_allclose(sent.sum(-1), 1.0, atol=5e-3)


def test_each_build_has_its_own_id():
    first = bv.bertviz_html("head", _attention(), tuple("abcdef"), (0,))
    second = bv.bertviz_html("head", _attention(), tuple("abcdef"), (0,))
    assert _params(first)["root_div_id"] != _params(second)["root_div_id"]  # why the page caches the HTML


def test_size_limits_name_the_cap():
    with pytest.raises(ValueError, match=f"limited to {bv.MAX_TOKENS} tokens"):
        bv.check_size("head", 1, 1, bv.MAX_TOKENS + 1)
    with pytest.raises(ValueError, match="Pick fewer layers"):
        bv.check_size("model", 30, 9, 64)
    bv.check_size("head", 30, 9, 64)  # the head view draws one layer at a time
    with pytest.raises(ValueError, match="at least one layer"):
        bv.bertviz_html("head", _attention(), tuple("abcdef"), ())
    with pytest.raises(ValueError, match="between 0 and 2"):
        bv.bertviz_html("head", _attention(), tuple("abcdef"), (3,))
    with pytest.raises(ValueError, match="labels"):
        bv.bertviz_html("head", _attention(), tuple("abc"), (0,))
