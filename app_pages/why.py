"""Why this token?: which prompt tokens, layers and heads produced the model's next token."""

import streamlit as st

from core.why import attribution, interventions
from ui import choices, present, widgets
from ui.sections import why_ui as ui

st.title("🔬 Why this token?")
present.explain(
    "Every other page shows *what* the model does. Here: *why*. Which words of the prompt drove the next "
    "token, which layers and heads pushed it up, and what breaks when a head is switched off."
)
model = widgets.current_model()
widgets.require_decoder(model)
text = widgets.prompt_input()
widgets.limits_caption(f"{interventions.MAX_WHY_TOKENS} prompt tokens",
                       f"{interventions.MAX_BATCH_TOKENS:,} rows × tokens per batched forward",
                       f"{attribution.MAX_GRAD_TOKENS:,} steps × tokens in flight per gradient pass")
target = ui.pick_target(model, text)
st.caption(f"Explaining `{target.label.replace('`', 'ˋ')}` after {len(target.ids)} tokens.")

tabs = choices.show(ui.TAB, on_change="rerun")  # lazy: only the open tab runs
sections = (
    lambda: ui.input_section(model, target),
    lambda: ui.contrast_section(model, target),
    lambda: ui.dla_section(model, target),
    lambda: ui.ablate_section(model, target),
    lambda: ui.patch_section(model),
    lambda: ui.induction_section(model),
)
for tab, section in zip(tabs, sections):
    if tab.open:
        with tab:
            section()
