"""Dynamic int8 quantization on the tiny models: smaller copy, shared model untouched, agreement measured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.quantize import SAMPLE_TEXT, quantize_dynamic_int8


@pytest.fixture(scope="module")
def llama_run(tiny_llama):
    before = {k: v.clone() for k, v in tiny_llama.model.state_dict().items()}
    modules_before = [type(m) for m in tiny_llama.model.modules()]
    steps = []
    report = quantize_dynamic_int8(tiny_llama, progress=lambda f, message: steps.append((f, message)))
    return before, modules_before, steps, report


def test_int8_copy_is_smaller_than_float(llama_run):
    report = llama_run[3]
    assert report.int8_bytes < report.float_bytes
    assert report.size_ratio > 1
    # q, k, v, o and three MLP matrices per layer, 2 layers, plus the output head.
    assert report.quantized_layers == 2 * 7 + 1


def test_shared_model_is_unchanged(tiny_llama, llama_run):
    before, modules_before, _, _ = llama_run
    after = tiny_llama.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [type(m) for m in tiny_llama.model.modules()] == modules_before  # still float nn.Linear
    assert all(isinstance(m.weight, torch.nn.Parameter) for m in tiny_llama.model.modules()
               if isinstance(m, torch.nn.Linear))


def test_agreement_follows_from_the_size_of_the_int8_error(tiny_llama, llama_run):
    # If no logit moves by more than d, the top token can only change where its lead over the
    # runner-up is at most 2d: every other position must agree. The float logits are computed here.
    report = llama_run[3]
    ids = tiny_llama.tokenizer(SAMPLE_TEXT, return_tensors="pt")["input_ids"][:, : tiny_llama.info.context_window]
    with torch.inference_mode():
        logits = tiny_llama.model(ids).logits[0].float()
    top = logits.topk(2, dim=-1).values
    safe = ((top[:, 0] - top[:, 1]) > 2 * report.max_abs_diff).numpy()
    assert report.tokens == ids.shape[1] == 128  # the sample text is cut to the tiny model's context window
    assert 0 < report.max_abs_diff < float(logits.abs().max())  # int8 changed the outputs, a little
    assert safe.sum() >= 10, safe.sum()
    assert report.same_prediction[safe].all()
    assert report.agreement >= safe.mean()
    assert report.mean_cosine > 0.9
    assert report.float_seconds > 0 and report.int8_seconds > 0


def test_progress_rises_to_one(llama_run):
    fractions = [f for f, _ in llama_run[2]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(message for _, message in llama_run[2])


def test_encoder_reports_cosine_instead_of_next_token_agreement(tiny_bert):
    report = quantize_dynamic_int8(tiny_bert)
    assert report.agreement is None
    assert report.int8_bytes < report.float_bytes
    assert report.mean_cosine > 0.9
    assert report.same_prediction.dtype == np.bool_


@pytest.mark.parametrize("text,message", [("a" * 30_000, "limit is 20,000"), ("", "at least 2")])
def test_bad_sample_text_is_a_value_error(tiny_llama, text, message):
    with pytest.raises(ValueError, match=message):
        quantize_dynamic_int8(tiny_llama, text=text)


def test_the_copy_waits_for_the_gate_and_carries_no_other_sessions_hook(tiny_llama, monkeypatch):
    # Another session holds the gate with a hook registered and packed attention selected; the
    # quantization started meanwhile must queue for the gate before copying, so its int8 copy is
    # taken after that session cleaned up: no hook, the model's own attention implementation.
    import threading

    from torch.ao import quantization

    from core.runtime import gate, hooks, packed_attention

    copies: list[torch.nn.Module] = []
    real = quantization.quantize_dynamic
    monkeypatch.setattr(quantization, "quantize_dynamic", lambda *a, **k: copies.append(real(*a, **k)) or copies[-1])
    held, queued, errors = threading.Event(), threading.Event(), []
    own_implementation = tiny_llama.model.config._attn_implementation

    def other_session() -> None:
        with gate.hold(tiny_llama), packed_attention.selected(tiny_llama.model):
            hook = tiny_llama.model.model.layers[0].register_forward_hook(lambda module, args, output: None)
            try:
                held.set()
                queued.wait(60)  # the quantization reports its place in the queue
            finally:
                hook.remove()

    def quantization_session() -> None:
        held.wait(60)
        try:
            with gate.report_waits_to(lambda ahead: ahead and queued.set()):
                quantize_dynamic_int8(tiny_llama)
        except Exception as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)
        finally:
            queued.set()

    threads = [threading.Thread(target=other_session), threading.Thread(target=quantization_session)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(copies) == 1
    copy = copies[0]
    # transformers' own output-capturing hooks stay once attentions were asked for (by design); any other
    # hook on the copy would be the other session's.
    assert hooks.hooks_left(copy) == 0
    assert copy.config._attn_implementation == own_implementation != packed_attention.NAME
    assert tiny_llama.model.config._attn_implementation == own_implementation
