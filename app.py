"""LLM Lens entry point: page config, the sidebar model choice and the page list."""

import streamlit as st

from ui import widgets

st.set_page_config(page_title="LLM Lens", page_icon="🔎", layout="wide")

# Every page registers here, in the order of the course.
PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/tokens.py", title="Tokens", icon="🔤"),
    st.Page("pages/embeddings.py", title="Embeddings", icon="🧭"),
    st.Page("pages/attention.py", title="Attention", icon="👀"),
    st.Page("pages/generation.py", title="Generation", icon="🎲"),
    st.Page("pages/prompting.py", title="Prompt strategies", icon="🧪"),
    st.Page("pages/rnn_vs_transformer.py", title="RNN vs Transformer", icon="🔁"),
    st.Page("pages/model_size.py", title="Model size", icon="📏"),
    st.Page("pages/lifecycle.py", title="Lifecycle", icon="🚀"),
]

page = st.navigation(PAGES)
st.session_state["model_name"] = widgets.model_selector()
page.run()
