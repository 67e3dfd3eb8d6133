"""'Why this token?' on the real SmolLM2 (slow): known facts about "The capital of France is" → " Paris"."""

from __future__ import annotations

import numpy as np
import pytest

from core.runtime import hooks
from core.why import attribution, induction, interventions, logit_attribution, patching, targets

pytestmark = pytest.mark.slow
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def case(smollm2):
    ids = interventions.prompt_ids(smollm2, PROMPT)
    labels = [smollm2.tokenizer.decode([i]) for i in ids]
    paris = targets.typed_token(smollm2, " Paris").token_id
    london = targets.typed_token(smollm2, " London").token_id
    return ids, labels, paris, london


def test_paris_is_the_top_next_token(smollm2, case):
    ids, _, paris, _ = case
    assert int(np.argmax(targets.next_token_logits(smollm2, ids))) == paris


def test_france_drives_paris_over_london(smollm2, case):
    ids, labels, paris, london = case
    result = attribution.attribute(smollm2, ids, paris, london, steps=32)
    assert labels[int(np.argmax(result.integrated))] == " France"
    assert result.relative_error < 0.05


def test_france_drives_the_paris_logit_most(smollm2, case):
    # Measured: " France" 4.71, " of" 2.75, " capital" 2.72 (32 steps).
    ids, labels, paris, _ = case
    result = attribution.attribute(smollm2, ids, paris, steps=32, kind="logit")
    assert labels[int(np.argmax(result.integrated))] == " France"
    assert result.relative_error < 0.05


def test_france_is_among_the_top_two_for_log_p_paris(smollm2, case):
    # Measured: " capital" 4.43 and " France" 4.31 lead (a city name is likely after "capital of", and
    # log p also credits pushing the other tokens down); completeness error 0.5% of f(x) − f(baseline)
    # at 32 steps. No baseline we tried puts " France" first for log p (mean, zero or end-of-text
    # embedding, or a space token, first position kept; zero / mean everywhere; 32 and 64 steps); the
    # logit (above) and the contrast with " London" do.
    ids, labels, paris, _ = case
    result = attribution.attribute(smollm2, ids, paris, steps=32)
    top_two = [labels[i] for i in np.argsort(-result.integrated)[:2]]
    assert " France" in top_two
    assert result.relative_error < 0.02


def test_the_why_pages_default_converges_within_the_cap(smollm2):
    # The page opens on its default prompt, its top next token (" Berlin") and log p. Measured: 7.2%
    # completeness error at 32 steps, 3.5% at 64: the adaptive loop stops at 64, under the 5% bar.
    from ui.widgets import DEFAULT_PROMPT

    ids = interventions.prompt_ids(smollm2, DEFAULT_PROMPT)
    top = int(np.argmax(targets.next_token_logits(smollm2, ids)))
    assert smollm2.tokenizer.decode([top]) == " Berlin"
    result = attribution.attribute_converged(smollm2, ids, top)
    assert result.converged and result.relative_error <= attribution.COMPLETE_WITHIN
    assert result.tried == (32, 64) and result.steps == attribution.MAX_STEPS


def test_some_head_is_needed_for_paris(smollm2, case):
    ids, _, paris, _ = case
    scan = interventions.scan_heads(smollm2, ids, paris)
    layer, head = np.unravel_index(int(np.argmin(scan)), scan.shape)
    ablated = interventions.ablate_heads(smollm2, ids, [(int(layer), int(head))])
    # Stated margin: ablating that one head at least halves p(" Paris") (measured: 23.4, 0.77 → 0.14).
    assert ablated.after[paris] < 0.5 * ablated.before[paris]
    assert scan.min() == pytest.approx(np.log(ablated.after[paris] / ablated.before[paris]), abs=1e-3)
    assert hooks.hooks_left(smollm2) == 0


def test_logit_attribution_adds_up_on_the_real_model(smollm2, case):
    ids, _, paris, london = case
    for contrast in (None, london):
        result = logit_attribution.logit_attribution(smollm2, ids, paris, contrast)
        assert abs(result.residual) < 1e-3 * max(1.0, abs(result.logit))


def test_induction_heads_exist(smollm2):
    # Measured (24 tokens, seed 0): 18.6 0.87, 17.4 0.83, 17.3 0.79, 17.5 0.77, 18.7 0.63, 23.2 0.55.
    result = induction.induction(smollm2, 24, seed=0)
    assert np.nanmax(result.scores) > 0.4
    assert result.second_loss < result.first_loss - 5  # the repeat is far easier to predict


def test_causal_tracing_restores_paris(smollm2):
    result = patching.patch(smollm2, "The Eiffel Tower is in the city of", "The Colosseum is in the city of",
                            per_head=False)
    assert smollm2.tokenizer.decode([result.answer]) == " Paris"
    assert result.clean_diff > 0 > result.corrupt_diff
    assert result.residual[-1, -1] > 0.8  # the clean last position entering the last layer brings it back
    np.testing.assert_allclose(result.residual[0, -1], 0.0, atol=1e-3)  # same token " of" at layer 0
