"""Sections of the Lifecycle page: the stage checklist, LoRA fine-tuning cost, measured int8 quantization."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core import memory, quantize
from core.anatomy import Anatomy, default_lora_targets
from core.quantize import QuantizationReport
from ui import widgets
from ui.caching import model_pages_cache
from ui.sections.model_size_ui import formula
from ui.widgets import model_key, model_scoped
from viz.lifecycle import lifecycle_progress_html
from viz.model_pages import lora_chart, memory_chart

RANKS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


@dataclass(frozen=True)
class Stage:
    key: str
    title: str
    what: str
    links: tuple[tuple[str, str], ...]  # (page path, link label)


STAGES = (
    Stage("scope", "Scope", "Define the task, its inputs and outputs, and what success means. How much text must "
          "the model read at once? That is counted in tokens.",
          (("app_pages/tokens.py", "Tokens: what fits in the context window"),)),
    Stage("select", "Select a model", "Choose a family (encoder to search or classify, decoder to generate) and a "
          "size your hardware can hold.",
          (("app_pages/model_size.py", "Model size: parameters, memory, families"),
           ("app_pages/rnn_vs_transformer.py", "RNN vs Transformer: why transformers"))),
    Stage("prompt", "Adapt: prompt engineering", "Try zero-, one- and few-shot prompts before training anything.",
          (("app_pages/prompting.py", "Prompt strategies"),)),
    Stage("finetune", "Adapt: fine-tuning", "Train on your own examples: all weights, or small LoRA adapters "
          "(cost computed below).",
          (("app_pages/model_size.py", "Model size: training memory"),
           ("app_pages/embeddings.py", "Embeddings: the vectors training moves"))),
    Stage("align", "Adapt: alignment", "Instruction tuning and preference training (RLHF, DPO) reshape which "
          "continuations the model prefers; SmolLM2-Instruct is already aligned and expects a chat template.",
          (("app_pages/generation.py", "Generation: the distribution alignment reshapes"),
           ("app_pages/tokens.py", "Tokens: the chat template"))),
    Stage("evaluate", "Evaluate", "Score outputs on held-out examples and compare prompts or models fairly.",
          (("app_pages/prompting.py", "Prompt strategies: scored side by side"),
           ("app_pages/attention.py", "Attention: inspect what the model looked at"))),
    Stage("deploy", "Optimise and deploy", "Shrink and speed up the model (quantization, measured below) and size "
          "the serving memory, KV cache included.",
          (("app_pages/deploy.py", "Deploy: KV cache, prefill vs decode, batching, formats, measured"),
           ("app_pages/model_size.py", "Model size: memory calculator"))),
    Stage("integrate", "Integrate", "Call the model from the application: stream tokens, set stop sequences and "
          "sampling, keep prompts inside the context window.",
          (("app_pages/generation.py", "Generation: decoding settings and streaming"),)),
)


def checklist() -> None:
    """One bordered box per stage with a done checkbox and links to the pages that show it."""
    done = []
    for number, stage in enumerate(STAGES, start=1):
        with st.container(border=True):
            ticked = st.checkbox(f"**{number}. {stage.title}**", key=f"life_done_{stage.key}")
            st.markdown(stage.what)
            for path, label in stage.links:
                st.page_link(path, label=label, icon="➡️")
        done.append((stage.title, ticked))
    st.html(lifecycle_progress_html(done))


def lora_section(anatomy: Anatomy) -> None:
    """Trainable parameters and training memory: full fine-tuning vs LoRA on the chosen matrices."""
    options = list(anatomy.matrices["matrix"])
    targets = st.multiselect("Matrices to adapt", options, default=default_lora_targets(anatomy.matrices),
                             key=model_scoped("life_lora_targets"))
    rank = st.select_slider("LoRA rank r", RANKS, value=8, key="life_lora_rank")
    chosen = anatomy.matrices[anatomy.matrices["matrix"].isin(targets)]
    if chosen.empty:
        st.warning("Choose at least one matrix to adapt.", icon="⚠️")
        return
    shapes = list(zip(chosen["d_in"], chosen["d_out"], chosen["count"]))
    lora, full = memory.lora_parameters(shapes, rank), anatomy.total
    cols = st.columns(3)
    cols[0].metric("Full fine-tuning trains", f"{full:,}")
    cols[1].metric(f"LoRA r={rank} trains", f"{lora:,}")
    cols[2].metric("LoRA ÷ full", f"{lora / full:.3%}")
    terms = [rf"{c} \times {rank} \times ({i} + {o})" for i, o, c in shapes]
    formula(r"\text{LoRA} &= \sum \text{count} \times r \times (d_{in} + d_{out})",
            "&= " + terms[0], *(r"&\quad + " + term for term in terms[1:]), f"&= {lora:,}".replace(",", "{,}"))
    table = chosen.assign(lora_parameters=[c * rank * (i + o) for i, o, c in shapes])
    st.dataframe(table, hide_index=True, key="life_lora_table")
    st.plotly_chart(lora_chart(RANKS, [memory.lora_parameters(shapes, r) for r in RANKS], full), key="life_lora_chart")
    _training_comparison(full, lora)


def _training_comparison(full: int, lora: int) -> None:
    rows = []
    for label, parts in (("full fine-tuning", memory.training_memory(full, "fp32")),
                         ("LoRA", memory.training_memory(full + lora, "fp32", trainable=lora))):
        rows += [(label, "weights", parts.weights), (label, "gradients", parts.gradients),
                 (label, "Adam states", parts.optimizer)]
    st.plotly_chart(memory_chart(pd.DataFrame(rows, columns=["setting", "part", "bytes"]),
                                 "Training memory, fp32 + Adam (activations not included)"), key="life_lora_memory")
    st.caption("Gradients and Adam's two fp32 states (8 bytes) are kept only for trainable parameters; LoRA keeps the "
               "frozen base weights plus its small adapters.")


def quantization_section() -> None:
    """Run (once per model) and show the float vs int8 comparison, with a progress bar while it runs."""
    name = model_key()
    widgets.limits_caption("measured once per model while the server runs, then shared by every session",
                           "one measurement at a time", f"a fixed sample text of at most {quantize.MAX_TOKENS} tokens",
                           f"{quantize.TIMING_RUNS} timed runs each way")
    if not model_pages_cache.has_quantization(name):
        if not st.button("Quantize a copy to int8 and measure", key="life_quantize"):
            st.caption("For SmolLM2 this takes about 10–40 s on a laptop CPU (copy, quantize, save both, time both).")
            return
        with st.status("Quantizing a copy of the model…", expanded=True) as status:
            bar = st.progress(0.0)
            model_pages_cache.get_quantization(name, _progress=lambda f, message: bar.progress(f, text=message))
            status.update(label="Quantized and measured", state="complete", expanded=False)
    _quantization_results(model_pages_cache.get_quantization(name))


def _quantization_results(report: QuantizationReport) -> None:
    cols = st.columns(3)
    cols[0].metric("Size float32 → int8", f"{report.float_bytes / 1e6:,.1f} → {report.int8_bytes / 1e6:,.1f} MB",
                   f"{report.size_ratio:.2f}× smaller", delta_color="off")
    cols[1].metric(f"Forward pass ({report.tokens} tokens)",
                   f"{report.float_seconds * 1e3:,.0f} → {report.int8_seconds * 1e3:,.0f} ms",
                   f"{report.speedup:.2f}× speed", delta_color="off")
    if report.agreement is not None:
        cols[2].metric("Same next-token prediction", f"{report.agreement:.0%}",
                       f"{int(report.same_prediction.sum())} of {report.tokens} positions", delta_color="off")
    else:
        cols[2].metric("Output cosine similarity", f"{report.mean_cosine:.3f}", "encoder: no next token",
                       delta_color="off")
    st.caption(
        f"{report.quantized_layers} Linear layers became int8 (`torch.ao.quantization.quantize_dynamic`, one scale "
        "per matrix; activations quantized on the fly). Embeddings and norms stay float32. Sizes are "
        "`torch.save(state_dict)` on disk; times are the median of 5 runs of both models in the same process, on a "
        f"fixed {report.tokens}-token text. Largest output difference: {report.max_abs_diff:.3g}."
    )
