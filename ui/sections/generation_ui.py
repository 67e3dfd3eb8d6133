"""The Generation page's sections: next token, sampling filters, step-through, greedy vs samples, logit lens."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

import core
from core import prediction
from core.analysis import softmax
from core.generation import eos_ids
from core.tokens import token_label
from ui import choices, present, widgets
from ui.caching import cache, generation_cache
from ui.choices import Choice
from ui.markdown import md_code
from viz import generation as viz

MAX_STEPS = 64  # step-through is for watching a few tokens appear, not for long texts
MAX_SAMPLES = 8
TABS = ("Next token", "Settings on the same logits", "Step through", "Greedy vs sampling", "Logit lens")
TAB = Choice("genpage_tab", "choice", TABS[0], choices=TABS, widget="tabs")
TOP_N = Choice("genpage_top_n", "int", 10, 3, 30, label="Candidates to show", widget="slider")
N_SAMPLES = Choice("genpage_n_samples", "int", 4, 1, MAX_SAMPLES, label="Samples", widget="number")
CHOICES = (TAB, TOP_N, N_SAMPLES)  # plus the sidebar's generation settings (ui.settings)


def next_token_section(model: core.LoadedModel, text: str) -> None:
    """Top-k candidates as a bar chart and table, and the odds of any token the user types."""
    logits = cache.get_analysis(widgets.model_key(), text).next_token_logits
    k = choices.show(TOP_N)
    table = prediction.top_candidates(model, logits, k)
    left, right = st.columns([3, 2])
    left.plotly_chart(present.styled(viz.candidates_bar(table)), key="genpage_candidates_chart")
    right.dataframe(
        table, hide_index=True, key="genpage_candidates_table",
        column_config={"probability": st.column_config.NumberColumn(format="%.4f"),
                       "logprob": st.column_config.NumberColumn("log-probability", format="%.3f")},
    )
    word = st.text_input(
        "Probability of a token you choose", value=" Paris", key="genpage_word", max_chars=prediction.MAX_WORD_CHARS,
        help="Spaces count: ' Paris' and 'Paris' are different tokens. A word of several tokens is "
        "scored by its first token only.",
    )
    try:
        odds = prediction.token_odds(model, logits, word)
    except ValueError as error:
        widgets.show_error(error)
        return
    first = f"first of its {odds.n_tokens} tokens, " if odds.n_tokens > 1 else ""
    st.markdown(
        f"Token {md_code(odds.label)} ({first}id {odds.token_id}): probability **{odds.probability:.4%}**, "
        f"log-probability {odds.logprob:.3f}, rank **{odds.rank:,}** of {len(logits):,}."
    )


def settings_section(model: core.LoadedModel, text: str, settings: core.GenerationSettings) -> None:
    """The sidebar settings applied to this prompt's one set of logits: before, after, survivors, entropy."""
    logits = cache.get_analysis(widgets.model_key(), text).next_token_logits  # cached: sliders never rerun the model
    dist = prediction.filter_distribution(logits, settings)
    applied = dist.settings
    if not settings.do_sample:
        st.info("Greedy decoding always takes the top token. Turn on **Sample** in the sidebar to use the sliders.")
    if dist.before.max() > 0.9:
        st.caption("The model is almost sure here; an open prompt (\"Once upon a time\") shows the filters better.")
    cols = st.columns(4)
    cols[0].metric("Tokens kept", f"{dist.n_kept:,}", help=f"of {len(logits):,} in the vocabulary")
    cols[1].metric("Entropy before", f"{dist.entropy_before:.2f} bits")
    cols[2].metric("Entropy after", f"{dist.entropy_after:.2f} bits")
    cols[3].metric("Top token after", f"{dist.after.max():.1%}", help=f"{dist.before.max():.1%} before")
    table = prediction.distribution_table(model, dist, k=20)
    st.plotly_chart(present.styled(viz.filter_bars(table, dist.n_kept, len(logits))), key="genpage_filter_chart")
    st.caption(
        "Grey bars are removed by the filters. Moving a slider re-filters these same logits: "
        "the model does not run again."
    )
    st.markdown("\n".join(_setting_notes(settings, applied, len(logits))))


def _setting_notes(chosen: core.GenerationSettings, applied: core.GenerationSettings, vocab: int) -> list[str]:
    """One sentence per setting on what it does, and any value that was clamped."""
    notes = [
        f"- **Temperature {chosen.temperature:g}** divides the logits before the softmax: below 1 the top "
        "tokens gain probability (surer, more repetitive), above 1 the distribution flattens (more varied).",
        f"- **Top-k {chosen.top_k or 'off'}** keeps only the k most likely tokens.",
        f"- **Top-p {chosen.top_p:g}** keeps the smallest set of top tokens whose probabilities add up to p "
        "(the *nucleus*); the top token always stays.",
    ]
    if chosen.do_sample and not applied.do_sample:
        notes.append("- Temperature 0 means **greedy**: always the most likely token.")
    if chosen.top_k >= vocab:
        notes.append(f"- Top-k {chosen.top_k:,} is more than the vocabulary ({vocab:,}), so it keeps every token.")
    if chosen.do_sample and chosen.top_p <= 0:
        notes.append("- Top-p 0 keeps only the single most likely token.")
    return notes


def step_section(model: core.LoadedModel, prompt: str, settings: core.GenerationSettings) -> None:
    """One token per click: candidates at this step, the chosen token and its probability."""
    state = _step_state(widgets.model_key(), prompt)
    ids = tuple(state["ids"])
    with widgets.model_wait("Running the model on the text so far…"):
        step = generation_cache.get_step_prediction(widgets.model_key(), prompt, ids)
    finished = bool(ids) and ids[-1] in eos_ids(model)
    cols = st.columns(3)
    cols[0].button(
        "Next token ▶", key="genpage_step_next", type="primary", disabled=finished or len(ids) >= MAX_STEPS,
        on_click=_take_step, args=(widgets.model_key(), prompt, ids, settings),
    )
    cols[1].button("Undo", key="genpage_step_undo", disabled=not ids, on_click=_undo_step)
    cols[2].button("Reset", key="genpage_step_reset", disabled=not ids, on_click=_reset_steps)
    mode = "a seeded sample (sidebar settings)" if settings.normalized(len(step.logits)).do_sample else "greedy"
    st.caption(f"Each click runs the model once and picks the next token: {mode}. At most {MAX_STEPS} steps.")
    labels = [token_label(model.tokenizer, i) for i in ids]
    st.html(viz.completion_html(prompt, [model.tokenizer.decode([i]) for i in ids], state["probs"]))
    if ids:
        st.markdown(f"Step {len(ids)} chose {md_code(labels[-1])} with probability **{state['probs'][-1]:.2%}**.")
        with st.expander(f"All {len(ids)} steps"):
            st.dataframe(
                {"step": range(1, len(ids) + 1), "token": labels, "id": list(ids), "probability": state["probs"]},
                hide_index=True, key="genpage_step_table",
            )
    if finished:
        st.success("The model chose its end-of-text token: the completion is finished.")
        return
    st.plotly_chart(present.styled(viz.candidates_bar(prediction.top_candidates(model, step.logits, 10))),
                    key="genpage_step_chart")


def _step_state(model_name: str, prompt: str) -> dict:
    # Plain ints and floats only; a new prompt or model starts over.
    state = st.session_state.get("genpage_steps")
    if not state or state["for"] != [model_name, prompt]:
        state = {"for": [model_name, prompt], "ids": [], "probs": []}
        st.session_state["genpage_steps"] = state
    return state


def _take_step(model_name: str, prompt: str, ids: tuple[int, ...], settings: core.GenerationSettings) -> None:
    logits = generation_cache.get_step_prediction(model_name, prompt, ids).logits
    token = prediction.pick_token(logits, settings, step=len(ids))
    state = st.session_state["genpage_steps"]
    state["ids"].append(token)
    state["probs"].append(float(softmax(logits)[token]))


def _undo_step() -> None:
    state = st.session_state["genpage_steps"]
    state["ids"].pop()
    state["probs"].pop()


def _reset_steps() -> None:
    st.session_state["genpage_steps"]["ids"].clear()
    st.session_state["genpage_steps"]["probs"].clear()


def samples_section(model: core.LoadedModel, prompt: str, settings: core.GenerationSettings) -> None:
    """The greedy completion beside N seeded samples, streamed as they are generated."""
    n = int(choices.show(N_SAMPLES))
    greedy = replace(settings, do_sample=False)
    sampled = replace(settings, do_sample=True)
    request = [widgets.model_key(), prompt, repr(sampled), n]
    if st.button("Generate", key="genpage_generate", type="primary"):
        st.session_state["genpage_request"] = request
    if st.session_state.get("genpage_request") != request:
        st.caption(
            f"Greedy, then {n} samples with temperature {settings.temperature:g}, top-k {settings.top_k or 'off'}, "
            f"top-p {settings.top_p:g}, seeds {settings.seed}…{settings.seed + n - 1}. Press Generate."
        )
        return
    left, right = st.columns([1, 2])
    left.markdown("**Greedy** (always the top token)")
    right.markdown(f"**{n} samples** (one batched run; sample i uses seed {settings.seed} + i)")
    greedy_done = _stream_into(model, [left.empty()], (prompt,), greedy)
    samples_done = _stream_into(model, [right.empty() for _ in range(n)], (prompt,) * n, sampled)
    if greedy_done and samples_done:
        distinct = len({c.text for c in samples_done})
        st.markdown(
            f"**{distinct} distinct** completions among {n} samples. Low temperature makes samples agree "
            "with each other and with greedy, and makes loops (repeated phrases) more likely."
        )


def _stream_into(model, slots: list, prompts: tuple[str, ...], settings: core.GenerationSettings):
    """Show a generation run growing in its slots; returns the completions, or None after an error."""
    try:
        completions = None
        with widgets.model_wait(None):  # a paused stream waits at the gate between steps: say so
            for step in generation_cache.stream_generation(widgets.model_key(), prompts, settings):
                for slot, prompt, text in zip(slots, prompts, step.texts):
                    slot.code(prompt + text, language=None, wrap_lines=True)
                completions = step.completions
    except ValueError as error:
        widgets.show_error(error)
        return None
    for slot, done in zip(slots, completions or ()):
        with slot.container(border=True):
            st.html(viz.completion_html(done.prompt, done.token_texts, np.exp(done.logprobs)))
            repeated = prediction.repeated_fraction(done.token_ids)
            st.caption(f"{len(done.token_ids)} tokens · finish: {done.finish_reason} · repeated pairs: {repeated:.0%}")
    return completions


def lens_section(model: core.LoadedModel, text: str) -> None:
    """Logit-lens heatmap: the final prediction's probability at every layer and position."""
    with widgets.model_wait("Reading every layer through the unembedding…"):
        lens = generation_cache.get_logit_lens(widgets.model_key(), text)
    st.plotly_chart(
        present.styled(viz.lens_heatmap(lens.final_probs, lens.top_labels, lens.labels, lens.positions)),
        key="genpage_lens_chart",
    )
    shown = f"the last {len(lens.positions)} positions" if lens.positions[0] > 0 else "every position"
    st.caption(
        f"Showing {shown}. Each cell is what the model would predict after that token if it stopped at that "
        "layer (the hidden state through the final norm and the output embedding). Colour: probability of the "
        "token the full model finally predicts there; text: that layer's own top token."
    )
