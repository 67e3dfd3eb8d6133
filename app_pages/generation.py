"""Generation: next-word prediction, and how greedy, temperature, top-k and top-p turn it into a completion."""

import streamlit as st

from core.analysis import MAX_ANALYZE_TOKENS
from core.lens import MAX_LENS_POSITIONS
from ui import choices, present, widgets
from ui.caching import cache
from ui.sections import generation_ui, remote_ui
from ui.settings import MAX_NEW_TOKENS_LIMIT, generation_settings

st.title("🎲 Generation")
present.explain(
    "A language model does one thing: given the text so far, it gives every token in its vocabulary a "
    "probability of coming **next**. A completion is that prediction repeated, one token at a time; the "
    "generation settings decide how each next token is picked from the distribution."
)
backend = st.session_state.get("served_backend")  # set by the sidebar when a served model is chosen
if backend is None:
    model = widgets.current_model()
    widgets.require_decoder(model)
prompt = widgets.prompt_input()
with st.sidebar:
    st.subheader("Generation settings")
    settings = generation_settings()
if backend is not None:
    remote_ui.generation_section(backend, prompt, settings)
    st.stop()
widgets.limits_caption(
    f"{MAX_ANALYZE_TOKENS} tokens per prompt", f"step-through: {generation_ui.MAX_STEPS} steps",
    f"{generation_ui.MAX_SAMPLES} samples × {MAX_NEW_TOKENS_LIMIT} new tokens (CPU decoding: about 13 tokens/s)",
    f"logit lens: the last {MAX_LENS_POSITIONS} positions",
)
widgets.computed_or_stop("Running the model on the prompt…", cache.get_analysis, widgets.model_key(), prompt)

tabs = choices.show(generation_ui.TAB, on_change="rerun")
# Only the open tab runs: the logit lens and generation cost seconds nobody should wait for unseen.
sections = [
    lambda: generation_ui.next_token_section(model, prompt),
    lambda: generation_ui.settings_section(model, prompt, settings),
    lambda: generation_ui.step_section(model, prompt, settings),
    lambda: generation_ui.samples_section(model, prompt, settings),
    lambda: generation_ui.lens_section(model, prompt),
]
for tab, section in zip(tabs, sections):
    if tab.open:
        with tab:
            section()
