"""Five students at once on the Attention page: no exception, and each sees its own prompt's tokens."""

import re

from browser_kit import assert_no_exception, open_app, wait_idle

CHART = '[data-testid="stPlotlyChart"]'
ANIMALS = ("fox", "owl", "whale", "zebra", "camel")  # one SmolLM2 token each: one tick label each


def _prompt(animal: str) -> str:
    return f"A student writes about a {animal}. The {animal} sleeps under the old tree by the river."


def _ticks(page) -> set[str]:
    return {label.lstrip("·") for label in page.locator(f"{CHART} .ytick text").all_text_contents()}


def _open_attention(browser, url: str):
    context = browser.new_context(viewport={"width": 1300, "height": 1400})
    page = context.new_page()
    open_app(page, url)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Attention").click()
    wait_idle(page)
    page.wait_for_selector(CHART, timeout=120_000)
    return context, page


def test_five_sessions_at_once_each_see_their_own_prompt(browser, server_url):
    opened = [_open_attention(browser, server_url) for _ in ANIMALS]
    try:
        for (_, page), animal in zip(opened, ANIMALS):  # all five reruns reach the server together
            box = page.get_by_role("textbox", name="Prompt")
            box.fill(_prompt(animal))
            box.press("Control+Enter")
        for (_, page), animal in zip(opened, ANIMALS):
            for _ in range(240):  # up to 120 s for the shared server to answer everyone
                if animal in _ticks(page):
                    break
                page.wait_for_timeout(500)
            wait_idle(page)
            ticks = _ticks(page)
            assert animal in ticks, f"{animal!r} never reached its own heatmap: {sorted(ticks)}"
            assert not ticks & (set(ANIMALS) - {animal}), f"another session's prompt on {animal!r}'s page"
            caption = page.get_by_text(re.compile(r"^\d+ tokens · ")).first.inner_text()
            labels = page.locator(f"{CHART} .ytick text").all_text_contents()
            assert int(caption.split()[0]) == len(labels)  # caption and heatmap describe the same prompt
            assert_no_exception(page)
    finally:
        for context, _ in opened:
            context.close()
