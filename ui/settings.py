"""Generation settings widgets shared by every page that generates text (keys start with "gen_")."""

from __future__ import annotations

import streamlit as st

import core

MAX_NEW_TOKENS_LIMIT = 256  # at 12–14 tokens/s on a laptop CPU, more is a long wait


def generation_settings(
    default_max_new_tokens: int = 32,
    max_new_tokens_key: str = "gen_max_new_tokens",
    stop: tuple[str, ...] = (),
) -> core.GenerationSettings:
    """Greedy-by-default decoding controls; the values follow the user between pages.

    Sampling choices (temperature, top-k, top-p, seed) share one set of keys across pages. The
    token budget takes its own key, because a page that generates one-word labels wants 5 tokens
    where a free-text page wants 32 or more.
    """
    sample = st.toggle(
        "Sample (instead of greedy)", value=False, key="gen_do_sample", persist_state="session",
        help="Greedy always takes the most likely token, so a class sees the same answer twice.",
    )
    left, right = st.columns(2)
    temperature = left.slider(
        "Temperature", 0.0, 2.0, 1.0, 0.05, key="gen_temperature", persist_state="session",
        disabled=not sample, help="Below 1 sharpens the distribution, above 1 flattens it; 0 is greedy.",
    )
    top_p = right.slider(
        "Top-p", 0.0, 1.0, 1.0, 0.01, key="gen_top_p", persist_state="session",
        disabled=not sample, help="Keep the smallest set of tokens whose probabilities add up to p.",
    )
    top_k = left.number_input(
        "Top-k (0 = all)", 0, 50_000, 0, 1, key="gen_top_k", persist_state="session",
        disabled=not sample, help="Keep only the k most likely tokens.",
    )
    seed = right.number_input(
        "Seed", 0, 2**31 - 1, 0, 1, key="gen_seed", persist_state="session",
        disabled=not sample, help="The same seed gives the same sampled text.",
    )
    max_new_tokens = st.number_input(
        "Max new tokens", 1, MAX_NEW_TOKENS_LIMIT, default_max_new_tokens, 1, key=max_new_tokens_key,
        persist_state="session", help=f"At most {MAX_NEW_TOKENS_LIMIT}; CPU decoding is about 12–14 tokens/s.",
    )
    return core.GenerationSettings(
        max_new_tokens=int(max_new_tokens), do_sample=bool(sample), temperature=float(temperature),
        top_k=int(top_k), top_p=float(top_p), seed=int(seed), stop=tuple(stop),
    )
