"""Sections of the attention page: controls, one tab body per view, exports."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

import core
from core import attention_stats
from core.models import BUNDLED, DEFAULT_MODEL
from ui import choices, present, widgets
from ui.caching import attention_cache, cache
from ui.choices import MAX_INDEX, Choice
from ui.markdown import md_text
from viz import attention as viz
from viz import bertviz_offline

TABS = ("One head", "Heads of a layer", "All layers", "From one token", "Head table", "bertviz",
        "Encoder vs decoder", "Generated text", "Export")
COMBINE = {"none": "Each head", "heads": "Average over heads", "layers": "Average over layers",
           "rollout": "Attention rollout"}
ENCODER = "all-MiniLM-L6-v2"

TAB = Choice("attn_tab", "choice", TABS[0], choices=TABS, widget="tabs")
LAYER = Choice("attn_layer", "int", 0, 0, MAX_INDEX, label="Layer")  # options: the view's layers (and heads)
HEAD = Choice("attn_head", "int", 0, 0, MAX_INDEX, label="Head")
HIDE_FIRST = Choice(
    "attn_hide_first", "bool", False, label="Hide the first token and renormalise", widget="toggle",
    help="Many heads park most of their weight on the first token (an 'attention sink'). Hiding it "
    "and rescaling each row to sum to 1 shows how the rest is shared out.",
)
SHOW = Choice(
    "attn_combine", "choice", "none", choices=tuple(COMBINE), label="Show", widget="radio",
    help="Rollout multiplies the head-averaged maps of layers 0…L (plus the residual path) to estimate "
    "how much each input token flows into each position after layer L.",
)
QUERY = Choice("attn_query", "int", None, 0, MAX_INDEX, label="Token",  # default: the prompt's last token
               help="The token doing the looking (outlined in red).")
NEW_TOKENS = Choice("attn_new_tokens", "int", 8, 1, attention_stats.MAX_ANSWER_TOKENS, label="New tokens",
                    widget="number")
GENERATE = Choice("attn_generate", "bool", False, label="Generate and show attention", widget="toggle")
COMPARE = Choice("attn_compare", "bool", False, label="Load both models and compare", widget="toggle",
                 help="Loads MiniLM and SmolLM2 if they are not loaded yet (a few seconds each).")
CHOICES = (TAB, LAYER, HEAD, HIDE_FIRST, SHOW, QUERY, NEW_TOKENS, GENERATE, COMPARE)
# The generated answer's own layer and head: not in the link (it does not carry the answer either).
GEN_LAYER, GEN_HEAD = replace(LAYER, key="attn_gen_layer"), replace(HEAD, key="attn_gen_head")


def view_controls() -> tuple[bool, str]:
    """The toggles that reshape attention before every view: hide first token, combine."""
    left, right = st.columns([1, 2])
    hide_first = choices.show(HIDE_FIRST, left)
    combine = choices.show(SHOW, right, format_func=COMBINE.get, horizontal=True)
    return hide_first, combine


def _select_index(choice: Choice, names: tuple[str, ...], prefix: str) -> int:
    key = choice.key
    if st.session_state.get(key, choice.default) >= len(names):  # options shrank (averaging), or a link asked much
        widgets.linked_out_of_range(key, f"{prefix} {st.session_state[key]}", f"{len(names)} to choose from")
        st.session_state[key] = choice.default
    return st.selectbox(choice.label, range(len(names)), format_func=lambda i: f"{prefix} {names[i]}", key=key)


def pick_layer_head(view: attention_stats.AttentionView) -> tuple[int, int]:
    """Layer and head selectors sized to the current view."""
    left, right = st.columns(2)
    with left:
        layer = _select_index(LAYER, view.layer_labels, "layer")
    with right:
        head = _select_index(HEAD, view.head_labels, "head")
    return layer, head


def _title(view: attention_stats.AttentionView, layer: int, head: int) -> str:
    return f"Layer {view.layer_labels[layer]}, head {view.head_labels[head]}"


# source = (model name, text, hide_first, combine): the plain values the cached figures are keyed by.
def one_head(source: tuple[str, str, bool, str], layer: int, head: int) -> None:
    """The heatmap of one head, with how to read it."""
    st.caption("Each row is a token reading the others (query); each column a token being read (key). "
               "Rows sum to 1. Hover a cell for the two tokens and the weight.")
    st.plotly_chart(present.styled(attention_cache.get_head_heatmap(*source, layer, head)), key="attn_one_head")


def layer_heads(source: tuple[str, str, bool, str], layer: int) -> None:
    """All heads of the chosen layer side by side: multi-head attention at a glance."""
    st.caption("Multi-head attention: each head learns its own pattern over the same tokens.")
    st.plotly_chart(present.styled(attention_cache.get_layer_grid(*source, layer)), key="attn_layer_heads")


def overview(source: tuple[str, str, bool, str]) -> None:
    """Every layer × head as thumbnails; clicking one opens that head."""
    st.caption("Every layer × head as a thumbnail (hover to see which). Spot a pattern, then click the thumbnail "
               "to open that head.")
    st.plotly_chart(present.styled(attention_cache.get_overview(*source)), key="attn_overview",
                    on_select=_open_head_from_overview, selection_mode="points")


def open_head(layer: int, head: int, each_head: bool = True) -> None:
    """Point the Attention page at one head on its first tab; each_head also turns averaging off."""
    st.session_state.update({LAYER.key: int(layer), HEAD.key: int(head), TAB.key: TAB.default})
    if each_head:
        st.session_state[SHOW.key] = SHOW.default


def _open_head_from_overview() -> None:
    # The view's layer/head indices: averaged views have fewer, and the thumbnails follow the view.
    points = st.session_state["attn_overview"].selection.points
    owner = points[0].get("customdata") if points else None
    if owner and min(owner) >= 0:  # gaps between thumbnails carry (-1, -1)
        open_head(owner[0], owner[1], each_head=False)


def from_token(view: attention_stats.AttentionView, labels: tuple[str, ...], layer: int, head: int) -> None:
    """One token's attention over the prompt as shaded text."""
    names = tuple(f"#{view.first_position + i} {label}" for i, label in enumerate(labels))
    if st.session_state.setdefault(QUERY.key, len(names) - 1) >= len(names):  # default: the last token
        st.session_state[QUERY.key] = len(names) - 1
    query = st.selectbox(QUERY.label, range(len(names)), format_func=names.__getitem__, key=QUERY.key,
                         help=QUERY.help)
    st.caption(f"{_title(view, layer, head)}: darker means more attention from the outlined token.")
    st.html(viz.token_attention_html(view.weights[layer, head, query], labels, query, view.first_position))


def _open_head_from_table() -> None:
    rows = st.session_state["attn_table"].selection.rows
    if rows:
        open_head(*st.session_state["attn_table_rows"][rows[0]])  # the table lists real heads, not averages


def head_table(text: str, hide_first: bool) -> None:
    """Sortable per-head statistics; picking a row opens that head."""
    summary = attention_cache.get_head_summary(widgets.model_key(), text, hide_first)
    st.session_state["attn_table_rows"] = list(zip(summary["layer"].tolist(), summary["head"].tolist()))
    st.caption("Entropy: how spread out a head's attention is (0 bits = one token). First token: weight on "
               "the 'attention sink'. Previous token: weight on the token just before. Distance: how far back "
               "(or ahead) a head looks on average. Induction: weight from each token that occurred before on the "
               "token that followed its earlier copy, on your prompt (blank when no token repeats; the "
               "'Why this token?' page measures it on a repeated random sequence). "
               "Click a column to sort, a row to open that head.")
    st.dataframe(
        summary, key="attn_table", on_select=_open_head_from_table, selection_mode="single-row", hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in summary.columns[2:]},
    )


def bertviz_section(info: core.ModelInfo, text: str) -> None:
    """bertviz's head and model views, drawn offline in a frame, within a token and size cap."""
    name = widgets.model_key()
    view = st.radio("bertviz view", bertviz_offline.VIEWS, key="attn_bv_view", horizontal=True,
                    format_func=lambda v: f"{v} view")
    default = sorted({0, info.layers // 2, info.layers - 1})
    layers = st.multiselect("Layers to include", range(info.layers), default=default,
                            key=widgets.model_scoped("attn_bv_layers"))
    with widgets.model_wait("Preparing bertviz…"):
        analysis = attention_cache.get_bertviz_analysis(name, text)
    shown, total = len(analysis.tokens), len(cache.get_tokens(name, text))
    st.caption(
        f"bertviz sends every weight of the chosen layers to the browser (layers × heads × tokens², as JSON) and "
        f"draws a line for each, so it is capped at {bertviz_offline.MAX_TOKENS} tokens and a few layers. "
        "The plotly tabs show every token and layer."
    )
    if shown < total:
        st.info(f"bertviz shows the first {shown} of your {total} tokens.")
    try:
        bertviz_offline.check_size(view, len(layers), info.heads, shown)
        if not layers:
            raise ValueError("Pick at least one layer.")
        with st.spinner("Building the bertviz view…"):
            page = attention_cache.get_bertviz_html(name, text, view, tuple(sorted(layers)))
    except ValueError as error:
        widgets.show_error(error)
        return
    st.iframe(page, height="content", alt=f"bertviz {view} view")
    st.download_button("Download this bertviz view (HTML)", page, file_name=f"bertviz-{view}-view.html",
                       mime="text/html", key="attn_bv_download", on_click="ignore")


def encoder_vs_decoder(text: str) -> None:
    """MiniLM (bidirectional) next to SmolLM2 (causal) on the same sentence, averaged over heads and layers."""
    st.markdown("An **encoder** (MiniLM, BERT-style) lets every token see every other token. A **decoder** "
                "(SmolLM2, GPT-style) hides the future with a causal mask, so its upper triangle is empty: "
                "that is what lets it generate text one token at a time.")
    if not choices.show(COMPARE):
        return
    for column, name in zip(st.columns(2), (ENCODER, DEFAULT_MODEL)):
        with column:
            try:
                with widgets.model_wait(f"Running {name}…"):
                    cache.get_model(name)
                    averaged = attention_cache.get_attention_view(name, text, False, "layers")
                    labels = cache.get_analysis(name, text).tokens.labels
            except ValueError as error:
                widgets.show_error(error)
                continue
            figure = viz.attention_heatmap(averaged.weights[0].mean(0), labels, f"{name}: mean of all heads, layers")
            st.plotly_chart(present.styled(figure), key=f"attn_compare_{name}")
            st.caption(BUNDLED[name].description)


def generated_text(info: core.ModelInfo, text: str) -> None:
    """Generate a short answer, then show what each new token looked at."""
    if not info.is_decoder:
        st.info(f"{md_text(info.name)} is an encoder: it reads text but does not generate it.")
        return
    left, right = st.columns([1, 2])
    new_tokens = choices.show(NEW_TOKENS, left)
    if not choices.show(GENERATE, right):
        return
    try:
        with widgets.model_wait("Generating and re-reading prompt plus answer…"):
            answered = attention_cache.get_answered_attention(widgets.model_key(), text, int(new_tokens))
    except ValueError as error:
        widgets.show_error(error)
        return
    analysis, start = answered.analysis, answered.prompt_tokens
    st.markdown("**Answer:**")
    st.code(answered.answer or "(the model stopped at once)", language=None, wrap_lines=True)
    left, right = st.columns(2)
    with left:
        layer = _select_index(GEN_LAYER, tuple(map(str, range(info.layers))), "layer")
    with right:
        head = _select_index(GEN_HEAD, tuple(map(str, range(info.heads))), "head")
    weights, labels = analysis.attention[layer, head], analysis.tokens.labels
    st.caption("Rows below the dashed line are the answer's tokens: each was predicted from the tokens before it. "
               "Raw weights of one head: the toggles above do not apply here.")
    figure = viz.attention_heatmap(weights, labels, f"Layer {layer}, head {head}: prompt + answer", boundary=start)
    st.plotly_chart(present.styled(figure), key="attn_generated")
    st.dataframe(attention_stats.top_attended(weights, labels, range(start, len(labels))), hide_index=True)


def export(analysis: core.Analysis, view: attention_stats.AttentionView, labels: tuple[str, ...],
           layer: int, head: int) -> None:
    """Downloads: one head as CSV, every weight as NPZ (built only when clicked)."""
    weights = np.asarray(view.weights[layer, head])
    st.download_button(
        f"{_title(view, layer, head)} as CSV", lambda: attention_stats.head_csv(weights, labels),
        file_name=f"attention-layer{view.layer_labels[layer]}-head{view.head_labels[head]}.csv", mime="text/csv",
        key="attn_csv", on_click="ignore",
    )
    st.download_button(
        "All layers and heads as NPZ (NumPy)", lambda: attention_stats.attention_npz(analysis),
        file_name="attention.npz", mime="application/octet-stream", key="attn_npz", on_click="ignore",
    )
    st.caption("The NPZ holds `attention` (layer, head, query, key), `token_ids` and `token_labels`. "
               "Every plot also has a camera icon for a PNG; the bertviz tab offers its HTML.")
