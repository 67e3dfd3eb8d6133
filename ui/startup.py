"""What app.py runs before its heavy imports (torch, transformers): the page config's one question, and,
while the server's warm start (ui.warm_start) is still loading the model, its progress instead of a blank page.
"""

from __future__ import annotations

import contextlib
import time

import streamlit as st

from ui import warm_start

PRESENT = "present"  # the share link's presenter-mode parameter (ui.share)
POLL_SECONDS = 0.25


def presenting_requested() -> bool:
    """Presenter mode on in this session, or asked for by the URL (read before the page config)."""
    if PRESENT in st.session_state:
        return bool(st.session_state[PRESENT])
    return st.query_params.get(PRESENT) == "1"


@contextlib.contextmanager
def page_run():
    """app.py's body: counted as a page run (a warm start's background work waits for it), and it begins
    by waiting for a warm start still importing torch, with its progress."""
    with warm_start.page_running():
        wait_for_warm_start()
        yield


def wait_for_warm_start() -> None:
    """While the warm start imports torch and loads the model, show its progress; then clear it.

    Meanwhile an empty 1-pixel chart makes the browser fetch and compile Plotly's script (a second or
    more on a busy machine) while it waits anyway, not after the page's first real chart arrives.
    """
    if warm_start.progress() is None:
        return
    import plotly.graph_objects as go

    slot = st.empty()
    with slot.container():
        st.info("⏳ The server is starting: it loads the model once, for everyone. This page opens when it is "
                "ready.")
        bar = st.progress(0.0)
        st.plotly_chart(go.Figure(), height=1, config={"staticPlot": True}, key="startup_prefetch")
        while (progress := warm_start.progress()) is not None:
            fraction, message = progress
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)
            time.sleep(POLL_SECONDS)
    slot.empty()
