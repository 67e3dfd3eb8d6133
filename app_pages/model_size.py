"""Model size: the loaded model's parameters by component, and the memory any model needs."""

import streamlit as st

from ui import widgets
from ui.caching import model_pages_cache
from ui.sections import model_size_ui as section

st.title("📏 Model size")
model = widgets.current_model()
info = model.info
widgets.model_card(info)
st.caption(f"Head size (d_model ÷ heads) = {info.d_model} ÷ {info.heads} = {info.head_dim}; "
           f"{info.heads} query heads share {info.kv_heads} key/value heads.")

st.header("Where the parameters are")
with st.spinner("Counting parameters…"):
    anatomy = model_pages_cache.get_anatomy(widgets.model_key())
section.parameter_section(anatomy, info)

st.header("Memory calculator")
st.markdown("Memory needed **at inference** is the weights plus the KV cache (keys and values of every earlier "
            "token, kept so each new token costs one step). **Training** also keeps gradients and optimizer state.")
context, batch, kv_format = section.kv_controls(info)
loaded_tab, custom_tab = st.tabs(section.SIZE_TABS, key="size_tab", on_change="rerun")  # lazy: open tab runs
if loaded_tab.open:
    with loaded_tab:
        shape = (info.layers, info.kv_heads, info.head_dim)
        section.inference_memory(info.parameters, shape, context, batch, kv_format)
        section.training_memory(info.parameters)
if custom_tab.open:
    with custom_tab:
        custom = section.custom_size_input(info)
        if custom is not None:
            section.inference_memory(custom[0], custom[1], context, batch, kv_format)
            section.training_memory(custom[0])

st.header("Architecture families")
section.families_section(info)
