"""Label ranking and shared-prefix KV cache: scores equal a plain forward, cache on == off, boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.prompting import label_scoring

PREFIX = "Classify.\n\nText: Loved it\nLabel: positive\n\nText:"
SUFFIXES = [" great film\nLabel:", " boring and far too long\nLabel:", " ok\nLabel:"]


def _plain_logprob(model, context: str, continuation: str) -> float:
    """Independent reference: one forward over context + continuation, sum of the continuation's log-probs."""
    tokenizer = model.tokenizer
    context_ids = tokenizer(context)["input_ids"]
    whole = tokenizer(context + continuation)["input_ids"]
    ids = context_ids + whole[len(context_ids):]
    with torch.inference_mode():
        logits = model.model(input_ids=torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(sum(logprobs[pos - 1, ids[pos]] for pos in range(len(context_ids), len(ids))))


@pytest.mark.parametrize("use_cache", [True, False])
def test_scores_equal_a_plain_forward_over_prompt_and_label(tiny_decoder, use_cache):
    labels = ["positive", "negative", "far too long", "Label: positive"]  # multi-token labels included
    result = label_scoring.score_labels(tiny_decoder, PREFIX, SUFFIXES, labels, use_cache=use_cache, pack_tokens=20)
    assert result.logprob.shape == (3, 4)
    assert (result.n_tokens[:, 2] > 1).all() and (result.n_tokens[:, 3] > 2).all()
    for item, suffix in enumerate(SUFFIXES):
        for index, label in enumerate(labels):
            expected = _plain_logprob(tiny_decoder, PREFIX + suffix, " " + label)
            assert result.logprob[item, index] == pytest.approx(expected, abs=1e-4)
    assert result.cached.all() == use_cache


def test_cache_on_equals_cache_off_and_the_prefix_is_never_mutated(tiny_decoder):
    labels = ["positive", "pos", "negative", "neg"]  # pairs sharing their first tokens
    prefix = label_scoring.prefill(tiny_decoder, PREFIX)
    before = [(k.clone(), v.clone()) for k, v in prefix.kv]
    on = label_scoring.score_labels(tiny_decoder, prefix, SUFFIXES, labels, pack_tokens=12)
    again = label_scoring.score_labels(tiny_decoder, prefix, SUFFIXES, labels, pack_tokens=1000)
    off = label_scoring.score_labels(tiny_decoder, PREFIX, SUFFIXES, labels, use_cache=False)
    np.testing.assert_allclose(on.logprob, off.logprob, atol=1e-4)
    np.testing.assert_allclose(on.logprob, again.logprob, atol=1e-4)  # batching does not change a score
    for (k, v), (k0, v0) in zip(prefix.kv, before):
        assert torch.equal(k, k0) and torch.equal(v, v0) and k.shape[0] == 1
    assert on.tokens_run < off.tokens_run  # the prefix ran once, not once per row


def test_labels_sharing_a_first_token_share_a_row_but_differ(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    first = [tokenizer(" " + w)["input_ids"][0] for w in ("positive", "pos")]
    assert first[0] == first[1], "the test needs two labels that start with the same token"
    result = label_scoring.score_labels(tiny_llama, PREFIX, SUFFIXES[:1], ["positive", "pos"])
    assert result.logprob[0, 0] != pytest.approx(result.logprob[0, 1])
    probabilities = result.probabilities()
    assert probabilities.sum(axis=1) == pytest.approx([1.0])
    per_token = result.scores("token")
    assert per_token[0, 0] == pytest.approx(result.logprob[0, 0] / result.n_tokens[0, 0])


def test_trailing_space_moves_into_the_continuation_as_the_harness_does(tiny_llama):
    context_ids, continuation = label_scoring.encode_pair(tiny_llama.tokenizer, "Label: ", "positive")
    assert context_ids == tiny_llama.tokenizer("Label:")["input_ids"]
    assert tiny_llama.tokenizer.decode(continuation) == " positive"


def test_a_boundary_merge_falls_back_to_no_cache_and_scores_the_same(tiny_llama):
    # "Label" + ": positive": the prefix ends inside what the full text tokenizes as one piece
    prefix = "Text: great film, loved it. Lab"
    suffixes = ["el:", "el: x\nLabel:"]
    tokenizer = tiny_llama.tokenizer
    merged = tokenizer(prefix + suffixes[0])["input_ids"][: len(tokenizer(prefix)["input_ids"])]
    assert merged != tokenizer(prefix)["input_ids"], "the test needs a prefix whose last token merges"
    result = label_scoring.score_labels(tiny_llama, prefix, suffixes, ["positive", "negative"])
    assert not result.cached[0]
    for item, suffix in enumerate(suffixes):
        for index, label in enumerate(["positive", "negative"]):
            expected = _plain_logprob(tiny_llama, prefix + suffix, " " + label)
            assert result.logprob[item, index] == pytest.approx(expected, abs=1e-4)


def test_cancel_stops_between_batches(tiny_llama):
    with pytest.raises(label_scoring.Cancelled):
        label_scoring.score_labels(tiny_llama, PREFIX, SUFFIXES, ["a", "b"], should_stop=lambda: True)


def test_a_label_too_long_for_the_context_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="context window is 128"):
        label_scoring.score_labels(tiny_llama, PREFIX, SUFFIXES, ["word " * 200])


def test_prefill_reuses_the_tokens_it_shares_with_known_prefixes(tiny_decoder):
    short, long = "Classify.\n\nText: Loved it\nLabel: positive", PREFIX + " Hated it\nLabel: negative"
    branch = "Classify.\n\nText: Loved it\nLabel: negative"  # shares the first tokens only
    fresh = {t: label_scoring.prefill(tiny_decoder, t) for t in (short, long, branch)}
    known = [fresh[long]]
    derived = {t: label_scoring.prefill(tiny_decoder, t, known) for t in (short, branch)}  # a slice; a branch
    derived[long] = label_scoring.prefill(tiny_decoder, long, [fresh[short]])  # an extension
    for text, prefix in derived.items():
        assert prefix.ids == fresh[text].ids
        for (k, v), (k0, v0) in zip(prefix.kv, fresh[text].kv):
            assert k.shape == k0.shape
            torch.testing.assert_close(k, k0, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(v, v0, atol=1e-5, rtol=1e-4)


def test_packed_rows_score_the_same_however_they_are_packed(tiny_decoder):
    labels = ["positive", "negative", "far too long"]
    one = label_scoring.score_labels(tiny_decoder, PREFIX, SUFFIXES, labels, pack_tokens=1)  # one row per pack
    all_in_one = label_scoring.score_labels(tiny_decoder, PREFIX, SUFFIXES, labels, pack_tokens=10_000)
    np.testing.assert_allclose(one.logprob, all_in_one.logprob, atol=1e-4)


@pytest.mark.parametrize("dense", [0, 3])
def test_packed_attention_equals_eager_with_a_block_causal_mask(tiny_decoder, dense):
    """Dense prefix tokens (causal) then blocks that see the prefix and themselves: same logits as eager."""
    from core.runtime import packed_attention

    network, cached, blocks = tiny_decoder.model, 5, [4, 1, 6, 3]
    ids = torch.randint(3, 50, (1, cached + dense + sum(blocks)))
    with torch.inference_mode():
        past = network(input_ids=ids[:, :cached], use_cache=True).cache
        n, q, blocked = cached + dense, dense + sum(blocks), torch.finfo(torch.float32).min
        mask = torch.full((1, 1, q, cached + q), blocked)
        mask[0, 0, :, :cached] = 0
        mask[0, 0, :, cached:n] = torch.triu(torch.full((q, dense), blocked), diagonal=1)
        positions, start = [torch.arange(cached, n)], dense
        for length in blocks:
            mask[0, 0, start:start + length, cached + start:cached + start + length] = torch.triu(
                torch.full((length, length), blocked), diagonal=1)
            positions.append(torch.arange(n, n + length))
            start += length
        inputs = {"input_ids": ids[:, cached:], "position_ids": torch.cat(positions)[None], "use_cache": True}
        eager = network(**inputs, attention_mask=mask, cache=_copy(past)).logits
        with packed_attention.selected(network):
            packed = network(**inputs, cache=_copy(past), pack_layout=packed_attention.layout(dense, blocks)).logits
    assert network.config._attn_implementation == "eager"  # switched back after the forward
    torch.testing.assert_close(packed, eager, atol=1e-5, rtol=1e-4)


def _copy(cache):
    from transformers import DynamicCache

    return DynamicCache([(layer.keys.clone(), layer.values.clone()) for layer in cache.layers])


def test_a_prefix_folded_into_the_first_pack_equals_a_separate_prefill(tiny_decoder):
    labels = ["positive", "negative", "far too long"]
    known = [label_scoring.prefill(tiny_decoder, "Classify.\n\nText: Loved it")]  # shares the first tokens
    separate = label_scoring.score_labels(tiny_decoder, label_scoring.prefill(tiny_decoder, PREFIX), SUFFIXES, labels)
    folded = label_scoring.score_labels(tiny_decoder, PREFIX, SUFFIXES, labels, known=known, pack_tokens=30)
    np.testing.assert_allclose(folded.logprob, separate.logprob, atol=1e-4)
    fresh = label_scoring.prefill(tiny_decoder, PREFIX)
    assert folded.prefix.ids == fresh.ids and folded.cached.all()
    for (k, v), (k0, v0) in zip(folded.prefix.kv, fresh.kv):  # reusable by later runs as their known
        assert k.shape == k0.shape and k._base is None  # a copy, not a view into the pack's keys
        torch.testing.assert_close(k, k0, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(v, v0, atol=1e-5, rtol=1e-4)


def test_a_prefix_known_whole_runs_no_prefix_tokens(tiny_decoder):
    full = label_scoring.prefill(tiny_decoder, PREFIX)
    calls = []
    hook = tiny_decoder.model.register_forward_pre_hook(lambda m, a, kw: calls.append(kw["input_ids"].shape[1]),
                                                        with_kwargs=True)
    try:
        result = label_scoring.score_labels(tiny_decoder, PREFIX, SUFFIXES, ["positive"], known=[full])
    finally:
        hook.remove()
    assert calls == [result.tokens_run - len(full)]  # one forward, the suffix rows only
    assert result.prefix.ids == full.ids
