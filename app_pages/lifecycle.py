"""Lifecycle: from scoping a project to deploying a model, with fine-tuning cost and quantization measured."""

import streamlit as st

from ui import present, widgets
from ui.caching import model_pages_cache
from ui.markdown import md_text
from ui.sections import lifecycle_ui as section
from ui.widgets import model_key

st.title("🚀 Lifecycle")
present.explain("How an LLM project reaches users. Tick each stage as you go; every stage links to the page of "
                "LLM Lens that shows it.")
model = widgets.current_model()

st.header("The project checklist")
section.checklist()

st.header("Fine-tuning cost: full vs LoRA")
st.markdown("LoRA freezes the model and learns a low-rank update **W + B·A** for chosen matrices: B is d_out × r, "
            "A is r × d_in, so each adapted matrix trains r × (d_in + d_out) numbers instead of d_in × d_out. "
            f"Shapes below are {md_text(model.info.name)}'s real ones.")
with st.spinner("Reading layer shapes…"):
    anatomy = model_pages_cache.get_anatomy(model_key())
section.lora_section(anatomy)

st.header("Deployment optimisation, measured")
st.markdown(
    "Quantization stores weights with fewer bits. Here a **copy** of the loaded model gets dynamic int8 Linear "
    "layers on the CPU; both models then run the same text. Naive int8 with one scale per matrix can change a "
    "small model's predictions a lot; production formats give each small block of weights its own scale. The "
    "bundled SmolLM2 file is itself quantized GGUF: its block matrices are Q4_1 (4-bit, blocks of 32 weights, each "
    "block with its own scale and minimum), its token embeddings Q8_0, its norms float32."
)
section.quantization_section()
