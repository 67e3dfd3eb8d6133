"""Deploy: why serving works the way it does (KV cache, prefill vs decode, batching, formats), measured live."""

import streamlit as st

from core.deploy import batch_throughput, prefix_reuse, quant_quality, timing
from ui import choices, present, widgets
from ui.sections import deploy_ui as ui

st.title("🏭 Deploy")
present.explain(
    "Why a KV cache, why prefill is fast and decoding slow, why servers batch, and what a smaller weight format "
    "costs: each measured now on this model and your prompt. Start a measurement with its button."
)
model = widgets.current_model()
widgets.require_decoder(model)
text = widgets.prompt_input()
widgets.limits_caption(f"{timing.MAX_PROMPT_TOKENS} prompt tokens", f"{timing.MAX_NEW_TOKENS} new tokens",
                       f"batches of 1 to {batch_throughput.MAX_BATCH}",
                       f"a {prefix_reuse.MAX_PREFIX_TOKENS:,}-token system prompt",
                       f"{quant_quality.MAX_FORMATS_AT_ONCE} quantized copy at a time",
                       f"median of {timing.TIMING_RUNS} runs, each inside the model's queue")

tabs = choices.show(ui.TAB, on_change="rerun")  # lazy: only the open tab measures
sections = (
    lambda: ui.kv_cache_section(model, text),
    lambda: ui.prefill_section(text),
    lambda: ui.batching_section(text),
    lambda: ui.prefix_section(text),
    ui.formats_section,
    lambda: ui.capacity_section(model, text),
)
for tab, section in zip(tabs, sections):
    if tab.open:
        with tab:
            section()
