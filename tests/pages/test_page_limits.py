"""Every page that runs the model states its limits, and input beyond them is a message naming the limit."""

from __future__ import annotations

import pytest

PAGES_AND_LIMITS = {
    "app_pages/tokens.py": ["120,000 characters per text", "1,000 bytes"],
    "app_pages/embeddings.py": ["512 tokens per prompt", "12 sentences of up to 256 tokens"],
    "app_pages/attention.py": ["512 tokens per prompt", "bertviz: ", "generated answers: 32 tokens"],
    "app_pages/generation.py": ["512 tokens per prompt", "step-through: 64 steps", "8 samples × 256 new tokens"],
    "app_pages/rnn_vs_transformer.py": ["256 tokens"],
    "app_pages/lifecycle.py": ["measured once per model", "256 tokens"],
    "app_pages/prompting.py": ["200 rows", "2,000 prompts per evaluation"],
    "app_pages/why.py": ["64 prompt tokens", "2,048 rows × tokens"],
    "app_pages/deploy.py": ["512 prompt tokens", "64 new tokens", "batches of 1 to 32", "median of 3 runs"],
}


@pytest.mark.parametrize("page", list(PAGES_AND_LIMITS))
def test_page_states_its_limits(make_app, page):
    at = make_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    stated = [c.value for c in at.caption if c.value.startswith("Limits on a shared server")]
    assert len(stated) == 1, [c.value for c in at.caption]
    for limit in PAGES_AND_LIMITS[page]:
        assert limit in stated[0], (limit, stated[0])


@pytest.mark.parametrize("page", ["app_pages/attention.py", "app_pages/embeddings.py", "app_pages/generation.py",
                                  "app_pages/rnn_vs_transformer.py", "app_pages/tokens.py"])
def test_over_the_limit_is_a_message_naming_it(make_app, page):
    # 2,800 tokens: over every page's cap and the tiny model's 128-token window; the page names the one it hit.
    at = make_app()
    at.session_state["prompt"] = "word " * 700
    at.switch_page(page).run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    if page.endswith("tokens.py"):  # tokenizing is cheap: only the context section says it does not fit
        assert any("Does not fit" in e.value for e in at.error), [e.value for e in at.error]
        return
    assert any("2,800 tokens" in w and ("limited to" in w or "context window is 128" in w) for w in warnings), warnings
