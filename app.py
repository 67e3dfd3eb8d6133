"""LLM Lens entry point: page config, the sidebar model choice and the page list."""

import streamlit as st

from ui import startup

# Read before the page config: a presenter's link opens with the sidebar closed.
st.set_page_config(page_title="LLM Lens", page_icon="🔎", layout="wide",
                   initial_sidebar_state="collapsed" if startup.presenting_requested() else "auto")

# Every page registers here, in the order of the course.
PAGES = [
    st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("app_pages/tokens.py", title="Tokens", icon="🔤"),
    st.Page("app_pages/embeddings.py", title="Embeddings", icon="🧭"),
    st.Page("app_pages/attention.py", title="Attention", icon="👀"),
    st.Page("app_pages/generation.py", title="Generation", icon="🎲"),
    st.Page("app_pages/why.py", title="Why this token?", icon="🔬"),
    st.Page("app_pages/prompting.py", title="Prompt strategies", icon="🧪"),
    st.Page("app_pages/adapt.py", title="Adapt the model", icon="🛠️"),
    st.Page("app_pages/rnn_vs_transformer.py", title="RNN vs Transformer", icon="🔁"),
    st.Page("app_pages/model_size.py", title="Model size", icon="📏"),
    st.Page("app_pages/lifecycle.py", title="Lifecycle", icon="🚀"),
    st.Page("app_pages/deploy.py", title="Deploy", icon="🏭"),
]

# The page run: a server started with `python -m ui.warm_start` loads the model as it starts, and until it
# has imported torch this shows its progress; while pages run, its background work waits (ui/startup.py).
with startup.page_run():
    from ui import present, share, widgets  # after the wait: these import torch and transformers
    from ui.sections import remote_ui

    page = st.navigation(PAGES)
    # Share links: seed the widgets from the URL once per session, say what was not usable.
    st.session_state[widgets.PAGE] = page.url_path
    share.restore(page.url_path)
    share.show_notices(page.url_path)
    st.session_state["model_name"] = widgets.model_selector()
    present.toggle()
    # Served models: a backend choice shown only when the operator configured endpoints.
    st.session_state["served_backend"] = remote_ui.backend_selector()
    remote_ui.weights_notice(page.title, st.session_state["served_backend"])
    page.run()
    share.publish(page.url_path)  # after the page: the link holds every choice it made
