"""Five students at once on the Attention page: no exception, and each sees its own prompt's tokens."""

import re

from browser_kit import assert_no_exception, new_tab, open_via_nav, wait_idle
from playwright.sync_api import expect

CHART = '[data-testid="stPlotlyChart"]'
ANIMALS = ("fox", "owl", "whale", "zebra", "camel")  # one SmolLM2 token each: one tick label each


def _prompt(animal: str) -> str:
    return f"A student writes about a {animal}. The {animal} sleeps under the old tree by the river."


def _tick(animal: str) -> re.Pattern:
    """A y tick label that is this animal's token (spaces show as a leading ·)."""
    return re.compile(f"^·?{animal}$")


def test_five_sessions_at_once_each_see_their_own_prompt(browser, server_url):
    pages = [new_tab(browser, 1300, 1400) for _ in ANIMALS]
    try:
        for page in pages:
            open_via_nav(page, server_url, "Attention", CHART)
        for page, animal in zip(pages, ANIMALS):  # all five reruns reach the server together
            box = page.get_by_role("textbox", name="Prompt")
            box.fill(_prompt(animal))
            box.press("Control+Enter")
        for page, animal in zip(pages, ANIMALS):
            ticks = page.locator(f"{CHART} .ytick text")
            # Up to 120 s for the shared server to answer everyone.
            expect(ticks.filter(has_text=_tick(animal)), f"{animal!r} never reached its own heatmap").not_to_have_count(
                0, timeout=120_000)
            wait_idle(page)
            for other in set(ANIMALS) - {animal}:
                expect(ticks.filter(has_text=_tick(other)), f"{other!r} on {animal!r}'s page").to_have_count(0)
            # Caption and heatmap describe the same prompt (read once the heatmap shows this prompt).
            labels = ticks.count()
            expect(page.get_by_text(re.compile(r"^\d+ tokens · ")).first).to_have_text(
                re.compile(rf"^{labels} tokens · "))
            assert_no_exception(page)
    finally:
        for page in pages:
            page.context.close()
