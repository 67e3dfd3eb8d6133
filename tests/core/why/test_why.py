"""'Why this token?' core on tiny random models: attribution, DLA, ablation, patching, induction, safety."""

from __future__ import annotations

import contextlib
import copy
import threading

import numpy as np
import pytest
import torch

import core
from core import attention_stats
from core.runtime import calls, gate, hooks
from core.why import attribution, induction, interventions, logit_attribution, patching, targets

PROMPT = "The capital of France is"


def _plain_logits(model, ids) -> torch.Tensor:
    with torch.inference_mode():
        return model.model(torch.tensor([list(ids)])).logits[0, -1].float()


def _ids(model, text=PROMPT):
    return interventions.prompt_ids(model, text)


# --- input attribution --------------------------------------------------------------------------


@pytest.mark.parametrize("contrast, kind", [(None, "logprob"), (7, "logprob"), (None, "logit")])
def test_integrated_gradients_are_complete(tiny_decoder, contrast, kind):
    ids = _ids(tiny_decoder)
    result = attribution.attribute(tiny_decoder, ids, target=5, contrast=contrast, steps=32, kind=kind)
    gap = result.score - result.baseline_score
    assert abs(gap) > 1e-4  # otherwise completeness would hold trivially
    assert result.integrated.sum() == pytest.approx(gap, abs=1e-4 + 1e-3 * abs(gap))
    assert abs(result.delta) < 1e-4 + 1e-3 * abs(gap)
    assert result.integrated.shape == (len(ids),)


@pytest.mark.parametrize("contrast", [None, 7])
def test_delta_and_ends_equal_captums_own(tiny_decoder, contrast):
    # attribute() computes f at both ends and gradient × input in one 2-row pass; Captum, asked for its
    # convergence delta and InputXGradient, runs its own forwards: both must agree.
    from captum.attr import InputXGradient, IntegratedGradients

    model, ids = tiny_decoder, _ids(tiny_decoder)
    result = attribution.attribute(model, ids, target=5, contrast=contrast, steps=4)
    score = attribution._score_fn(model, 5, contrast)
    with hooks.hooks(model, grad=True):
        inputs = calls.embed(model, [list(ids)]).detach()
        ig, delta = IntegratedGradients(score).attribute(inputs, baselines=attribution.baseline(model, inputs),
                                                         n_steps=4, return_convergence_delta=True)
        gxi = InputXGradient(score).attribute(inputs.clone())
        f_baseline = float(score(attribution.baseline(model, inputs))[0])
    assert result.delta == pytest.approx(float(delta[0]), abs=2e-6)
    assert result.baseline_score == pytest.approx(f_baseline, abs=1e-5)
    np.testing.assert_allclose(result.integrated, ig[0].sum(-1).double().numpy(), atol=1e-5)
    np.testing.assert_allclose(result.grad_x_input, gxi[0].detach().sum(-1).double().numpy(), atol=1e-5)


@pytest.mark.parametrize("batch, ways", [(8, 1), (3, 2), (1, 3)])
def test_integrated_gradients_in_batches_and_lanes_equal_captums(tiny_decoder, batch, ways):
    from captum.attr import IntegratedGradients

    model, ids = tiny_decoder, _ids(tiny_decoder)
    score = attribution._score_fn(model, 5, None)
    with hooks.hooks(model, grad=True):
        inputs = calls.embed(model, [list(ids)]).detach()
        start = attribution.baseline(model, inputs)
        ours = attribution.integrated_gradients(score, inputs, start, steps=8, batch=batch, ways=ways)
        theirs = IntegratedGradients(score).attribute(inputs, baselines=start, n_steps=8)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), atol=1e-6, rtol=1e-5)


def test_score_is_log_probability_or_difference(tiny_decoder):
    ids = _ids(tiny_decoder)
    logp = torch.log_softmax(_plain_logits(tiny_decoder, ids), -1)
    assert attribution.attribute(tiny_decoder, ids, 5, steps=4).score == pytest.approx(float(logp[5]), abs=1e-5)
    both = attribution.attribute(tiny_decoder, ids, 5, 9, steps=4).score
    assert both == pytest.approx(float(logp[5] - logp[9]), abs=1e-5)


def test_logit_score_is_the_raw_logit_and_a_contrast_is_the_same_either_way(tiny_decoder):
    ids = _ids(tiny_decoder)
    logits = _plain_logits(tiny_decoder, ids)
    result = attribution.attribute(tiny_decoder, ids, 5, steps=4, kind="logit")
    assert result.score == pytest.approx(float(logits[5]), abs=1e-5) and result.kind == "logit"
    as_logit = attribution.attribute(tiny_decoder, ids, 5, 9, steps=8, kind="logit")
    as_logprob = attribution.attribute(tiny_decoder, ids, 5, 9, steps=8)
    np.testing.assert_allclose(as_logit.integrated, as_logprob.integrated, atol=1e-5)
    with pytest.raises(ValueError, match="logprob, logit"):
        attribution.attribute(tiny_decoder, ids, 5, steps=4, kind="probability")


def test_gradient_times_input_matches_finite_differences(tiny_decoder):
    ids = _ids(tiny_decoder)
    result = attribution.attribute(tiny_decoder, ids, target=5, steps=4)
    with torch.inference_mode():
        embeds = tiny_decoder.model.get_input_embeddings()(torch.tensor([list(ids)])).double().float()
    eps = 1e-2
    for pos in range(len(ids)):  # d/dε f(e with token pos scaled by 1 + ε) = ∇_pos f · e_pos
        up, down = embeds.clone(), embeds.clone()
        up[0, pos] *= 1 + eps
        down[0, pos] *= 1 - eps
        finite = (attribution.score_of(tiny_decoder, up, 5) - attribution.score_of(tiny_decoder, down, 5)) / (2 * eps)
        assert result.grad_x_input[pos] == pytest.approx(finite, rel=2e-2, abs=2e-4)


def test_attribution_leaves_the_shared_model_alone(tiny_decoder):
    before = {name: p.detach().clone() for name, p in tiny_decoder.model.named_parameters()}
    attribution.attribute(tiny_decoder, _ids(tiny_decoder), target=5, steps=8)
    assert not any(p.requires_grad for p in tiny_decoder.model.parameters())
    assert all(torch.equal(before[name], p) for name, p in tiny_decoder.model.named_parameters())
    assert hooks.hooks_left(tiny_decoder) == 0


def test_attribution_rejects_bad_steps(tiny_llama):
    with pytest.raises(ValueError, match="steps"):
        attribution.attribute(tiny_llama, _ids(tiny_llama), 5, steps=1000)


LADDER = (4, 8, 16, 32, 64)  # the step counts the adaptive loop tries from 4: doubled up to the cap


@pytest.mark.parametrize("contrast", [None, 7])
def test_adaptive_steps_stop_at_the_first_count_within_tolerance(tiny_decoder, contrast):
    model, ids = tiny_decoder, _ids(tiny_decoder)
    fixed = {s: attribution.attribute(model, ids, 5, contrast, steps=s) for s in LADDER}
    tolerance = fixed[4].relative_error / 2  # 4 steps miss it, so the loop must go on
    stop = next((s for s in LADDER if fixed[s].relative_error <= tolerance), attribution.MAX_STEPS)
    result = attribution.attribute_converged(model, ids, 5, contrast, steps=4, tolerance=tolerance)
    assert result.tried == LADDER[:LADDER.index(stop) + 1] and result.steps == stop
    np.testing.assert_allclose(result.integrated, fixed[stop].integrated, atol=1e-6)
    assert result.relative_error == pytest.approx(fixed[stop].relative_error, abs=1e-9)
    assert result.relative_error <= tolerance


def test_adaptive_steps_stop_at_the_cap_and_say_so(tiny_llama):
    ids = _ids(tiny_llama)
    capped = attribution.attribute_converged(tiny_llama, ids, 5, steps=4, tolerance=0.0)
    assert capped.tried == LADDER and capped.steps == attribution.MAX_STEPS
    assert attribution.attribute_converged(tiny_llama, ids, 5, steps=40, tolerance=0.0).tried == (40, 64)
    assert attribution.attribute_converged(tiny_llama, ids, 5, steps=64, tolerance=0.0).tried == (64,)
    with pytest.raises(ValueError, match="tolerance"):
        attribution.attribute_converged(tiny_llama, ids, 5, tolerance=-0.1)


def test_the_gate_is_taken_once_per_round_of_batches_not_for_the_whole_integral(tiny_llama, monkeypatch):
    already_held: list[bool] = []
    real_hold = gate.hold

    @contextlib.contextmanager
    def counting(model):
        already_held.append(gate.GATE.is_held(gate.gate_key(model)))
        with real_hold(model):
            yield

    monkeypatch.setattr(gate, "hold", counting)
    attribution.attribute(tiny_llama, _ids(tiny_llama), 5, steps=8, internal_batch_size=2)
    assert already_held == [False] * (1 + 4)  # the 2-row pass, then 4 batches of 2 steps, each alone
    already_held.clear()
    attribution.attribute_converged(tiny_llama, _ids(tiny_llama), 5, steps=4, tolerance=0.0)
    assert len(already_held) >= 1 + len(LADDER) and not any(already_held)


def test_attribution_of_a_one_token_prompt_is_refused_with_the_reason(tiny_llama):
    # Its baseline is the input itself (position 0 is kept): completeness would divide by zero.
    with pytest.raises(ValueError, match="at least 2 prompt tokens"):
        attribution.attribute(tiny_llama, _ids(tiny_llama)[:1], 5)


# --- direct logit attribution --------------------------------------------------------------------


@pytest.mark.parametrize("contrast", [None, 7])
def test_logit_attribution_parts_sum_to_the_logit(tiny_decoder, contrast):
    ids = _ids(tiny_decoder)
    result = logit_attribution.logit_attribution(tiny_decoder, ids, target=5, contrast=contrast)
    logits = _plain_logits(tiny_decoder, ids)
    expected = float(logits[5] - (logits[contrast] if contrast is not None else 0))
    assert result.logit == pytest.approx(expected, abs=1e-5)
    assert abs(result.residual) < 1e-4
    assert result.attention.shape == result.mlp.shape == (tiny_decoder.info.layers,)
    assert result.heads.shape == (tiny_decoder.info.layers, tiny_decoder.info.heads)


def test_heads_add_up_to_their_layer_without_bias(tiny_llama):
    # Llama's o_proj has no bias, so a layer's attention is exactly the sum of its heads.
    result = logit_attribution.logit_attribution(tiny_llama, _ids(tiny_llama), target=5)
    np.testing.assert_allclose(result.heads.sum(1), result.attention, atol=1e-5)


# --- ablation ------------------------------------------------------------------------------------


def test_ablating_no_head_is_the_plain_forward_exactly(tiny_decoder):
    ids = _ids(tiny_decoder)
    logits = interventions.run_ablated(tiny_decoder, ids, [()])[0, -1]
    with torch.inference_mode():  # the same call without the intervention machinery
        plain = tiny_decoder.model(torch.tensor([list(ids)]), logits_to_keep=1).logits[0, -1]
    assert torch.equal(torch.from_numpy(logits), plain)
    # In a batch beside an ablated copy, the untouched row still matches (to float rounding).
    both = interventions.run_ablated(tiny_decoder, ids, [(), ((0, 0), (1, 1))])[:, -1]
    np.testing.assert_allclose(both[0], plain.numpy(), atol=1e-6)
    assert np.abs(both[1] - both[0]).max() > 1e-4


def test_zero_ablation_equals_a_model_with_that_head_removed(tiny_llama):
    ids, (layer, head) = _ids(tiny_llama), (1, 2)
    ablated = interventions.run_ablated(tiny_llama, ids, [(), ((layer, head),)])[:, -1]
    surgery = copy.deepcopy(tiny_llama.model)
    width = tiny_llama.info.head_dim
    with torch.no_grad():
        surgery.model.layers[layer].self_attn.o_proj.weight[:, head * width:(head + 1) * width] = 0
        expected = surgery(torch.tensor([list(ids)])).logits[0, -1].numpy()
    np.testing.assert_allclose(ablated[1], expected, atol=1e-5)
    assert np.abs(ablated[1] - ablated[0]).max() > 1e-4  # the head mattered, so the check can fail
    np.testing.assert_allclose(ablated[0], _plain_logits(tiny_llama, ids).numpy(), atol=1e-5)


def test_mean_ablation_of_a_one_token_prompt_changes_nothing(tiny_decoder):
    # Over a single position a head's mean output is its output, so replacing it changes nothing.
    ids = (int(tiny_decoder.tokenizer("The", add_special_tokens=False)["input_ids"][0]),)
    result = interventions.ablate_heads(tiny_decoder, ids, [(0, 0), (1, 1)], mode="mean")
    np.testing.assert_allclose(result.after, result.before, atol=1e-6)
    zero = interventions.ablate_heads(tiny_decoder, ids, [(0, 0), (1, 1)], mode="zero")
    assert np.abs(zero.after - zero.before).max() > 1e-6


def test_head_scan_batched_equals_one_at_a_time(tiny_decoder):
    ids = _ids(tiny_decoder)
    batched = interventions.scan_heads(tiny_decoder, ids, target=5)
    single = interventions.scan_heads(tiny_decoder, ids, target=5, rows_per_batch=1, reuse_prefix=False)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    one = interventions.ablate_heads(tiny_decoder, ids, [(1, 0)])
    assert batched[1, 0] == pytest.approx(np.log(one.after[5]) - np.log(one.before[5]), abs=1e-5)


def test_ablation_rejects_unknown_heads_and_modes(tiny_llama):
    with pytest.raises(ValueError, match="No head"):
        interventions.ablate_heads(tiny_llama, _ids(tiny_llama), [(9, 0)])
    with pytest.raises(ValueError, match="zero, mean"):
        interventions.scan_heads(tiny_llama, _ids(tiny_llama), 5, mode="random")


def test_encoders_and_long_prompts_are_refused(tiny_bert, tiny_llama):
    with pytest.raises(ValueError, match="encoder"):
        interventions.prompt_ids(tiny_bert, PROMPT)
    with pytest.raises(ValueError, match="limited to 64 tokens"):
        interventions.prompt_ids(tiny_llama, "ab " * 40)


# --- activation patching -------------------------------------------------------------------------


def test_patching_every_position_reproduces_the_clean_logits(tiny_decoder):
    clean, corrupt = patching.check_pair(tiny_decoder, PROMPT, "The capital of Paris is")
    source = hooks.residual_stream(tiny_decoder, clean)
    every = list(range(len(clean)))
    rows = [(layer, every) for layer in range(tiny_decoder.info.layers)] + [(0, [])]
    logits = patching.run_residual_patched(tiny_decoder, corrupt, rows, source)
    expected = _plain_logits(tiny_decoder, clean).numpy()
    for row in logits[:-1]:
        np.testing.assert_allclose(row, expected, atol=1e-5)
    assert np.abs(logits[-1] - expected).max() > 1e-4  # unpatched: the corrupted run really differs


def test_patching_shares(tiny_decoder):
    result = patching.patch(tiny_decoder, PROMPT, "The capital of Paris is", foil=3)
    # The prefix-reusing batches agree with one full forward per patched (layer, position).
    clean, corrupt = patching.check_pair(tiny_decoder, PROMPT, "The capital of Paris is")
    source = hooks.residual_stream(tiny_decoder, clean)
    rows = [(layer, [pos]) for layer in range(tiny_decoder.info.layers) for pos in range(len(clean))]
    logits = patching.run_residual_patched(tiny_decoder, corrupt, rows, source)
    diff = logits[:, result.answer] - logits[:, result.foil]
    share = (diff - result.corrupt_diff) / (result.clean_diff - result.corrupt_diff)
    np.testing.assert_allclose(result.residual.ravel(), share, atol=1e-4)
    clean, corrupt = np.array(result.clean_ids), np.array(result.corrupt_ids)
    same = clean == corrupt
    assert same.any() and not same.all()
    # Where both prompts hold the same token, layer 0's input is the same: patching it restores nothing.
    np.testing.assert_allclose(result.residual[0, same], 0.0, atol=1e-4)
    assert result.residual.shape == (tiny_decoder.info.layers, len(clean))
    assert result.heads.shape == (tiny_decoder.info.layers, tiny_decoder.info.heads)
    assert result.clean_diff != pytest.approx(result.corrupt_diff)


def test_patching_explains_unequal_lengths(tiny_llama):
    with pytest.raises(ValueError, match="equal token length") as error:
        patching.check_pair(tiny_llama, PROMPT, "The capital of the United Kingdom is")
    assert "·Fr | ance" in str(error.value) and "K | ing" in str(error.value)  # both tokenizations


# --- induction -----------------------------------------------------------------------------------


def test_induction_score_of_hand_built_patterns():
    n, ids = 5, [0] + [11, 12, 13, 14, 15] * 2
    size = len(ids)
    perfect = np.zeros((1, 3, size, size))
    for query in range(size):
        perfect[0, :, query, 0] = 1.0  # first half: all weight on the first token
    for query in range(1 + n, size):
        perfect[0, 0, query] = 0.0
        perfect[0, 0, query, query - n + 1] = 1.0  # head 0: the token after the earlier copy
        perfect[0, 1, query] = 0.0
        perfect[0, 1, query, query - n + 1] = 0.5  # head 1: half there, half on itself
        perfect[0, 1, query, query] += 0.5
    scores = induction.induction_scores(perfect, ids)
    np.testing.assert_allclose(scores[0], [1.0, 0.5, 0.0])
    assert np.isnan(induction.induction_scores(perfect, list(range(size)))).all()


def test_induction_on_the_repeated_sequence(tiny_decoder):
    result = induction.induction(tiny_decoder, n=8, seed=3)
    start = len(result.ids) - 16
    assert result.ids[start:start + 8] == result.ids[start + 8:]
    assert result.ids == induction.repeated_sequence(tiny_decoder, 8, 3)  # seeded: same every time
    assert ((result.scores >= 0) & (result.scores <= 1)).all()
    drop = induction.loss_drop_scan(tiny_decoder, result.ids, 8)
    assert drop.shape == result.scores.shape and np.isfinite(drop).all()


def test_loss_drop_scan_batched_equals_one_at_a_time(tiny_decoder):
    model, n = tiny_decoder, 6
    ids = induction.repeated_sequence(model, n, seed=1)
    batched = induction.loss_drop_scan(model, ids, n, rows_per_batch=3)  # several batches, from the edited layer
    single = induction.loss_drop_scan(model, ids, n, rows_per_batch=1, reuse_prefix=False)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(induction.loss_drop_scan(model, ids, n), single, atol=1e-5)
    # One head by hand: the full model's loss on the repeat with and without head 1.0.
    logp = torch.log_softmax(torch.from_numpy(interventions.run_ablated(model, ids, [(), ((1, 0),)],
                                                                         keep=len(ids))).double(), -1)
    following = torch.tensor(ids[-n:])
    rows = torch.arange(len(ids) - n - 1, len(ids) - 1)
    loss = -logp[:, rows, following].mean(-1)
    assert batched[1, 0] == pytest.approx(float(loss[1] - loss[0]), abs=1e-5)
    assert np.abs(single).max() > 1e-4  # some head matters, so the comparison can fail


def test_head_table_gets_the_induction_column(tiny_llama):
    analysis = core.analyze(tiny_llama, "one two three one two three")
    table = attention_stats.head_summary(analysis.attention, analysis.tokens.ids)
    expected = induction.induction_scores(analysis.attention, analysis.tokens.ids).ravel()
    np.testing.assert_allclose(table["induction"], expected)
    assert "induction" not in attention_stats.head_summary(analysis.attention).columns


# --- targets -------------------------------------------------------------------------------------


def test_typed_token_is_the_first_token(tiny_llama):
    typed = targets.typed_token(tiny_llama, " Paris and more")
    assert typed.was_split and typed.label == typed.pieces[0]
    assert typed.token_id == tiny_llama.tokenizer(" Paris", add_special_tokens=False)["input_ids"][0]
    with pytest.raises(ValueError):
        targets.typed_token(tiny_llama, "")


# --- safety on a shared model --------------------------------------------------------------------


def test_ablation_beside_a_plain_analyze_leaves_it_unchanged(tiny_llama):
    text = "Attention lets every token look at every other token."
    expected = core.analyze(tiny_llama, text).next_token_logits.copy()
    seen, errors = [], []

    def plain():
        try:
            for _ in range(15):
                seen.append(core.analyze(tiny_llama, text).next_token_logits.copy())
        except Exception as error:  # noqa: BLE001 (reported by the assertion below)
            errors.append(error)

    def ablate():
        try:
            for _ in range(3):
                interventions.scan_heads(tiny_llama, _ids(tiny_llama, text), 5, rows_per_batch=1)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=plain), threading.Thread(target=ablate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(seen) == 15
    for logits in seen:
        np.testing.assert_array_equal(logits, expected)
    assert hooks.hooks_left(tiny_llama) == 0


def test_running_from_a_layer_matches_the_full_forward(tiny_decoder):
    ids = _ids(tiny_decoder)
    resid = hooks.residual_stream(tiny_decoder, ids)
    full = _plain_logits(tiny_decoder, ids)
    for layer in range(tiny_decoder.info.layers):
        np.testing.assert_allclose(hooks.run_from(tiny_decoder, layer, resid[layer][None])[0], full, atol=1e-5)


def test_no_hooks_are_left_after_any_intervention(tiny_decoder):
    model, ids = tiny_decoder, _ids(tiny_decoder)
    with hooks.hooks(model, [("blocks.0.attn.hook_z", lambda z, site: None)]):
        assert hooks.hooks_left(model) == 1  # the counter sees our hooks
    before = hooks.registered_hooks(model)
    interventions.ablate_heads(model, ids, [(0, 0)], mode="mean")
    interventions.scan_heads(model, ids, 5)
    logit_attribution.logit_attribution(model, ids, 5)
    attribution.attribute(model, ids, 5, steps=4)
    patching.patch(model, PROMPT, "The capital of Paris is", foil=3)
    induction.loss_drop_scan(model, induction.repeated_sequence(model, 4), 4)
    failing = hooks.hooks(model, [("blocks.0.hook_resid_pre", lambda resid, site: None)])
    with pytest.raises(RuntimeError), failing:
        raise RuntimeError("a failing forward still removes its hooks")
    assert hooks.hooks_left(model) == 0
    assert hooks.registered_hooks(model) == before
