"""Home: what LLM Lens is, what each page teaches, and the loaded model's card."""

import streamlit as st

from ui import widgets

st.title("🔎 LLM Lens")
st.markdown(
    "See how a large language model works from the inside, on a real transformer, offline. "
    "Type a prompt once; it follows you to every page."
)
model = widgets.current_model()
widgets.model_card(model.info)
st.subheader("What each page teaches")
st.markdown(
    "\n".join(
        [
            "- **Home**: the model you are inspecting, and where to start.",
        ]
    )
)
widgets.prompt_input()
