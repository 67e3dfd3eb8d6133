"""'Why this token?' input attribution on tiny random models: integrated gradients, gradient × input, steps."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from why_kit import plain_logits as _plain_logits
from why_kit import prompt_ids as _ids

from core.runtime import calls, gate, hooks
from core.why import attribution

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
