"""The Deploy page's measurements on the tiny models: cache sizes, decoding, batching, perplexity, the planner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.deploy import batch_throughput, capacity, kv_cache, prefix_reuse, quant_quality, speed, timing
from core.generation import generate
from core.sampling import GenerationSettings

PROMPT = "The capital of France is Paris. The capital"


@pytest.mark.parametrize("name, per_token", [("tiny_llama", 2 * 2 * 2 * 8 * 4), ("tiny_gpt2", 2 * 2 * 3 * 8 * 4)])
def test_cache_bytes_per_token_equal_the_formula_and_the_real_tensors(request, name, per_token):
    model = request.getfixturevalue(name)
    size = kv_cache.cache_size(model, PROMPT)
    assert size.formula_bytes_per_token == per_token  # 2 × layers × kv heads × head dim × 4 bytes, by hand
    assert size.measured_bytes_per_token == per_token
    assert size.tokens_cached == len(model.tokenizer(PROMPT)["input_ids"])
    assert size.growth["gqa_bytes"].iloc[-1] == per_token * model.info.context_window


def test_grouped_query_attention_saving_is_query_heads_over_kv_heads(tiny_llama, tiny_gpt2):
    assert kv_cache.cache_size(tiny_llama, PROMPT).gqa_saving == 4 / 2
    assert kv_cache.cache_size(tiny_gpt2, PROMPT).gqa_saving == 1  # GPT-2 has one key/value head per query head


def test_users_that_fit_on_hand_numbers():
    # 10 GB, 2 GB of weights, 100 kB per token × 1,000 tokens = 100 MB per user → 80 users.
    assert kv_cache.users_that_fit(10e9, 2e9, 100e3, 1_000) == 80
    assert kv_cache.users_that_fit(1e9, 2e9, 100e3, 1_000) == 0
    with pytest.raises(ValueError, match="at least 1"):
        kv_cache.bytes_per_token(0, 3, 64, 4)


def test_decoding_with_and_without_the_cache_gives_identical_tokens(tiny_decoder):
    times = speed.decode_with_and_without_cache(tiny_decoder, PROMPT, new_tokens=6, runs=2)
    assert times.same_tokens and len(times.cached_tokens) == 6
    assert times.cached_seconds.shape == times.uncached_seconds.shape == (6,)
    assert (times.cached_seconds > 0).all() and (times.uncached_seconds > 0).all()
    assert times.speedup == pytest.approx(times.uncached_seconds.sum() / times.cached_seconds.sum())


def test_cached_tokens_are_the_models_greedy_generation(tiny_llama):
    times = speed.decode_with_and_without_cache(tiny_llama, PROMPT, new_tokens=5, runs=1)
    [completion] = generate(tiny_llama, [PROMPT], GenerationSettings(max_new_tokens=5))
    assert times.cached_tokens[: len(completion.token_ids)] == tuple(completion.token_ids.tolist())


def test_prefill_and_decode_bounds_follow_from_the_measured_limits(tiny_llama):
    result = speed.prefill_and_decode(tiny_llama, PROMPT, new_tokens=3, runs=2)
    per_layer = 32 * 32 + 32 * 16 + 32 * 16 + 32 * 32 + 3 * 32 * 64  # q, k, v, o, gate, up, down
    assert result.flops_per_token == 2 * (2 * per_layer + tiny_llama.info.vocab_size * 32)  # + the output head
    weights = sum(p.numel() * 4 for p in tiny_llama.model.parameters())
    assert result.limits.weight_bytes == weights
    assert result.decode_bound == pytest.approx(result.limits.bandwidth / weights)
    assert result.prefill_bound == pytest.approx(result.limits.flops_per_second / result.flops_per_token)
    assert result.prefill_tokens_per_second == pytest.approx(result.prompt_tokens / result.prefill_seconds)


def test_batched_equals_one_by_one_tokens(tiny_decoder):
    prompts = ["The capital of France", "She opened a bank account in London and", "Attention"]
    settings = GenerationSettings(max_new_tokens=5)
    batched = generate(tiny_decoder, prompts, settings)
    alone = [generate(tiny_decoder, [p], settings)[0] for p in prompts]
    assert [c.token_ids.tolist() for c in batched] == [c.token_ids.tolist() for c in alone]


def test_batch_throughput_rows_and_tokens(tiny_llama):
    result = batch_throughput.measure_batches(tiny_llama, PROMPT, new_tokens=4, max_batch=5, runs=1)
    assert result.same_tokens
    assert result.table["batch"].tolist() == [1, 2, 4, 5]
    assert (result.table["new_tokens"] <= result.table["batch"] * 4).all()
    rates = result.table["new_tokens"] / result.table["seconds"]
    assert np.allclose(result.table["tokens_per_second"], rates)


def test_batch_sizes_and_caps():
    assert batch_throughput.batch_sizes(32) == (1, 2, 4, 8, 16, 32)
    assert batch_throughput.batch_sizes(1) == (1,)
    with pytest.raises(ValueError, match="between 1 and 32"):
        batch_throughput.batch_sizes(33)
    with pytest.raises(ValueError, match=f"between 1 and {timing.MAX_NEW_TOKENS}"):
        timing.check_new_tokens(timing.MAX_NEW_TOKENS + 1)


def test_reusing_the_prefix_cache_gives_the_same_first_token(tiny_decoder):
    result = prefix_reuse.measure_prefix_reuse(tiny_decoder, "What is a token?", runs=2)
    assert result.same_first_token
    assert result.prefix_tokens + result.question_tokens < tiny_decoder.info.context_window  # cut to fit
    assert result.cold_seconds > 0 and result.warm_seconds > 0


def test_perplexity_equals_torch_cross_entropy(tiny_decoder):
    ids = timing.prompt_ids(tiny_decoder, quant_quality.PERPLEXITY_TEXT[:80])
    with torch.no_grad():
        logits = tiny_decoder.model(input_ids=ids).logits[0]
    expected = torch.exp(torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:]))
    assert quant_quality.perplexity(tiny_decoder, ids) == pytest.approx(float(expected), rel=1e-5)


def test_weight_formats_leave_the_shared_model_unchanged(tiny_llama):
    before = {k: v.clone() for k, v in tiny_llama.model.state_dict().items()}
    table = quant_quality.measure_formats(tiny_llama, new_tokens=3, runs=1, formats=quant_quality.FORMATS[::-1])
    assert table["format"].tolist() == list(quant_quality.FORMATS)  # in the page's order, whatever the choice's
    assert all(torch.equal(before[k], v) for k, v in tiny_llama.model.state_dict().items())
    assert not any(type(p) is not torch.nn.Parameter for p in tiny_llama.model.parameters())  # no quantized tensor
    float_row = table.iloc[0]
    ids = timing.prompt_ids(tiny_llama, quant_quality.PERPLEXITY_TEXT[: tiny_llama.info.context_window // 2])
    assert float_row["perplexity"] == pytest.approx(quant_quality.perplexity(tiny_llama, ids))
    assert (table.iloc[1:]["megabytes"] < float_row["megabytes"]).all()  # int8 (or int4 held in int8) Linear weights
    assert table[["prefill_tokens_per_second", "decode_tokens_per_second", "perplexity"]].notna().all().all()
    assert "context window" in float_row["note"]  # the tiny model cannot hold the sentiment shots: said, not hidden


def test_capacity_planner_on_hand_numbers():
    # 10 users, 100-token prompts, 50-token answers, 1 kB of cache per token, 1 MB of weights, 1 MB + 600 kB of memory.
    result = capacity.plan(10, 100, 50, 1.6e6, 1e6, 1e3, prefill_tokens_per_second=1_000, batches=[1, 2, 4],
                           batch_tokens_per_second=[10, 16, 32])
    assert result.fits_in_memory == 4  # 600 kB ÷ 150 kB per request
    assert result.batch == 4 and result.waves == 3
    assert result.wave_seconds == pytest.approx(4 * 100 / 1_000 + 4 * 50 / 32)  # 0.4 s prefill + 6.25 s decode
    assert result.last_wait_seconds == pytest.approx(3 * 6.65)
    assert result.mean_wait_seconds == pytest.approx(2 * 6.65)
    assert result.memory_bytes == 1e6 + 4 * 150e3 and result.all_memory_bytes == 1e6 + 10 * 150e3
    assert any("first come" in line for line in result.assumptions)


def test_capacity_planner_interpolates_and_refuses_what_cannot_fit():
    result = capacity.plan(3, 10, 10, 1e9, 1e6, 1e3, 1_000, [1, 4], [10, 40])
    assert result.batch == 3 and result.wave_seconds == pytest.approx(3 * 10 / 1_000 + 3 * 10 / 30)
    with pytest.raises(ValueError, match="Not one request fits"):
        capacity.plan(1, 10, 10, 1e6, 1e6, 1e3, 1_000, [1], [10])
    with pytest.raises(ValueError, match="Users must be between"):
        capacity.plan(0, 10, 10, 1e9, 1e6, 1e3, 1_000, [1], [10])


@pytest.mark.parametrize("measure", [
    lambda m: kv_cache.cache_size(m, PROMPT), lambda m: speed.decode_with_and_without_cache(m, PROMPT, 2, 1),
    lambda m: batch_throughput.measure_batches(m, PROMPT, 2, 2, 1), lambda m: quant_quality.measure_formats(m, 2, 1),
])
def test_an_encoder_gets_a_clear_message(tiny_bert, measure):
    with pytest.raises(ValueError, match="encoder"):
        measure(tiny_bert)


def test_a_prompt_past_the_cap_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="context window"):
        speed.decode_with_and_without_cache(tiny_llama, "token " * 200, 2, 1)


@pytest.mark.slow
def test_smollm2_cache_is_2_x_30_x_3_x_64_x_4_bytes_per_token(smollm2):
    size = kv_cache.cache_size(smollm2, PROMPT)
    assert size.formula_bytes_per_token == size.measured_bytes_per_token == 2 * 30 * 3 * 64 * 4  # 46,080
    assert size.mha_bytes_per_token == 2 * 30 * 9 * 64 * 4 and size.gqa_saving == 3


@pytest.mark.slow
def test_smollm2_decodes_the_same_tokens_with_and_without_the_cache(smollm2):
    times = speed.decode_with_and_without_cache(smollm2, "The capital of France is Paris. The capital of Germany is",
                                                new_tokens=4, runs=1)
    assert times.same_tokens
    assert smollm2.tokenizer.decode(times.cached_tokens[:1]) == " Berlin"


def test_every_forward_runs_inside_the_gate_and_leaves_no_hook(tiny_llama):
    from core.runtime import gate

    held = []
    handle = tiny_llama.model.register_forward_pre_hook(
        lambda module, args: held.append(gate.GATE.is_held(gate.gate_key(tiny_llama))))
    try:
        kv_cache.cache_size(tiny_llama, PROMPT)
        speed.decode_with_and_without_cache(tiny_llama, PROMPT, 3, 1)
        speed.prefill_and_decode(tiny_llama, PROMPT, 2, 1)
        batch_throughput.measure_batches(tiny_llama, PROMPT, 2, 2, 1)
        prefix_reuse.measure_prefix_reuse(tiny_llama, "What is a token?", runs=1)
        quant_quality.perplexity(tiny_llama, timing.prompt_ids(tiny_llama, PROMPT))
    finally:
        handle.remove()
    assert held and all(held)
    assert not tiny_llama.model._forward_pre_hooks and not tiny_llama.model._forward_hooks


def test_a_torchao_format_is_int8_weights_that_change_the_logits_a_little(tiny_llama):
    from torchao.quantization import Int8Tensor

    copy = quant_quality._quantized_copy(tiny_llama, quant_quality.INT8_WEIGHT_ONLY)
    weights = {type(m.weight) for m in copy.model.modules() if isinstance(m, torch.nn.Linear)}
    assert weights == {Int8Tensor}
    ids = timing.prompt_ids(tiny_llama, quant_quality.PERPLEXITY_TEXT[:60])
    with torch.no_grad():
        plain, quantized = tiny_llama.model(input_ids=ids).logits, copy.model(input_ids=ids).logits
    assert 0 < (plain - quantized).abs().max() < 0.05 * plain.abs().max()


def test_unknown_or_no_formats_are_refused():
    with pytest.raises(ValueError, match="Choose one or more weight formats"):
        quant_quality.check_formats(())
    with pytest.raises(ValueError, match="Choose one or more weight formats"):
        quant_quality.check_formats(("float16",))
