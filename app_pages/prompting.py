"""Prompt strategies: zero-, one- and few-shot prompts side by side, then scored over a labelled set."""

import streamlit as st

from core import prompting
from core.prompting import prompt_eval
from ui import present, widgets
from ui.sections import lessons_ui, prompting_backends
from ui.sections.prompting_eval_ui import evaluation_section
from ui.sections.prompting_ui import STOP, compare_columns, task_inputs
from ui.settings import LABEL_TOKENS, MAX_NEW_TOKENS_LIMIT, generation_settings

st.title("🧪 Prompt strategies")
present.explain(
    "The same model, the same query, three prompts: no example (**zero-shot**), one labelled example "
    "(**one-shot**) or several (**few-shot**). The examples in the prompt are the only thing that changes: "
    "this is *in-context learning*. Then score each strategy over a labelled set."
)
st.caption(f"The query and each shot's text are limited to {prompting.MAX_PART_TOKENS} tokens and a label to "
           f"{prompting.MAX_LABEL_TOKENS}: a sentence or a paragraph to classify fits easily, and eight shots plus the "
           "query stay a few seconds of CPU.")
served = st.session_state.get("served_backend")  # set by the sidebar when a served model is chosen
model = None
if served is None:
    model = widgets.current_model()
    widgets.require_decoder(model)
    widgets.limits_caption(
        f"labelled sets of up to {prompting.MAX_ROWS} rows", f"{prompt_eval.MAX_PROMPTS:,} prompts per evaluation",
        f"up to {MAX_NEW_TOKENS_LIMIT} new tokens per answer",
    )
lessons_ui.picker("prompting")
inputs = task_inputs()
with st.expander("Generation settings (shared with the Generation page)"):
    # Labels are one word: a small budget and a newline stop keep CPU decoding quick.
    settings = generation_settings(LABEL_TOKENS, stop=STOP)
backend = prompting_backends.for_page(served, model)
compare_columns(backend, inputs, settings)
st.header("Evaluate over a labelled set")
evaluation_section(backend, inputs, settings)
