"""Adapt the model: steer it (activation addition) and fine-tune it live (LoRA), measured against prompting."""

import streamlit as st

from ui import present, widgets
from ui.choices import show
from ui.sections import adapt_steer_ui, adapt_ui, lessons_ui

st.title("🛠️ Adapt the model")
present.explain(
    "Three ways to adapt a model to a task: change the **prompt** (in-context learning), change its "
    "**activations** (steering), or change its **weights** (fine-tuning a small LoRA adapter). Here you "
    "do the last two live on the real model and score them against prompting on the same held-out set. "
    "The shared model never changes: your adapter lives beside it, sharing its weights."
)
if st.session_state.get("served_backend") is not None:
    st.info("Adapting needs the model's weights in this process: choose the in-process model in the sidebar.")
    st.stop()
model = widgets.current_model()
widgets.require_decoder(model)
lessons_ui.picker("adapt")
steer, finetune, compared = show(adapt_ui.TAB)
with steer:
    adapt_steer_ui.steer_tab(model)
with finetune:
    adapt_ui.finetune_tab(model)
with compared:
    adapt_ui.compare_tab(model)
