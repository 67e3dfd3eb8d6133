"""Sections of the Model size page: parameter breakdown, memory calculator, architecture families."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import core
from core import memory
from core.anatomy import Anatomy
from ui import widgets
from ui.markdown import md_text
from viz.model_pages import memory_chart, parameter_breakdown_chart

FORMATS = list(memory.BYTES_PER_PARAM)
SIZE_TABS = ["The loaded model", "Any size (1B, 7B, 70B…)"]
MAX_CONTEXT = 2**21  # 2M tokens: beyond the longest context windows in use
FAMILIES = pd.DataFrame(
    [
        ("Encoder-only", "all-MiniLM-L6-v2 (BERT)", "bidirectional: every token sees every token",
         "fill in masked words", "embeddings, search, classification, named entities"),
        ("Decoder-only", "SmolLM2-135M-Instruct (Llama)", "causal: a token sees only earlier tokens",
         "predict the next token", "chat, text generation, code, few-shot prompting"),
        ("Encoder-decoder", "T5, BART (not bundled)", "encoder bidirectional; decoder causal + cross-attention",
         "rebuild corrupted spans of the input", "translation, summarisation, text-to-text tasks"),
    ],
    columns=["family", "example", "attention", "pre-training objective", "suits"],
)



def _n(value: float) -> str:
    """A number for LaTeX with thin-space thousands separators."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
    return text.replace(",", "{,}")


def formula(*lines: str) -> None:
    """A formula over several aligned lines (the numbers go on their own line so nothing is cut off)."""
    st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")


def parameter_section(anatomy: Anatomy, info: core.ModelInfo) -> None:
    """Chart and table of parameters by component, with the block matrix shapes."""
    st.plotly_chart(parameter_breakdown_chart(anatomy.components), key="size_params_chart")
    st.dataframe(anatomy.components, hide_index=True, key="size_components",
                 column_config={"share": st.column_config.NumberColumn(format="percent")})
    total_ok = "equals" if anatomy.total == info.parameters else "DIFFERS FROM"
    st.caption(
        f"Summed over `model.named_parameters()` (a shared tensor counted once): {anatomy.total:,}, which "
        f"{total_ok} the model's parameter count {info.parameters:,}."
    )
    if anatomy.tied_embeddings:
        st.info("The output head reuses the token-embedding matrix (tied weights): it is counted once, under "
                "token embeddings, and adds no parameters of its own.", icon="🔗")
    with st.expander("Weight matrices repeated in every block (d_in → d_out)"):
        st.dataframe(anatomy.matrices, hide_index=True, key="size_matrices")
    with st.expander(f"All {len(anatomy.tensors):,} parameter tensors"):
        st.dataframe(anatomy.tensors.astype({"shape": str}), hide_index=True, key="size_tensors")


def kv_controls(info: core.ModelInfo) -> tuple[int, int, str]:
    """Context length, batch size and KV-cache format chosen by the user."""
    cols = st.columns(3)
    context = cols[0].number_input("Context length (tokens)", 1, MAX_CONTEXT, min(2048, info.context_window),
                                   key=widgets.model_scoped("size_context"),
                                   help=f"The loaded model reads up to {info.context_window:,}.")
    batch = cols[1].number_input("Batch (sequences at once)", 1, 1024, 1, key="size_batch")
    kv_format = cols[2].selectbox("KV-cache format", FORMATS, index=FORMATS.index("fp16"), key="size_kv_format")
    return int(context), int(batch), kv_format


def inference_memory(params: int, shape: tuple[int, int, int], context: int, batch: int, kv_format: str) -> None:
    """Weights in each format plus the KV cache: chart, table and the two formulas with the numbers."""
    layers, kv_heads, head_dim = shape
    kv = memory.kv_cache_bytes(layers, kv_heads, head_dim, context, batch, kv_format)
    rows = [(f, part, size) for f in FORMATS
            for part, size in (("weights", memory.weights_bytes(params, f)), (f"KV cache ({kv_format})", kv))]
    table = pd.DataFrame(rows, columns=["setting", "part", "bytes"])
    st.plotly_chart(memory_chart(table, "Inference memory by weight format"), key=f"size_infer_chart_{params}")
    b = memory.bytes_per_param("fp16")
    formula(rf"\text{{weights}} &= N \times b = {_n(params)} \times {b:g}\ (\text{{fp16}})",
            rf"&= {_n(params * b)}\ \text{{bytes}} \approx \text{{{memory.human_bytes(params * b)}}}")
    kb = memory.bytes_per_param(kv_format)
    factors = (2, layers, kv_heads, head_dim, _n(context), batch, f"{kb:g}")
    numbers = r" \times ".join(str(f) for f in factors)
    formula(r"\text{KV} &= 2 \times L \times H_{kv} \times d_{head} \times T \times B \times b", "&= " + numbers,
            rf"&= {_n(kv)}\ \text{{bytes}} \approx \text{{{memory.human_bytes(kv)}}}")
    readable = table.assign(size=table["bytes"].map(memory.human_bytes))
    st.dataframe(readable, hide_index=True, key=f"size_infer_table_{params}")


def training_memory(params: int) -> None:
    """Training with Adam vs inference, for fp32 and bf16 weights; activations left out (they depend on batch)."""
    rows = []
    for fmt in ("fp32", "bf16"):
        parts = memory.training_memory(params, fmt)
        rows += [(f"train {fmt}", "weights", parts.weights), (f"train {fmt}", "gradients", parts.gradients),
                 (f"train {fmt}", "Adam states (fp32)", parts.optimizer),
                 (f"inference {fmt}", "weights", memory.weights_bytes(params, fmt))]
    table = pd.DataFrame(rows, columns=["setting", "part", "bytes"])
    st.plotly_chart(memory_chart(table, "Training (Adam) vs inference"), key=f"size_train_chart_{params}")
    total = memory.training_memory(params, "fp32").total
    formula(rf"\text{{train}} &= N \times (b_w + b_g + 2 \times 4) = {_n(params)} \times (4 + 4 + 8)",
            rf"&= {_n(total)}\ \text{{bytes}} \approx \text{{{memory.human_bytes(total)}}}\ (\text{{fp32}})")
    st.caption("Activations saved for the backward pass are not included: they grow with batch × context × "
               "layers and are often cut with gradient checkpointing. Mixed-precision training usually also keeps "
               "an fp32 master copy of the weights (+4 bytes per parameter).")


def custom_size_input(info: core.ModelInfo) -> tuple[int, tuple[int, int, int]] | None:
    """A size typed by the user (e.g. 7B) and the architecture its KV cache needs; None on bad input."""
    text = st.text_input("Model size (parameters)", "7B", key="size_custom", max_chars=40,
                         help="A number with K, M, B or T: 135M, 1B, 7B, 70B.")
    try:
        params = memory.parse_size(text)
    except ValueError as error:
        widgets.show_error(error)
        return None
    st.caption(f"{md_text(text.strip())} = {params:,} parameters. The KV cache also needs the architecture "
               "(defaults: the loaded model's; Llama-2-7B would be 32 layers × 32 KV heads × 128).")
    cols = st.columns(3)
    key = widgets.model_scoped  # the defaults are the loaded model's: another model starts from its own
    layers = cols[0].number_input("Layers", 1, 1000, info.layers, key=key("size_custom_layers"))
    kv_heads = cols[1].number_input("KV heads", 1, 1000, info.kv_heads, key=key("size_custom_kv_heads"))
    head_dim = cols[2].number_input("Head size", 1, 4096, info.head_dim, key=key("size_custom_head_dim"))
    return params, (int(layers), int(kv_heads), int(head_dim))


def families_section(info: core.ModelInfo) -> None:
    """The three transformer families and what each suits; the loaded model's family named."""
    st.dataframe(FAMILIES, hide_index=True, key="size_families")
    family = "Decoder-only" if info.is_decoder else "Encoder-only"
    st.markdown(
        f"The loaded model, **{md_text(info.name)}**, is **{family}**. An encoder-decoder (the original 2017 "
        "Transformer, T5, BART) reads the input with a bidirectional encoder; its decoder then writes the output "
        "one token at a time, attending to the encoder's states through cross-attention. No encoder-decoder is "
        "bundled, so it is explained here rather than run."
    )
