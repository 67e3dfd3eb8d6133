"""Batched generation on tiny decoders: determinism, batch equals one by one, seeds, stops, finish reasons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import core
from core.generation import GenerationSettings, eos_ids

PROMPTS = ["The capital of France is", "She opened a bank", "Attention lets"]


def _reference_greedy(model: core.LoadedModel, prompt: str, n: int) -> tuple[list[int], list[float]]:
    """Greedy decoding the slow way: a full forward pass over the whole sequence for every token."""
    ids = model.tokenizer(prompt, return_tensors="pt")["input_ids"]
    chosen, logprobs = [], []
    with torch.inference_mode():
        for _ in range(n):
            logits = model.model(ids).logits[0, -1].float()
            token = int(torch.argmax(logits))
            chosen.append(token)
            logprobs.append(float(torch.log_softmax(logits, dim=-1)[token]))
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return chosen, logprobs


def test_greedy_matches_step_by_step_argmax(tiny_decoder):
    settings = GenerationSettings(max_new_tokens=8)
    [done] = core.generate(tiny_decoder, [PROMPTS[0]], settings)
    ids, logprobs = _reference_greedy(tiny_decoder, PROMPTS[0], len(done.token_ids))
    assert done.token_ids.tolist() == ids
    np.testing.assert_allclose(done.logprobs, logprobs, atol=1e-4)


def test_greedy_is_deterministic(tiny_decoder):
    settings = GenerationSettings(max_new_tokens=10)
    first = core.generate(tiny_decoder, PROMPTS, settings)
    second = core.generate(tiny_decoder, PROMPTS, settings)
    assert [c.token_ids.tolist() for c in first] == [c.token_ids.tolist() for c in second]


def test_batched_equals_one_by_one(tiny_decoder):
    settings = GenerationSettings(max_new_tokens=8)
    batched = core.generate(tiny_decoder, PROMPTS, settings)
    for prompt, together in zip(PROMPTS, batched):
        [alone] = core.generate(tiny_decoder, [prompt], settings)
        assert together.token_ids.tolist() == alone.token_ids.tolist(), prompt
        np.testing.assert_allclose(together.logprobs, alone.logprobs, atol=1e-4)
        assert together.text == alone.text


def test_seeded_sampling_reproduces_and_row_i_uses_seed_plus_i(tiny_decoder):
    settings = GenerationSettings(max_new_tokens=12, do_sample=True, temperature=1.5, seed=5)
    three = core.generate(tiny_decoder, [PROMPTS[0]] * 3, settings)
    again = core.generate(tiny_decoder, [PROMPTS[0]] * 3, settings)
    assert [c.token_ids.tolist() for c in three] == [c.token_ids.tolist() for c in again]
    [seed6] = core.generate(tiny_decoder, [PROMPTS[0]], GenerationSettings(**{**settings.__dict__, "seed": 6}))
    assert three[1].token_ids.tolist() == seed6.token_ids.tolist()
    assert len({tuple(c.token_ids.tolist()) for c in three}) > 1  # different seeds, different samples


def test_stop_string_cuts_the_completion(tiny_decoder):
    [full] = core.generate(tiny_decoder, [PROMPTS[1]], GenerationSettings(max_new_tokens=12))
    stop = next(t for t in full.token_texts[2:] if t.strip())  # a piece the greedy text really contains
    [cut] = core.generate(tiny_decoder, [PROMPTS[1]], GenerationSettings(max_new_tokens=12, stop=(stop,)))
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)]
    assert stop not in cut.text


def test_max_new_tokens_is_honoured_and_reported_as_length(tiny_decoder):
    for n in (1, 5):
        completions = core.generate(tiny_decoder, PROMPTS, GenerationSettings(max_new_tokens=n))
        assert all(len(c.token_ids) == n and c.finish_reason == "length" for c in completions)


def test_end_of_text_token_finishes_with_eos(tiny_llama_path):
    model = core.load_model(str(tiny_llama_path))  # a private copy: its generation config is changed below
    [greedy] = core.generate(model, [PROMPTS[0]], GenerationSettings(max_new_tokens=4))
    eos = int(greedy.token_ids[1])
    model.model.generation_config.eos_token_id = eos
    [done] = core.generate(model, [PROMPTS[0]], GenerationSettings(max_new_tokens=4))
    assert done.finish_reason == "eos"
    first = greedy.token_ids.tolist().index(eos)  # the greedy text up to its first use of that token
    assert done.token_ids.tolist() == greedy.token_ids[: first + 1].tolist()


def test_list_valued_eos_ids_each_finish_a_completion(tiny_llama_path):
    # Generation configs may hold a list of end ids; the step-through page uses the same eos_ids.
    model = core.load_model(str(tiny_llama_path))  # a private copy: its generation config is changed below
    [greedy] = core.generate(model, [PROMPTS[0]], GenerationSettings(max_new_tokens=4))
    second = int(greedy.token_ids[1])
    taken = {*greedy.token_ids.tolist(), model.tokenizer.eos_token_id}
    other = next(i for i in range(model.info.vocab_size) if i not in taken)
    model.model.generation_config.eos_token_id = [other, second]
    assert eos_ids(model) == {model.tokenizer.eos_token_id, other, second}
    [done] = core.generate(model, [PROMPTS[0]], GenerationSettings(max_new_tokens=4))
    assert done.finish_reason == "eos"
    assert int(done.token_ids[-1]) == second


def test_context_window_limits_new_tokens(tiny_llama):
    context = tiny_llama.info.context_window
    prompt = "a" + " a" * (context - 4)  # leaves room for a few new tokens only
    n_prompt = len(tiny_llama.tokenizer(prompt)["input_ids"])
    [done] = core.generate(tiny_llama, [prompt], GenerationSettings(max_new_tokens=32))
    assert done.finish_reason == "context"
    assert len(done.token_ids) == context - n_prompt


def test_stream_grows_to_the_final_completion(tiny_decoder):
    steps = list(core.stream_generate(tiny_decoder, [PROMPTS[0]], GenerationSettings(max_new_tokens=6)))
    texts = [s.texts[0] for s in steps]
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
    assert steps[-1].completions[0].text == texts[-1]
    assert steps[-1].finished == (True,)


def test_bad_input_raises_a_clear_error(tiny_decoder, tiny_bert):
    with pytest.raises(ValueError, match="encoder"):
        core.generate(tiny_bert, [PROMPTS[0]])
    with pytest.raises(ValueError, match="empty"):
        core.generate(tiny_decoder, ["   "])
    with pytest.raises(ValueError, match="No prompts"):
        core.generate(tiny_decoder, [])
    too_long = "a" + " a" * tiny_decoder.info.context_window
    with pytest.raises(ValueError, match="context window is"):
        core.generate(tiny_decoder, [too_long])


def test_a_paused_stream_leaves_inference_mode_off(tiny_llama):
    stream = core.stream_generate(tiny_llama, ["The river"], core.GenerationSettings(max_new_tokens=4))
    next(stream)
    assert not torch.is_inference_mode_enabled()
    stream.close()


def test_batch_caps_are_refused_before_any_forward_pass(tiny_llama, monkeypatch):
    from core import generation

    calls = []
    monkeypatch.setattr(tiny_llama.model, "forward", lambda *a, **k: calls.append(1))
    too_many = core.GenerationSettings(max_new_tokens=generation.MAX_BATCH_NEW_TOKENS // 8 + 1)
    with pytest.raises(ValueError, match="8 completions × 513 new tokens = 4,104 tokens to decode; the limit is 4,096"):
        core.generate(tiny_llama, ["a"] * 8, too_many)
    monkeypatch.setattr(generation, "MAX_BATCH_PROMPT_TOKENS", 20)
    with pytest.raises(ValueError, match="prompt tokens in one run; the limit is 20"):
        core.generate(tiny_llama, ["The capital of France is Paris."] * 4, core.GenerationSettings(max_new_tokens=2))
    assert calls == []


def test_check_batch_allows_the_pages_largest_runs():
    from core import generation
    from ui.sections.generation_ui import MAX_SAMPLES
    from ui.settings import MAX_NEW_TOKENS_LIMIT

    generation.check_batch(MAX_SAMPLES, 512, MAX_NEW_TOKENS_LIMIT)  # Generation: 8 samples × 256 tokens
    generation.check_batch(12, 512, 5)  # an evaluation batch of 12 label prompts


def _kv_bytes(model, rows: int, positions: int) -> int:
    """layer × (key, value) × rows × kv heads × pos × head dim float32: what a KV cache must hold."""
    config = model.model.config
    head_dim = config.hidden_size // config.num_attention_heads
    return config.num_hidden_layers * 2 * rows * config.num_key_value_heads * positions * head_dim * 4


def test_a_paused_stream_holds_its_kv_cache_and_tokens_no_logits_and_a_finished_one_no_kv(tiny_llama):
    rows, settings = 4, GenerationSettings(max_new_tokens=5, do_sample=True, seed=2)
    stream = core.stream_generate(tiny_llama, ["The river runs"] * rows, settings)
    assert stream.held_bytes() == 0  # nothing runs before the first step
    next(stream)
    width = len(tiny_llama.tokenizer("The river runs")["input_ids"])
    tokens = 2 * rows * width * 8 + rows * 8  # prompt ids and mask (int64), one new id per row
    assert stream.held_bytes() == _kv_bytes(tiny_llama, rows, width) + tokens  # no (rows, vocab) logits
    next(stream)  # one more position of KV per row, one more id
    assert stream.held_bytes() == _kv_bytes(tiny_llama, rows, width + 1) + tokens + rows * 8
    *_, last = stream
    assert last.completions is not None
    new = sum(len(c.token_ids) for c in last.completions)
    assert stream.held_bytes() == 2 * rows * width * 8 + new * 8  # finished: tokens only, the KV cache is gone
