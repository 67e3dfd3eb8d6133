"""Sections of the Deploy page: each measures one reason serving works the way it does, on the loaded model."""

from __future__ import annotations

import streamlit as st

import core
from core.deploy import batch_throughput, capacity, prefix_reuse, quant_quality, timing
from core.deploy.kv_cache import users_that_fit
from core.memory import human_bytes
from ui import choices, present, widgets
from ui.caching.deploy_cache import get_deploy_result, has_deploy_result
from ui.choices import Choice
from ui.markdown import md_text
from ui.sections.model_size_ui import formula
from ui.widgets import model_key
from viz import deploy as charts

TABS = ("KV cache", "Prefill vs decode", "Batching", "Prefix caching", "Weight formats", "Capacity planner")
PLAN_NEW_TOKENS = 8  # the planner's batch measurement: new tokens per request
# Each section's "New tokens to decode" widget key and default (share links carry them too).
TAB = Choice("deploy_tab", "choice", TABS[0], choices=TABS, widget="tabs")
NEW_TOKENS = {key: Choice(key, "int", default, 1, timing.MAX_NEW_TOKENS, label="New tokens to decode", widget="number",
                          step=1, help=f"At most {timing.MAX_NEW_TOKENS} on a shared server.")
              for key, default in {"deploy_kv_new": 24, "deploy_pd_new": 16, "deploy_batch_new": 8,
                                   "deploy_formats_new": 16}.items()}
PLAN_USERS = Choice("deploy_plan_users", "int", 30, 1, capacity.MAX_USERS, label="Users", widget="number", step=1)
CHOICES = (TAB, *NEW_TOKENS.values(), PLAN_USERS)  # the choices a share link carries
MEDIAN = f"Times are the median of {timing.TIMING_RUNS} runs (the server is shared, single runs are noisy)."


def _measured(kind: str, key: tuple, label: str, button_key: str):
    """A measurement's cached result, computed once its button is pressed; None before."""
    if not (has_deploy_result(kind, model_key(), key) or st.button(label, key=button_key)):
        return None
    return _compute(kind, key)


def _compute(kind: str, key: tuple):
    """A measurement's cached result, computed now under a progress bar (bad input: a message, then stop)."""
    bar = st.progress(0.0, text="Measuring…")
    result = widgets.computed_or_stop(None, get_deploy_result, kind, model_key(), key,
                                      lambda f, message: bar.progress(min(max(f, 0.0), 1.0), text=message))
    bar.empty()
    return result


def _new_tokens(key: str) -> int:
    return int(choices.show(NEW_TOKENS[key]))


def kv_cache_section(model: core.LoadedModel, text: str) -> None:
    """Bytes per token (formula vs real tensors), GQA's saving, growth and users that fit; then timed decoding."""
    size = _compute("cache_size", (text,))  # one forward pass: no button
    info = model.info
    formula(r"\text{bytes/token} &= 2 \times \text{layers} \times \text{kv heads} \times \text{head dim} \times "
            r"\text{bytes}",
            rf"&= 2 \times {info.layers} \times {info.kv_heads} \times {info.head_dim} \times "
            rf"{size.bytes_per_value} = {size.formula_bytes_per_token:,}".replace(",", "{,}"))
    cols = st.columns(3)
    cols[0].metric("Formula, bytes per token", f"{size.formula_bytes_per_token:,}")
    cols[1].metric(f"Real cache ÷ {size.tokens_cached} tokens", f"{size.measured_bytes_per_token:,.0f}")
    cols[2].metric(f"Saving vs full multi-head ({info.heads} KV heads)", f"{size.gqa_saving:.1f}×")
    left, right = st.columns(2)
    memory_gb = left.number_input("Memory for serving (GB)", 1.0, 2048.0, 16.0, 1.0, key="deploy_kv_memory")
    context = int(right.number_input("Tokens per user", 1, info.context_window, info.context_window, 256,
                                     key="deploy_kv_context", help="Prompt plus answer, up to the context window."))
    weights = size.weights_bytes
    present.chart(charts.cache_growth_chart(size.growth), key="deploy_kv_growth")
    users = users_that_fit(memory_gb * 1e9, weights, size.formula_bytes_per_token, context)
    st.markdown(f"With {memory_gb:,.0f} GB and {human_bytes(weights)} of weights, **{users:,} users** of "
                f"{context:,} tokens each fit at once (each one's cache is "
                f"{human_bytes(size.formula_bytes_per_token * context)}).")
    _cached_decoding(text)


def _cached_decoding(text: str) -> None:
    """Per-token times of greedy decoding with and without the cache, and whether the tokens agree."""
    st.subheader("Decoding with and without the cache")
    new_tokens = _new_tokens("deploy_kv_new")
    times = _measured("cache_times", (text, new_tokens), "Decode with and without the cache", "deploy_kv_run")
    if times is not None:
        present.chart(charts.decode_steps_chart(times.cached_seconds, times.uncached_seconds, times.prompt_tokens),
                      key="deploy_kv_steps")
        cols = st.columns(3)
        cols[0].metric("Total with the cache", f"{times.cached_seconds.sum():,.2f} s")
        cols[1].metric("Total without", f"{times.uncached_seconds.sum():,.2f} s", f"{times.speedup:.1f}× slower",
                       delta_color="off")
        cols[2].metric("Same tokens both ways", "yes" if times.same_tokens else "no")
        st.caption("Without the cache every step re-runs the whole sequence, so its time climbs with the position; "
                   "with it each step runs one new token. The first point includes the prompt's prefill. With a "
                   "short prompt, reading the weights dominates every step either way and the curves sit close: "
                   f"a longer prompt widens the gap. {MEDIAN}")


def prefill_section(text: str) -> None:
    """Prefill and decode tokens per second against the FLOP rate and weight bandwidth measured the same run."""
    new_tokens = _new_tokens("deploy_pd_new")
    result = _measured("prefill_decode", (text, new_tokens), "Measure prefill, decode and this machine's limits",
                       "deploy_pd_run")
    if result is None:
        return
    measured = (result.prefill_tokens_per_second, result.decode_tokens_per_second)
    present.chart(charts.prefill_decode_chart(measured, (result.prefill_bound, result.decode_bound)),
                  key="deploy_pd_chart")
    limits = result.limits
    cols = st.columns(4)
    cols[0].metric(f"Prefill ({result.prompt_tokens} tokens)", f"{measured[0]:,.0f} tokens/s")
    cols[1].metric("Decode", f"{measured[1]:,.1f} tokens/s")
    cols[2].metric(f"Matrix product {limits.matmul_size}²", f"{limits.flops_per_second / 1e9:,.0f} GFLOP/s")
    cols[3].metric(f"Reading {human_bytes(limits.weight_bytes)} of weights", f"{limits.bandwidth / 1e9:,.1f} GB/s")
    st.markdown(
        f"**Prefill is bound by arithmetic**: it reaches {measured[0] / result.prefill_bound:.0%} of the "
        f"{result.prefill_bound:,.0f} tokens/s the FLOP rate allows, because each weight read from memory is used "
        f"for all {result.prompt_tokens} prompt tokens at once.\n\n"
        f"**Decode is bound by memory**: it reaches {measured[1] / result.decode_bound:.0%} of the "
        f"{result.decode_bound:,.1f} tokens/s the bandwidth allows, because every new token reads all "
        f"{human_bytes(limits.weight_bytes)} of weights to do only 2 FLOPs per weight."
    )
    st.caption(f"{result.flops_per_token / 1e6:,.2f} MFLOP per token = 2 × the parameters of every matrix product "
               f"(attention scores left out). {MEDIAN}")


def batching_section(text: str) -> None:
    """New tokens per second of all requests, and each request's latency, against batch size."""
    left, right = st.columns(2)
    with left:
        new_tokens = _new_tokens("deploy_batch_new")
    largest = right.select_slider("Largest batch", batch_throughput.batch_sizes(), batch_throughput.MAX_BATCH,
                                  key="deploy_batch_max")
    result = _measured("batches", (text, new_tokens, int(largest)), "Measure batch sizes", "deploy_batch_run")
    if result is None:
        return
    present.chart(charts.batch_chart(result.table), key="deploy_batch_chart")
    first, last = result.table.iloc[0], result.table.iloc[-1]
    cols = st.columns(3)
    cols[0].metric(f"Throughput, batch {int(last['batch'])} vs 1",
                   f"{last['tokens_per_second'] / first['tokens_per_second']:.1f}×")
    cols[1].metric("Latency, same", f"{last['latency_seconds'] / first['latency_seconds']:.1f}×")
    cols[2].metric("Every row decoded the same tokens", "yes" if result.same_tokens else "no")
    st.dataframe(result.table, hide_index=True, key="deploy_batch_table")
    st.caption("Decode reads every weight once per step whatever the batch, so more requests per step cost little "
               f"until arithmetic binds: that is why inference servers batch. {MEDIAN}")


def prefix_section(text: str) -> None:
    """Time to first token after a long shared system prompt, recomputed vs its cache reused."""
    with st.expander("The shared system prompt"):
        st.text(prefix_reuse.SYSTEM_PROMPT)
    result = _measured("prefix", (text,), "Measure time to first token", "deploy_prefix_run")
    if result is None:
        return
    present.chart(charts.prefix_chart(result.cold_seconds, result.warm_seconds, result.prefix_tokens),
                  key="deploy_prefix_chart")
    cols = st.columns(3)
    cols[0].metric("Faster first token", f"{result.speedup:.1f}×")
    cols[1].metric("Building the prefix's cache (once)", f"{result.prefix_seconds * 1e3:,.0f} ms")
    cols[2].metric("Same first token", "yes" if result.same_first_token else "no")
    st.caption(f"The system prompt ({result.prefix_tokens} tokens, cut to fit at most "
               f"{prefix_reuse.MAX_PREFIX_TOKENS:,}) is the same for every user, so a server keeps its keys and values "
               f"and runs only the question's {result.question_tokens} tokens. {MEDIAN}")


def formats_section() -> None:
    """Size, speed, perplexity and sentiment accuracy of each weight format this machine runs."""
    new_tokens = _new_tokens("deploy_formats_new")
    formats = tuple(st.multiselect("Weight formats", quant_quality.FORMATS, default=quant_quality.DEFAULT_FORMATS,
                                   key="deploy_formats", help="The torchao formats decode several times slower "
                                   "on a CPU: about a minute more each on SmolLM2."))
    if not formats:
        st.info("Choose at least one weight format.")
        return
    table = _measured("formats", (new_tokens, quant_quality.check_formats(formats)), "Build and measure each format",
                      "deploy_formats_run")
    if table is None:
        return
    present.chart(charts.formats_chart(table), key="deploy_formats_chart")
    st.dataframe(table.drop(columns="note"), hide_index=True, key="deploy_formats_table")
    for name, note in zip(table["format"], table["note"]):
        if note:
            st.warning(f"{md_text(name)}: not measured in full ({md_text(note)})", icon="⚠️")
    st.markdown("\n".join(f"- **{md_text(name)}**: {md_text(quant_quality.FORMAT_NOTES[name])}"
                           for name in table["format"]))
    st.caption(f"Perplexity on a bundled text of about 250 words; accuracy on the bundled "
               f"{quant_quality.EVAL_PRESET.lower()} set (ranked labels, as on Prompt strategies). "
               f"{quant_quality.MAX_FORMATS_AT_ONCE} quantized copy at a time, freed as soon as it is measured; "
               f"the shared model is never changed. {MEDIAN}")


def capacity_section(model: core.LoadedModel, text: str) -> None:
    """Memory and expected wait for N users, from this page's measured speeds and the cache formula."""
    users, prompt, answer, memory_gb = _plan_inputs(model.info.context_window)
    if prompt + answer > model.info.context_window:
        st.warning(f"Prompt plus answer is {prompt + answer:,} tokens; this model's context window is "
                   f"{model.info.context_window:,}.", icon="⚠️")
        return
    keys = {"prefill_decode": (text, PLAN_NEW_TOKENS), "batches": (text, PLAN_NEW_TOKENS, batch_throughput.MAX_BATCH)}
    measured = all(has_deploy_result(kind, model_key(), key) for kind, key in keys.items())
    if not measured and not st.button("Measure the speeds to plan from", key="deploy_plan_run"):
        st.caption(f"Measures prefill, decode and batches of 1 to {batch_throughput.MAX_BATCH} on your prompt "
                   f"({PLAN_NEW_TOKENS} new tokens each), once.")
        return
    speeds = {kind: _compute(kind, key) for kind, key in keys.items()}
    size = _compute("cache_size", (text,))
    args = (prompt, answer, memory_gb * 1e9, size.weights_bytes,
            size.formula_bytes_per_token, speeds["prefill_decode"].prefill_tokens_per_second,
            speeds["batches"].table["batch"].tolist(), speeds["batches"].table["tokens_per_second"].tolist())
    try:
        plans = [capacity.plan(n, *args) for n in sorted({1, 2, 5, 10, 20, 50, 100, users})]
    except ValueError as error:
        widgets.show_error(error)
        return
    _show_plan(next(p for p in plans if p.users == users), plans)


def _plan_inputs(window: int) -> tuple[int, int, int, float]:
    """(users, prompt tokens, answer tokens, memory in GB) as the planner's widgets give them."""
    cols = st.columns(4)
    users = int(choices.show(PLAN_USERS, cols[0]))
    prompt = int(cols[1].number_input("Prompt tokens", 1, window, min(200, window // 2), 10, key="deploy_plan_in"))
    answer = int(cols[2].number_input("Answer tokens", 1, window, min(100, window // 4), 10, key="deploy_plan_out"))
    memory_gb = float(cols[3].number_input("Memory (GB)", 1.0, 2048.0, 16.0, 1.0, key="deploy_plan_memory"))
    return users, prompt, answer, memory_gb


def _show_plan(chosen: capacity.CapacityPlan, plans: list[capacity.CapacityPlan]) -> None:
    cols = st.columns(4)
    cols[0].metric("Served together", f"{chosen.batch} per batch",
                   f"{chosen.waves} batch{'es' if chosen.waves != 1 else ''}", delta_color="off")
    cols[1].metric("Mean wait", f"{chosen.mean_wait_seconds:,.1f} s")
    cols[2].metric("Last user waits", f"{chosen.last_wait_seconds:,.1f} s")
    cols[3].metric("Memory in use", human_bytes(chosen.memory_bytes),
                   f"{human_bytes(chosen.all_memory_bytes)} if all at once", delta_color="off")
    present.chart(charts.capacity_chart([p.users for p in plans], [p.mean_wait_seconds for p in plans],
                                        [p.memory_bytes for p in plans]), key="deploy_plan_chart")
    st.markdown("**Assumptions**\n" + "\n".join(f"- {line}" for line in chosen.assumptions))
