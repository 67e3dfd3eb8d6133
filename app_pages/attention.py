"""Attention: every layer and head of the model on the user's prompt, plus bertviz, offline."""

import streamlit as st

from core import attention_stats
from core.analysis import MAX_ANALYZE_TOKENS
from ui import choices, present, widgets
from ui.caching import attention_cache, cache
from ui.sections import attention_ui as ui
from viz import bertviz_offline

st.title("👀 Attention")
present.explain(
    "**Self-attention** lets each token build its meaning from the tokens it attends to. Every layer has several "
    "**heads**, each with its own pattern. Below: the weights of the real model on your prompt."
)
model = widgets.current_model()
text = widgets.prompt_input()
widgets.limits_caption(
    f"{MAX_ANALYZE_TOKENS} tokens per prompt (attention is layers × heads × tokens² weights: 283 MB at 512 "
    "tokens for SmolLM2)", f"bertviz: {bertviz_offline.MAX_TOKENS} tokens",
    f"generated answers: {attention_stats.MAX_ANSWER_TOKENS} tokens",
)
analysis = widgets.computed_or_stop("Running the model on your prompt…", cache.get_analysis, widgets.model_key(), text)
st.caption(f"{len(analysis.tokens)} tokens · {model.info.layers} layers × {model.info.heads} heads "
           f"({'causal: a token sees only earlier ones' if model.info.is_decoder else 'bidirectional'})")
hide_first, combine = ui.view_controls()
view = widgets.computed_or_stop(None, attention_cache.get_attention_view, widgets.model_key(), text, hide_first,
                                combine)
labels = analysis.tokens.labels[view.first_position:]
layer, head = ui.pick_layer_head(view)
source = (widgets.model_key(), text, hide_first, combine)  # cached figures are keyed by these plain values

tabs = choices.show(ui.TAB, on_change="rerun")  # lazy: only the open tab runs
sections = (
    lambda: ui.one_head(source, layer, head),
    lambda: ui.layer_heads(source, layer),
    lambda: ui.overview(source),
    lambda: ui.from_token(view, labels, layer, head),
    lambda: ui.head_table(text, hide_first),
    lambda: ui.bertviz_section(model.info, text),
    lambda: ui.encoder_vs_decoder(text),
    lambda: ui.generated_text(model.info, text),
    lambda: ui.export(analysis, view, labels, layer, head),
)
for tab, section in zip(tabs, sections):
    if tab.open:
        with tab:
            section()
