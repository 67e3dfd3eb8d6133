"""The Adapt page's Steer tab: a contrastive steering vector, plain vs steered completions, an α sweep."""

from __future__ import annotations

import streamlit as st

import core
from core.adapt import steering
from ui import widgets
from ui.caching import adapt_cache
from ui.choices import MAX_INDEX, Choice, show
from ui.widgets import model_key
from viz import adapt as adapt_viz

PRESET = Choice("ad_steer_preset", "choice", next(iter(steering.PRESETS)), choices=tuple(steering.PRESETS),
                label="Contrast preset", widget="select")
LAYER = Choice("ad_steer_layer", "int", None, 0, MAX_INDEX)  # options and default from the model: the page builds it
ALPHA = Choice("ad_alpha", "float", 6.0, -steering.MAX_ALPHA / 2, steering.MAX_ALPHA / 2, label="Strength α",
               widget="slider", step=0.5)
SEED = Choice("ad_steer_seed", "int", 0, 0, 10_000, label="Sampling seed", widget="number", step=1)
PROMPT = "I went to the store and"
CHOICES = (PRESET, LAYER, ALPHA, SEED)  # the Steer tab's choices a share link carries (its prompt: in the text blob)


def steering_inputs(model: core.LoadedModel) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    """Preset, the two contrast lists and the layer: the steering vector's plain-value key."""
    preset = show(PRESET)
    positive, negative = steering.PRESETS[preset]
    left, right = st.columns(2)
    pos = left.text_area("Towards (one prompt per line)", "\n".join(positive), key=f"ad_pos_{preset}", height=130)
    neg = right.text_area("Away from (one prompt per line)", "\n".join(negative), key=f"ad_neg_{preset}", height=130)
    if st.session_state.get(LAYER.key, 0) > model.info.layers - 1:  # a link made on a deeper model
        widgets.linked_out_of_range(LAYER.key, f"layer {st.session_state[LAYER.key]}", f"{model.info.layers} layers")
        del st.session_state[LAYER.key]
    layer = st.slider("Layer (the residual stream entering it)", 0, model.info.layers - 1, default_inputs(model)[0],
                      key=LAYER.key, help="Early-middle layers carry concepts that later layers still use.")
    return layer, lines(pos), lines(neg)


def lines(text: str) -> tuple[str, ...]:
    """The non-blank lines of a text box, stripped."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def completions(seed: int) -> tuple[tuple[str, core.GenerationSettings], ...]:
    """The two side-by-side completions: greedy, and sampled with the chosen seed."""
    return (("Greedy", core.GenerationSettings(max_new_tokens=20)),
            (f"Sampled (temperature 1, seed {seed})", core.GenerationSettings(max_new_tokens=20, do_sample=True,
                                                                              seed=seed)))


def default_inputs(model: core.LoadedModel) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    """The steering vector's key as the tab opens: the first preset's lists at a third of the depth."""
    positive, negative = steering.PRESETS[PRESET.default]
    return model.info.layers // 3, lines("\n".join(positive)), lines("\n".join(negative))


def warm(model: core.LoadedModel, name: str) -> None:
    """What the tab opens on, computed before anyone asks: the vector and the plain vs steered completions."""
    layer, positive, negative = default_inputs(model)
    adapt_cache.get_steering_vector(name, layer, positive, negative)
    for _, settings in completions(SEED.default):
        adapt_cache.get_steered_texts(name, layer, positive, negative, PROMPT, ALPHA.default, settings)


def steer_tab(model: core.LoadedModel) -> None:
    """The vector's size against the residual stream, plain vs steered completions, and an α sweep."""
    st.caption("Steering vector = mean residual of the *towards* prompts − mean residual of the *away* prompts, "
               "averaged over every position but the first (the first token's residual is an outlier many times "
               "larger, the attention sink, and says nothing about the prompt). It is added, times α, to every "
               "position while the model writes.")
    layer, positive, negative = steering_inputs(model)
    try:
        vector = adapt_cache.get_steering_vector(model_key(), layer, positive, negative)
    except ValueError as error:
        widgets.show_error(error)
        return
    cols = st.columns(3)
    cols[0].metric("‖vector‖", f"{vector.norm:.2f}")
    cols[1].metric("typical ‖residual‖ here", f"{vector.residual_norm:.2f}")
    cols[2].metric("ratio", f"{vector.norm / max(vector.residual_norm, 1e-9):.2f}")
    prompt = st.text_input("Prompt to complete", PROMPT, key="ad_steer_prompt")
    alpha, seed = show(ALPHA), show(SEED)
    for title, settings in completions(int(seed)):
        try:
            plain, steered = adapt_cache.get_steered_texts(model_key(), layer, positive, negative, prompt,
                                                           float(alpha), settings)
        except ValueError as error:
            widgets.show_error(error)
            return
        st.markdown(f"**{title}**")
        left, right = st.columns(2)
        left.caption("Plain model")
        left.code(prompt + plain, language=None, wrap_lines=True)
        right.caption(f"Steered, α = {alpha:g}")
        right.code(prompt + steered, language=None, wrap_lines=True)
    _sweep_section(layer, positive, negative)


def _sweep_section(layer: int, positive: tuple[str, ...], negative: tuple[str, ...]) -> None:
    st.subheader("Sweep α")
    st.caption("Neutral prompts at each α. P(positive), steered model: with the vector added, the model ranks "
               "'positive' against 'negative' for each prompt. Of its text: the plain model's P(positive) for what "
               "the steered model wrote (greedy, 12 tokens). Fluency: the plain model's mean log-probability per "
               "token of that text; where it drops, steering is breaking the language.")
    alphas = st.multiselect("Strengths", [-16.0, -8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0, 16.0],
                            default=[-8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0], key="ad_sweep_alphas")
    if st.button("Run the sweep", key="ad_sweep"):
        st.session_state["ad_sweep_for"] = (layer, positive, negative, tuple(sorted(alphas)))
    if st.session_state.get("ad_sweep_for") and st.session_state["ad_sweep_for"][:3] == (layer, positive, negative):
        try:
            with st.spinner("Steering the neutral prompts at each strength…"):
                sweep = adapt_cache.get_sweep(model_key(), *st.session_state["ad_sweep_for"])
        except ValueError as error:
            widgets.show_error(error)
            return
        st.plotly_chart(adapt_viz.sweep_chart(sweep), key="ad_sweep_chart")
        st.dataframe(sweep, hide_index=True, key="ad_sweep_table")
