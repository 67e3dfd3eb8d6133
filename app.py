"""LLM Lens entry point: page config, the sidebar model choice and the page list."""

import streamlit as st

from ui import widgets

st.set_page_config(page_title="LLM Lens", page_icon="🔎", layout="wide")

# Every page registers here, in the order of the course.
PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]

page = st.navigation(PAGES)
st.session_state["model_name"] = widgets.model_selector()
page.run()
