"""Prompt strategies page: repeats of a sampled generate-and-match evaluation (seeds seed…seed+n−1)."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.prompting import eval_repeats
from core.prompting.eval_request import EvalRequest
from ui import choices
from ui.caching import prompting_cache
from ui.choices import Choice
from ui.widgets import model_key

REPEATS = Choice("pr_repeats", "int", 1, 1, eval_repeats.MAX_REPEATS, label="Repeats (sampling)", widget="number",
                 step=1, help="Generate and match with sampling on: score the set n times with seeds seed, seed+1, "
                              "… and list the items whose answer changes.")


def repeat_requests(requests: dict[str, EvalRequest]) -> dict[str, EvalRequest]:
    """The extra runs (name → request with seed+1 … seed+n−1) when generating with sampling; else none."""
    generate = requests.get("generate")
    if generate is None or not generate.settings.do_sample:
        return {}
    n = int(choices.show(REPEATS))
    seed = generate.settings.seed
    return {f"Repeat {i + 1} (seed {seed + i})": dataclasses.replace(
        generate, settings=dataclasses.replace(generate.settings, seed=seed + i)) for i in range(1, n)}


def show_repeats(first: EvalRequest | None, extra: dict[str, EvalRequest]) -> None:
    """Accuracy's spread over the repeats and the unstable items, once every repeat has finished."""
    if first is None or not extra:
        return
    results = [prompting_cache.prompt_evaluation(model_key(), r).get("result") for r in (first, *extra.values())]
    if any(r is None or r.partial for r in results):
        return
    repeats = eval_repeats.summarise_repeats([r.settings.seed for r in (first, *extra.values())], results)
    st.markdown(f"**Generate and match over {len(results)} repeats** (seeds {repeats.seeds[0]}–{repeats.seeds[-1]})")
    st.dataframe(repeats.spread.round(3), hide_index=True, key="pr_repeats_spread")
    unstable = repeats.unstable()
    st.caption(f"{len(unstable)} answers (item × strategy) changed between repeats; agreement is the share of "
               "repeats that gave the most common answer.")
    if not unstable.empty:
        st.dataframe(unstable, hide_index=True, key="pr_repeats_unstable")
