"""'Why this token?' core on tiny random models: DLA, ablation, patching, induction, safety."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch
from why_kit import PROMPT
from why_kit import plain_logits as _plain_logits
from why_kit import prompt_ids as _ids

import core
from core import attention_stats
from core.runtime import hooks
from core.why import attribution, induction, interventions, logit_attribution, patching, targets

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
