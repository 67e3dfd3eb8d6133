"""Presenter mode for a projector: larger type and charts, a colour-blind-safe scale, explanations folded away."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.colors import get_colorscale

KEY = "present"
SCALE = "Cividis"  # sequential, colour-blind safe, and its lightness rises steadily (it survives greyscale)
CHART_GROWTH = 1.5
FONT_SIZE = 18
_SEQUENTIAL = {
    tuple((round(stop, 6), colour) for stop, colour in get_colorscale(name))
    for name in ("Blues", "Greens", "Reds", "Oranges", "Purples", "Greys", "Viridis", "Plasma", "YlOrRd", "YlGnBu")
}
_CSS = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.5rem; line-height: 1.5; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] p { font-size: 1.2rem; }
[data-testid="stMain"] h1 { font-size: 3.4rem; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2.3rem; }
[data-testid="stMain"] [data-testid="stMetricValue"] { font-size: 3rem; }
[data-testid="stMain"] button[role="tab"] p { font-size: 1.35rem; }
</style>"""


def is_on() -> bool:
    """Whether this session presents (the sidebar toggle, or `present=1` in the link)."""
    return bool(st.session_state.get(KEY))


def toggle() -> None:
    """The sidebar switch; the page's style follows it on the same run."""
    st.sidebar.toggle(
        "Presenter mode", key=KEY,
        help="For a projector: larger type and charts, a colour-blind-safe colour scale, explanations folded "
        "away. A link with present=1 opens in this mode with the sidebar closed.",
    )
    if is_on():
        st.html(_CSS)


def explain(text: str) -> None:
    """A page's explanatory paragraph: shown, or folded into an expander while presenting."""
    if is_on():
        with st.expander("About this page"):
            st.markdown(text)
    else:
        st.markdown(text)


def styled(figure: go.Figure) -> go.Figure:
    """The figure as the session shows it: unchanged, or bigger, with larger type and a greyscale-safe scale."""
    if not is_on():
        return figure
    figure = go.Figure(figure)  # a copy: the caller's figure may be reused
    height = figure.layout.height or 450
    figure.update_layout(height=int(height * CHART_GROWTH), font={"size": FONT_SIZE})
    for trace in figure.data:
        if _sequential(getattr(trace, "colorscale", None)):
            trace.colorscale = SCALE
    for axis in ("coloraxis", "coloraxis2"):
        if axis in figure.layout and _sequential(figure.layout[axis].colorscale):
            figure.layout[axis].colorscale = SCALE
    return figure


def _sequential(scale) -> bool:
    # Stops rounded: plotly's own copy of a named scale can differ from get_colorscale in the last float digit.
    return scale is not None and tuple((round(float(stop), 6), colour) for stop, colour in scale) in _SEQUENTIAL


def chart(figure: go.Figure, *, where=None, **kwargs) -> None:
    """`st.plotly_chart` with the presenter style applied (where: a column or container; default the page)."""
    (where or st).plotly_chart(styled(figure), **kwargs)
