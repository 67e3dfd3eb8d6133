"""Sections of the "Why this token?" page: the target picker and one body per tab."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

import core
from core.tokens import token_label
from core.why import attribution, induction, interventions, patching, targets
from ui import choices, present, widgets
from ui.caching import why_cache
from ui.choices import MAX_INDEX, Choice
from ui.sections import attention_ui
from viz import why as viz

TABS = ("Input attribution", "Why A rather than B", "Direct logit attribution", "Ablate heads",
        "Activation patching", "Induction heads")
TARGET_MODES = ("The model's top next token", "A token I type", "A token of the model's answer")
CLEAN, CORRUPT = "The Eiffel Tower is in the city of", "The Colosseum is in the city of"
TAB = Choice("why_tab", "choice", TABS[0], choices=TABS, widget="tabs")
TARGET_MODE = Choice("why_target_mode", "choice", TARGET_MODES[0], choices=TARGET_MODES, label="Explain",
                     widget="radio")
ANSWER_POS = Choice("why_answer_pos", "int", 0, 0, MAX_INDEX, label="Answer token")  # options: the answer's tokens
STEPS = Choice("why_steps", "int", attribution.DEFAULT_STEPS, attribution.MIN_STEPS, attribution.MAX_STEPS,
               label="Integration steps (start)", widget="slider",
               help=f"Where the integral starts: the steps double until the completeness error is within "
                    f"{attribution.COMPLETE_WITHIN:.0%} or the cap of {attribution.MAX_STEPS} is reached.")
SCORE = Choice("why_score", "choice", next(iter(attribution.SCORES)), choices=tuple(attribution.SCORES),
               label="Explain", widget="radio", help="Log-probability: how likely the target is among all tokens, "
               "so a word also gets credit for pushing the other tokens down. Logit: the evidence for the target "
               "alone, before the softmax.")
DLA_CONTRAST = Choice("why_dla_contrast", "bool", False, label="Explain logit(A) − logit(B)", widget="toggle")
ABLATION = Choice("why_mode", "choice", interventions.ABLATIONS[0], choices=tuple(interventions.ABLATIONS),
                  label="Ablation", widget="radio", help="Zero: the head outputs nothing. Mean: the head outputs "
                  "its average over this prompt's positions.")
PATCH_HEADS = Choice("why_patch_heads", "bool", False, label="Also patch each head (one more run per head)",
                     widget="toggle")
IND_N = Choice("why_ind_n", "int", 24, induction.MIN_REPEAT, induction.MAX_REPEAT,
               label="Random tokens (repeated twice)", widget="slider")
IND_SEED = Choice("why_ind_seed", "int", 0, 0, 10_000, label="Seed", widget="number")
CHOICES = (TAB, TARGET_MODE, ANSWER_POS, STEPS, SCORE, DLA_CONTRAST, ABLATION, PATCH_HEADS, IND_N, IND_SEED)


@dataclass(frozen=True)
class Target:
    """The context the model reads (token ids) and the token to explain."""

    ids: tuple[int, ...]
    labels: tuple[str, ...]
    token: int
    label: str


def _labels(model: core.LoadedModel, ids: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(token_label(model.tokenizer, i) for i in ids)


def pick_target(model: core.LoadedModel, text: str) -> Target:
    """Radio: explain the top next token, a typed token (its first token), or a token of the answer."""
    name = widgets.model_key()
    ids = widgets.computed_or_stop(None, why_cache.get_why_ids, name, text)
    mode = choices.show(TARGET_MODE, horizontal=True)
    if mode == TARGET_MODES[1]:
        typed = st.text_input("Token", " Paris", key="why_typed", help="A leading space matters: ' Paris' ≠ 'Paris'.")
        token = widgets.computed_or_stop(None, targets.typed_token, model, typed)
        if token.was_split:
            st.caption(f"That splits into {len(token.pieces)} tokens ({' | '.join(token.pieces)}); "
                       f"the views explain the first, `{token.label}`.")
        return Target(ids, _labels(model, ids), token.token_id, token.label)
    if mode == TARGET_MODES[2]:
        answer = widgets.computed_or_stop("Generating the model's answer (greedy)…", why_cache.get_why_answer,
                                          name, text, 8)
        if not answer:
            st.warning("The model stopped at once: there is no answer token to explain.")
            st.stop()
        names = _labels(model, answer)
        k = st.selectbox(ANSWER_POS.label, range(len(answer)), key=ANSWER_POS.key,
                         format_func=lambda i: f"#{i} {names[i]}  (after: {''.join(names[:i]) or 'the prompt'})")
        k = min(k, len(answer) - 1)
        context = ids + answer[:k]
        return Target(context, _labels(model, context), answer[k], names[k])
    return top_target(model, name, ids)


def top_target(model: core.LoadedModel, name: str, ids: tuple[int, ...]) -> Target:
    """The model's top next token after ids (the page's default target)."""
    top = int(np.argmax(why_cache.get_why_logits(name, ids)))
    return Target(ids, _labels(model, ids), top, token_label(model.tokenizer, top))


def warm(model: core.LoadedModel, name: str, text: str) -> None:
    """What the page opens on, computed before anyone asks: the top next token's input attribution."""
    target = top_target(model, name, why_cache.get_why_ids(name, text))
    why_cache.get_input_attribution(name, target.ids, target.token, None, STEPS.default, SCORE.default)


def _contrast_token(model: core.LoadedModel) -> targets.TypedToken:
    typed = st.text_input("B (the alternative)", " London", key="why_contrast",
                          help="Its first token is used. A leading space matters.")
    return widgets.computed_or_stop(None, targets.typed_token, model, typed)


def _attribution_view(model: core.LoadedModel, target: Target, contrast: targets.TypedToken | None,
                      kind: str = "logprob") -> None:
    steps = choices.show(STEPS)
    score = "log p" if kind == "logprob" else "logit"
    what = f"{score}({target.label})" + (f" − log p({contrast.label})" if contrast else "")
    result = widgets.computed_or_stop(
        f"Integrated gradients: from {steps} steps × {len(target.ids)} tokens, doubled until complete…",
        why_cache.get_input_attribution,
        widgets.model_key(), target.ids, target.token, contrast.token_id if contrast else None, steps, kind)
    st.markdown(f"**Integrated gradients** of {_md(what)} (blue raised it, red lowered it; hover a token):")
    st.html(viz.attribution_html(target.labels, result.integrated, what))
    st.plotly_chart(present.styled(viz.attribution_bars(target.labels, {"integrated gradients": result.integrated,
                                                                        "gradient × input": result.grad_x_input},
                                                        f"Attribution of {what} per prompt token")),
                    key="why_attr_bars")
    cols = st.columns(4)
    cols[0].metric("f(input)", f"{result.score:.3f}")
    cols[1].metric("f(baseline)", f"{result.baseline_score:.3f}")
    cols[2].metric("Σ attributions", f"{result.integrated.sum():.3f}")
    cols[3].metric("Completeness error", f"{result.delta:+.4f}",
                   help=f"{result.relative_error:.2%} of f(input) − f(baseline)")
    if (note := completeness_warning(result)) is not None:
        st.warning(note)
    else:
        st.caption(convergence_note(result))
    st.caption(f"Completeness: IG's attributions add up to f(input) − f(baseline); the error above is Captum's "
               f"convergence delta ({result.relative_error:.2%}). Baseline: {attribution.BASELINE} (so the first "
               "token's attribution is 0 by construction). Gradient × input is the one-step local version. "
               f"Cap: {interventions.MAX_WHY_TOKENS} tokens × {attribution.MAX_STEPS} steps.")


COMPLETE_WITHIN = attribution.COMPLETE_WITHIN  # completeness error above which the page warns


def _tried(result: attribution.InputAttribution) -> str:
    return f" (tried {', '.join(map(str, result.tried))})" if len(result.tried) > 1 else ""


def convergence_note(result: attribution.InputAttribution) -> str:
    """How many steps the integral took and how close it came ("converged with 64 steps, …")."""
    state = "converged" if result.converged else "stopped"
    return (f"Integrated gradients {state} with {result.steps} steps{_tried(result)}, "
            f"completeness error {result.relative_error:.1%}.")


def completeness_warning(result: attribution.InputAttribution) -> str | None:
    """What to tell a student whose integral has not converged (None when it has)."""
    if result.converged:
        return None
    advice = (f"More integration steps (up to {attribution.MAX_STEPS}) bring it closer."
              if result.steps < attribution.MAX_STEPS else
              "This prompt needs more steps than the cap allows; compare with gradient × input.")
    return (f"The attributions add up to within {result.relative_error:.0%} of f(input) − f(baseline), not "
            f"{COMPLETE_WITHIN:.0%}: the {result.steps}-step integral{_tried(result)} has not converged on this "
            f"prompt, so read the shading as rough. {advice}")


def _md(text: str) -> str:
    # Tokens can hold markdown characters; a code span shows them literally.
    return f"`{text.replace('`', 'ˋ')}`"


def input_section(model: core.LoadedModel, target: Target) -> None:
    """Tab 1: IG and gradient × input for log p(target), or for its logit."""
    kind = choices.show(SCORE, format_func=attribution.SCORES.get, horizontal=True)
    _attribution_view(model, target, None, kind)


def contrast_section(model: core.LoadedModel, target: Target) -> None:
    """Tab 2: the same for log p(A) − log p(B)."""
    st.markdown(f"A is the target, {_md(target.label)}. Which tokens made the model prefer it over B?")
    contrast = _contrast_token(model)
    if contrast.token_id == target.token:
        st.warning("A and B are the same token: pick a different B.")
        return
    _attribution_view(model, target, contrast)


def dla_section(model: core.LoadedModel, target: Target) -> None:
    """Tab 3: the target's logit split over embedding, layers, components and heads."""
    contrast = _contrast_token(model) if choices.show(DLA_CONTRAST) else None
    result = widgets.computed_or_stop("Decomposing the logit…", why_cache.get_logit_attribution, widgets.model_key(),
                                      target.ids, target.token, contrast.token_id if contrast else None)
    what = f"logit({target.label})" + (f" − logit({contrast.label})" if contrast else "")
    cols = st.columns(4)
    cols[0].metric("Model's " + ("difference" if contrast else "logit"), f"{result.logit:.4f}")
    cols[1].metric("Sum of the parts", f"{result.total:.4f}")
    cols[2].metric("Residual", f"{result.residual:.2e}")
    cols[3].metric("Final-norm bias", f"{result.norm_bias:.4f}")
    bars = viz.component_bars(result.attention, result.mlp, result.embedding, f"Direct contribution to {what}")
    st.plotly_chart(present.styled(bars), key="why_dla_bars")
    st.plotly_chart(present.styled(viz.head_heatmap(result.heads, f"Each head's direct contribution to {what}",
                                                    "logit")), key="why_dla_heads")
    st.caption("Each part is projected through the final norm with its scale frozen at the real final residual "
               "(as TransformerLens does) onto the unembedding direction. With the scale frozen the map is "
               "linear, so the parts add up to the model's own value; the residual is float rounding. Heads "
               "leave out the attention output bias (GPT-2 has one; Llama-style models do not). Direct effects "
               "only: what a head does through later layers shows up in the Ablate tab.")


def _heads_from_scan() -> None:
    points = st.session_state["why_scan_chart"].selection.points
    chosen = list(st.session_state.get("why_heads", []))
    for point in points:
        layer, head = (int(v) for v in point.get("customdata", (-1, -1)))
        if layer >= 0 and f"{layer}.{head}" not in chosen:
            chosen.append(f"{layer}.{head}")
    st.session_state["why_heads"] = chosen


def ablate_section(model: core.LoadedModel, target: Target) -> None:
    """Tab 4: switch chosen heads off; scan every head by its effect on the target."""
    name, info = widgets.model_key(), model.info
    options = [f"{layer}.{head}" for layer, head in interventions.all_heads(model)]
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Heads to ablate (layer.head; or click cells of the scan below)", options,
                              key="why_heads")
    mode = choices.show(ABLATION, right)
    heads = tuple(tuple(int(v) for v in h.split(".")) for h in chosen)
    result = widgets.computed_or_stop("Running the ablated model…", why_cache.get_ablation,
                                      name, target.ids, heads, mode)
    top = list(dict.fromkeys([target.token, *np.argsort(-result.before)[:6].tolist(),
                              *np.argsort(-result.after)[:3].tolist()]))
    labels = [token_label(model.tokenizer, t) for t in top]
    st.plotly_chart(present.styled(viz.distribution_change(labels, result.before[top], result.after[top],
                                                           f"Next token with {len(heads)} head(s) {mode}-ablated")),
                    key="why_ablate")
    key = (target.ids, target.token, mode)
    st.markdown(f"**Scan every head**: {info.layers} × {info.heads} = {info.layers * info.heads} ablated copies of "
                f"the prompt, batched (cap: {interventions.MAX_WHY_TOKENS} tokens × every head).")
    scan = _scan_on_click("heads", name, key, "Scan every head", "why_scan", "Scanning heads…")
    if scan is None:
        return
    st.plotly_chart(present.styled(viz.head_heatmap(scan, f"Change in log p({target.label}) when one head is "
                                                    f"{mode}-ablated", "Δ log p")), key="why_scan_chart",
                    on_select=_heads_from_scan, selection_mode="points")
    order = np.argsort(scan.ravel())[:10]
    table = pd.DataFrame([{"head": f"{o // info.heads}.{o % info.heads}", "Δ log p": scan.ravel()[o],
                           "p after / before": float(np.exp(scan.ravel()[o]))} for o in order])
    st.dataframe(table, hide_index=True, key="why_scan_table")


def patch_section(model: core.LoadedModel) -> None:
    """Tab 5: causal tracing between a clean and a corrupted prompt of equal token length."""
    left, right = st.columns(2)
    clean = left.text_input("Clean prompt", CLEAN, key="why_clean")
    corrupt = right.text_input("Corrupted prompt (same number of tokens)", CORRUPT, key="why_corrupt")
    per_head = choices.show(PATCH_HEADS)
    name = widgets.model_key()
    ids = widgets.computed_or_stop(None, patching.check_pair, model, clean, corrupt)[0]
    runs = model.info.layers * len(ids) + (model.info.layers * model.info.heads if per_head else 0)
    st.caption(f"{runs} patched runs of {len(ids)} tokens, batched (cap: {patching.MAX_PATCH_TOKENS} tokens). "
               "Each run copies one clean activation into the corrupted prompt.")
    key = (clean, corrupt, per_head)
    result = _scan_on_click("patch", name, key, "Run patching", "why_patch_run", "Patching…")
    if result is None:
        return
    answer, foil = token_label(model.tokenizer, result.answer), token_label(model.tokenizer, result.foil)
    st.markdown(f"Clean answer {_md(answer)}, corrupted answer {_md(foil)}: logit difference "
                f"{result.clean_diff:.2f} clean vs {result.corrupt_diff:.2f} corrupted. Restored share = "
                "(patched − corrupted) / (clean − corrupted).")
    labels = _labels(model, result.corrupt_ids)
    st.plotly_chart(present.styled(viz.patching_heatmap(result.residual, labels,
                                                        "Clean residual patched in at (layer, position)")),
                    key="why_patch_resid")
    if result.heads is not None:
        st.plotly_chart(present.styled(viz.head_heatmap(result.heads, "Clean head output patched in (every position)",
                                                        "restored")), key="why_patch_heads_chart")


def induction_section(model: core.LoadedModel) -> None:
    """Tab 6: per-head induction scores on a repeated random sequence, and the loss drop."""
    left, right = st.columns(2)
    n, seed = choices.show(IND_N, left), choices.show(IND_SEED, right)
    name = widgets.model_key()
    result = widgets.computed_or_stop("Reading the repeated sequence…", why_cache.get_induction,
                                      name, int(n), int(seed))
    cols = st.columns(2)
    cols[0].metric("Loss on the first copy", f"{result.first_loss:.2f} nats", help="Random tokens: unpredictable.")
    cols[1].metric("Loss on the repeat", f"{result.second_loss:.2f} nats",
                   delta=f"{result.second_loss - result.first_loss:.2f}", delta_color="inverse")
    st.plotly_chart(present.styled(viz.head_heatmap(result.scores, "Induction score: attention to the token after "
                                                    "the earlier copy", "score", diverging=False)), key="why_ind_heat")
    flat = np.nan_to_num(result.scores).ravel()
    st.markdown("**Top induction heads** (open one on the Attention page; it shows your prompt, so type a "
                "phrase twice to see the stripe):")
    for o in np.argsort(-flat)[:5]:
        layer, head = divmod(int(o), model.info.heads)
        a, b = st.columns([1, 3])
        if a.button(f"Open {layer}.{head}", key=f"why_open_{layer}_{head}"):
            attention_ui.open_head(layer, head)
            st.switch_page("app_pages/attention.py")
        b.markdown(f"layer {layer}, head {head}: score {flat[o]:.2f}")
    st.page_link("app_pages/attention.py", label="Attention page", icon="👀")
    key = (int(n), int(seed))
    st.caption(f"The loss scan zero-ablates each of the {model.info.layers * model.info.heads} heads in turn: that "
               f"many copies of the {len(result.ids)}-token sequence, batched, each run from the ablated layer "
               f"(cap: {2 * induction.MAX_REPEAT + 1} tokens × every head).")
    drop = _scan_on_click("loss", name, key, "Measure each head's loss drop (ablation scan)", "why_loss_scan",
                          "Ablating heads…")
    if drop is not None:
        st.plotly_chart(present.styled(viz.head_heatmap(drop, "Rise of the repeat loss when the head is zero-ablated",
                                                        "Δ loss")), key="why_ind_loss")


def _scan_on_click(kind: str, name: str, key: tuple, label: str, button_key: str, text: str):
    """A long scan's cached result, computed under a progress bar once the button is pressed; None before."""
    if not (why_cache.has_why_result(kind, name, key) or st.button(label, key=button_key)):
        return None
    bar = st.progress(0.0, text=text)
    result = widgets.computed_or_stop(None, why_cache.get_why_scan, kind, name, key,
                                      lambda f, msg: bar.progress(f, text=msg))
    bar.empty()
    return result
