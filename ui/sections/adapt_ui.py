"""Sections of the Adapt page: fine-tune (LoRA) live and compare the ways (Steer: ui.sections.adapt_steer_ui)."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

import core
from core import memory, prompting
from core.adapt import compare, data, lora, steering
from core.anatomy import default_lora_targets
from ui import widgets
from ui.caching import adapt_cache, model_pages_cache
from ui.choices import Choice, show
from ui.markdown import md_text
from ui.sections.adapt_steer_ui import lines
from ui.widgets import model_key
from viz import adapt as adapt_viz

POLL_SECONDS = 0.3  # how often the page re-reads a running job's progress
UPLOAD = "Upload a CSV (text,label)"
TABS = ("Steer", "Fine-tune (LoRA)", "Compare")
# The Fine-tune tab's choices, declared once (widget and share-link field). Ranks, alphas and learning rates
# are steps of a select slider, carried as their text ("8", "2e-3"). The matrices (a list per model) are not.
TAB = Choice("ad_tabs", "choice", TABS[0], choices=TABS, widget="tabs")
DATA = Choice("ad_data", "choice", next(iter(prompting.PRESETS)), choices=tuple(prompting.PRESETS))  # + an upload
RANK = Choice("ad_rank", "choice", "8", choices=("1", "2", "4", "8", "16", "32", "64"), label="Rank r", widget="steps")
LORA_ALPHA = Choice("ad_lora_alpha", "choice", "16", choices=("1", "2", "4", "8", "16", "32", "64", "128"),
                    label="LoRA alpha", widget="steps", help="The update is scaled by alpha / r.")
RATE = Choice("ad_lr", "choice", "2e-3", choices=("1e-4", "3e-4", "1e-3", "2e-3", "5e-3", "1e-2", "10"),
              label="Learning rate", widget="steps")
EPOCHS = Choice("ad_epochs", "int", 4, 1, 20, label="Epochs", widget="number", step=1)
BATCH = Choice("ad_batch", "int", 8, 1, lora.MAX_BATCH, label="Batch size", widget="number", step=1)
SEED = Choice("ad_seed", "int", 0, 0, 10_000, label="Seed", widget="number", step=1)
HELDOUT = Choice("ad_heldout", "float", 0.4, 0.1, 0.6, label="Held-out share", widget="slider", step=0.05)
FEW_K = Choice("ad_few_k", "int", None, 1, 16)  # default: the preset's shots
CHOICES = (TAB, DATA, RANK, LORA_ALPHA, RATE, EPOCHS, BATCH, SEED, HELDOUT, FEW_K)


def finetune_data() -> tuple[str, list[prompting.Example], int] | None:
    """(instruction, labelled rows, default shots) from a preset (its shots + its labelled set) or an upload."""
    source = st.selectbox("Data", [*DATA.choices, UPLOAD], key=DATA.key)
    if source == UPLOAD:
        upload = st.file_uploader(f"CSV with columns text,label (at most {prompting.MAX_ROWS} rows)", type=["csv"],
                                  key="ad_csv")
        instruction = st.text_input("Instruction", "Classify each text.", key="ad_instruction")
        if upload is None:
            st.info("Upload a CSV with a header row `text,label`.")
            return None
        try:
            frame = prompting.parse_labelled_csv(upload.getvalue())
        except ValueError as error:
            widgets.show_error(error)
            return None
        return instruction, list(frame[["text", "label"]].itertuples(index=False, name=None)), 4
    task = prompting.PRESETS[source]
    frame = prompting.load_eval_set(task)
    instruction = st.text_input("Instruction (starts every prompt, trained and scored)", task.instruction,
                                key=f"ad_instruction_{source}")
    return instruction, [*task.examples, *frame[["text", "label"]].itertuples(index=False, name=None)], task.few_k


def lora_settings(model: core.LoadedModel) -> tuple[lora.LoraSettings, float]:
    """The LoRA choices (rank, alpha, matrices, learning rate, epochs, batch, seed) and the held-out share."""
    matrices = model_pages_cache.get_anatomy(model_key()).matrices
    cols = st.columns(4)
    rank, alpha, rate, epochs = (show(choice, col) for choice, col in zip((RANK, LORA_ALPHA, RATE, EPOCHS), cols))
    cols = st.columns(4)
    targets = cols[0].multiselect("Matrices", list(matrices["matrix"]), default=default_lora_targets(matrices),
                                  key=widgets.model_scoped("ad_targets"))
    batch, seed, heldout = (show(choice, col) for choice, col in zip((BATCH, SEED, HELDOUT), cols[1:]))
    return lora.LoraSettings(int(rank), int(alpha), tuple(targets), float(rate), int(epochs), int(batch), int(seed)), \
        float(heldout)


def trainable_caption(settings: lora.LoraSettings) -> None:
    """The trainable parameter count, from the Lifecycle page's formula."""
    matrices = model_pages_cache.get_anatomy(model_key()).matrices
    chosen = matrices[matrices["matrix"].isin(settings.targets)]
    shapes = list(chosen[["d_in", "d_out", "count"]].itertuples(index=False, name=None))
    if shapes:
        count = memory.lora_parameters(shapes, settings.rank)
        st.caption(f"Trains **{count:,}** parameters (Σ count × r × (d_in + d_out), as on the Lifecycle page); "
                   f"adapter + AdamW state ≈ {memory.human_bytes(count * 12)} beside the shared model, freed when "
                   "you leave or change model.")


def finetune_tab(model: core.LoadedModel) -> None:
    """Data and split, settings, Train/Stop with live loss, then what it bought and cost."""
    st.caption(f"Caps: {data.MAX_TRAIN_EXAMPLES} training rows, {data.MAX_EXAMPLE_TOKENS} tokens per example "
               f"(prompt + label), {lora.MAX_STEPS} steps, rank ≤ {lora.MAX_RANK}, {data.MAX_LABELS} labels. One "
               "fine-tuning run at a time on this server; others queue.")
    chosen = finetune_data()
    if chosen is None:
        return
    instruction, rows, few_k = chosen
    settings, share = lora_settings(model)
    few_k = int(st.number_input("Shots in the few-shot ways", FEW_K.low, FEW_K.high, few_k, key=FEW_K.key,
                                help="Training rows, alternating labels, put in the prompt of the few-shot ways."))
    try:
        settings.check()
        split = data.split_rows(rows, share, settings.seed)
    except ValueError as error:
        widgets.show_error(error)
        return
    trainable_caption(settings)
    with st.expander(f"The split: {len(split.train)} rows to train on, {len(split.heldout)} held out (never trained "
                     "on; made before training)"):
        left, right = st.columns(2)
        left.dataframe(pd.DataFrame(split.train, columns=["text", "label"]), hide_index=True, key="ad_train_rows")
        right.dataframe(pd.DataFrame(split.heldout, columns=["text", "label"]), hide_index=True, key="ad_heldout_rows")
    job = adapt_cache.session_job(model_key())
    if st.button("Train", type="primary", key="ad_train", disabled=job is not None and job["running"]):
        adapt_cache.start_training(model, model_key(), split, instruction, settings, min(few_k, len(split.train)))
        job = adapt_cache.session_job(model_key())
    if job is not None:
        _watch(job)
        _results(model, job)


def _watch(job: dict) -> None:
    """While the job runs: its place in the queue or 'step 12 of 60', the loss chart, and Stop."""
    if not job["running"]:
        return
    stop = st.empty()
    if stop.button("Stop", key="ad_stop", help="Stops after the current step; the adapter keeps what it learned."):
        job["stop"].set()
    bar, chart = st.empty(), st.empty()
    drawn = -1
    while job["running"]:
        progress = job["progress"]
        if progress is None:
            bar.progress(0.0, text=md_text(job["status"]))
        elif progress.step != drawn:
            drawn = progress.step
            bar.progress(progress.step / max(progress.steps, 1),
                         text=f"{job['status']}: step {progress.step} of {progress.steps}")
            chart.plotly_chart(_loss_figure(job), key=f"ad_live_loss_{drawn}")
        time.sleep(POLL_SECONDS)
    for placeholder in (stop, bar, chart):
        placeholder.empty()


def _loss_figure(job: dict):
    progress = job["progress"]
    return adapt_viz.loss_chart(progress.train_loss, progress.heldout_loss,
                                progress.steps // job["settings"].epochs, progress.steps)


def _results(model: core.LoadedModel, job: dict) -> None:
    if job["error"]:
        widgets.show_error(ValueError(job["error"]))
        return
    if job["progress"] is None:
        st.info(md_text(job["status"]))
        return
    progress = job["progress"]
    st.success(f"{job['status']}: {progress.step} of {progress.steps} steps in {progress.seconds:.1f} s.")
    st.plotly_chart(_loss_figure(job), key="ad_loss_chart")
    if job["bought"] is not None:
        _bought(job)
    if job.get("bought_error"):
        widgets.show_error(ValueError(f"The held-out set could not be scored: {job['bought_error']}"))
    if (archive := adapt_cache.adapter_zip(model_key())) is not None:
        st.download_button("Download the adapter (PEFT folder, zip)", archive, "lora-adapter.zip",
                           "application/zip", key="ad_download",
                           help="adapter_config.json + adapter_model.safetensors: PeftModel.from_pretrained(base, "
                                "folder) loads it; vLLM serves it with --lora-modules.")


def _with_costs(table: pd.DataFrame, job: dict) -> pd.DataFrame:
    """Add what each way cost beyond its prompt tokens: training seconds and parameters changed."""
    tuned = table["way"].str.startswith("fine-tuned")
    trainable = lora.trainable_parameters(job["run"].peft_model) if job["run"] and job["run"].peft_model else 0
    return table.assign(training_seconds=tuned * round(job["progress"].seconds, 1),
                        parameters_changed=tuned * trainable)


def _bought(job: dict) -> None:
    st.subheader("What it bought")
    table = _with_costs(job["bought"], job)
    st.plotly_chart(adapt_viz.ways_chart(table), key="ad_bought_chart")
    st.dataframe(table, hide_index=True, key="ad_bought_table")
    st.subheader("What it cost elsewhere")
    st.caption("General prompts the training never saw: KL(base ‖ adapted) of the next-token distribution and "
               "whether the most likely next token stayed the same.")
    forgetting = job["forgetting"]
    cols = st.columns(2)
    cols[0].metric("mean KL (nats)", f"{forgetting['kl'].mean():.4f}")
    cols[1].metric("top-1 agreement", f"{forgetting['agree'].mean():.0%}")
    st.dataframe(forgetting, hide_index=True, key="ad_forgetting")
    st.subheader("What changed inside")
    st.plotly_chart(adapt_viz.delta_heatmap(job["deltas"]), key="ad_delta_heatmap")
    if job.get("lens") is None:
        return
    text, label, lens = job["lens"]
    st.caption(f"The first held-out row, zero-shot: the probability of its label {label!r} read from the residual "
               "stream at each layer (the logit lens) before and after fine-tuning.")
    st.code(text, language=None, wrap_lines=True)
    st.plotly_chart(adapt_viz.lens_chart(lens, label), key="ad_lens_chart")
    _attention_change(job["attention"])


def _attention_change(change: compare.AttentionChange) -> None:
    """One chosen head's attention on the same prompt: after − before."""
    left, right = st.columns(2)
    layer = left.number_input("Layer", 0, change.before.shape[0] - 1, change.before.shape[0] - 1, key="ad_att_layer")
    head = right.number_input("Head", 0, change.before.shape[1] - 1, 0, key="ad_att_head")
    difference = change.after[layer, head] - change.before[layer, head]
    st.plotly_chart(adapt_viz.attention_difference(difference, change.labels, f"Layer {layer}, head {head}: "
                                                   "attention after − before"), key="ad_att_diff")


def compare_tab(model: core.LoadedModel) -> None:
    """The held-out set scored five ways: zero-shot, few-shot, steered zero-shot, fine-tuned zero- and few-shot."""
    job = adapt_cache.session_job(model_key())
    adapted = adapt_cache.adapted_model(model_key())
    if job is None or adapted is None:
        st.info("Fine-tune first (the Fine-tune tab): the comparison scores its held-out set.")
        return
    layer = st.session_state.get("ad_steer_layer", model.info.layers // 3)
    alpha = float(st.session_state.get("ad_alpha", 6.0))
    positive, negative = steering.PRESETS["Sentiment (positive − negative)"]
    preset = st.session_state.get("ad_steer_preset")
    if preset in steering.PRESETS:
        positive = lines(st.session_state.get(f"ad_pos_{preset}", "\n".join(steering.PRESETS[preset][0])))
        negative = lines(st.session_state.get(f"ad_neg_{preset}", "\n".join(steering.PRESETS[preset][1])))
    st.caption(f"Steered zero-shot uses the Steer tab's vector (layer {layer}, α = {alpha:g}).")
    if not st.button("Compare the five ways", type="primary", key="ad_compare"):
        if job.get("compared") is None:
            return
    else:
        vector = adapt_cache.get_steering_vector(model_key(), layer, positive, negative)
        k = job["few_k"]
        ways = [compare.Way("zero-shot", model, 0), compare.Way(f"few-shot (k={k})", model, k),
                compare.Way("steered zero-shot", model, 0, lambda: steering.steered(model, vector, alpha)),
                compare.Way("fine-tuned zero-shot", adapted, 0),
                compare.Way(f"fine-tuned few-shot (k={k})", adapted, k)]
        with st.spinner("Scoring the held-out set five ways…"):
            job["compared"] = compare.score_ways(ways, job["instruction"], job["split"], k)  # freed with the job
    table = _with_costs(job["compared"], job)
    st.plotly_chart(adapt_viz.ways_chart(table, "Five ways, one held-out set"), key="ad_compare_chart")
    st.dataframe(table, hide_index=True, key="ad_compare_table")
    st.download_button("Download the table (CSV)", table.to_csv(index=False), "adapt-comparison.csv", "text/csv",
                       key="ad_compare_csv")
