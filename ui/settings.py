"""Generation settings widgets shared by every page that generates text (keys start with "gen_")."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

import core
from ui import choices
from ui.choices import Choice

MAX_NEW_TOKENS_LIMIT = 256  # at 12–14 tokens/s on a laptop CPU, more is a long wait

SAMPLE = Choice("gen_do_sample", "bool", False, label="Sample (instead of greedy)", widget="toggle",
                help="Greedy always takes the most likely token, so a class sees the same answer twice.")
TEMPERATURE = Choice("gen_temperature", "float", 1.0, 0.0, 2.0, label="Temperature", widget="slider", step=0.05,
                     help="Below 1 sharpens the distribution, above 1 flattens it; 0 is greedy.")
TOP_P = Choice("gen_top_p", "float", 1.0, 0.0, 1.0, label="Top-p", widget="slider", step=0.01,
               help="Keep the smallest set of tokens whose probabilities add up to p.")
TOP_K = Choice("gen_top_k", "int", 0, 0, 50_000, label="Top-k (0 = all)", widget="number", step=1,
               help="Keep only the k most likely tokens.")
SEED = Choice("gen_seed", "int", 0, 0, 2**31 - 1, label="Seed", widget="number", step=1,
              help="The same seed gives the same sampled text.")
SAMPLING = (SAMPLE, TEMPERATURE, TOP_P, TOP_K, SEED)  # one set of keys across pages
# The token budget takes its own key per page: one-word labels want 5 tokens where free text wants 32 or more.
MAX_NEW_TOKENS = Choice("gen_max_new_tokens", "int", 32, 1, MAX_NEW_TOKENS_LIMIT, label="Max new tokens",
                        widget="number", step=1,
                        help=f"At most {MAX_NEW_TOKENS_LIMIT}; CPU decoding is about 12–14 tokens/s.")
LABEL_TOKENS = replace(MAX_NEW_TOKENS, key="gen_label_tokens", default=5)


def generation_settings(budget: Choice = MAX_NEW_TOKENS, stop: tuple[str, ...] = ()) -> core.GenerationSettings:
    """Greedy-by-default decoding controls and the page's token budget; the values follow the user between pages."""
    sample = choices.show(SAMPLE, persist_state="session")
    left, right = st.columns(2)
    temperature = choices.show(TEMPERATURE, left, persist_state="session", disabled=not sample)
    top_p = choices.show(TOP_P, right, persist_state="session", disabled=not sample)
    top_k = choices.show(TOP_K, left, persist_state="session", disabled=not sample)
    seed = choices.show(SEED, right, persist_state="session", disabled=not sample)
    max_new_tokens = choices.show(budget, persist_state="session")
    return _settings(max_new_tokens, sample, temperature, top_k, top_p, seed, stop)


def default_generation_settings(budget: Choice = MAX_NEW_TOKENS, stop: tuple[str, ...] = ()) -> core.GenerationSettings:
    """What generation_settings returns for a session that changed nothing (the warm start computes with it)."""
    return _settings(budget.default, SAMPLE.default, TEMPERATURE.default, TOP_K.default, TOP_P.default, SEED.default,
                     stop)


def _settings(max_new_tokens, sample, temperature, top_k, top_p, seed, stop) -> core.GenerationSettings:
    return core.GenerationSettings(
        max_new_tokens=int(max_new_tokens), do_sample=bool(sample), temperature=float(temperature),
        top_k=int(top_k), top_p=float(top_p), seed=int(seed), stop=tuple(stop),
    )
