"""Padding a batch never changes the shared tokenizer, so many threads can pad at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import core
from core.runtime import padding

TEXTS = ["The capital of France", "a b", "Attention lets every token look at every other token. " * 20, "👍🏽"]


def _one_by_one(tokenizer, texts):
    return [tokenizer(t, add_special_tokens=True)["input_ids"] for t in texts]


@pytest.mark.parametrize("side", padding.PADDING_SIDES)
def test_pad_batch_matches_one_by_one_and_leaves_backend_alone(tiny_llama, side):
    tokenizer = tiny_llama.tokenizer
    batch = padding.pad_batch(tokenizer, TEXTS, side=side)
    ids, mask = batch["input_ids"].numpy(), batch["attention_mask"].numpy()
    for row, expected in enumerate(_one_by_one(tokenizer, TEXTS)):
        real = ids[row][mask[row] == 1]
        assert real.tolist() == expected
        kept = np.flatnonzero(mask[row])
        # Padding sits on the asked side only: the real tokens are one contiguous block at that end.
        assert kept.tolist() == (list(range(mask.shape[1] - len(expected), mask.shape[1])) if side == "left"
                                 else list(range(len(expected))))
        assert (ids[row][mask[row] == 0] == tokenizer.pad_token_id).all()
    assert tokenizer.backend_tokenizer.padding is None
    assert tokenizer.backend_tokenizer.truncation is None


def test_pad_batch_rejects_unknown_side(tiny_llama):
    with pytest.raises(ValueError, match="left"):
        padding.pad_batch(tiny_llama.tokenizer, TEXTS, side="middle")


def test_load_clears_padding_saved_in_tokenizer(tiny_llama_path, tmp_path):
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(tiny_llama_path)
    saved.backend_tokenizer.enable_padding(pad_id=0, pad_token="<|im_end|>")
    saved.backend_tokenizer.enable_truncation(max_length=5)
    padding.freeze_settings(saved)
    assert saved.backend_tokenizer.padding is None and saved.backend_tokenizer.truncation is None


def test_many_threads_pad_and_tokenize_at_once(tiny_llama, tiny_bert):
    """16 threads mixing padded batches, plain tokenization and generation on the shared tokenizers."""
    expected_ids = {m.name: _one_by_one(m.tokenizer, TEXTS) for m in (tiny_llama, tiny_bert)}
    expected_tokens = core.tokenize(tiny_llama, TEXTS[2]).ids.tolist()
    errors: list[str] = []
    start = threading.Barrier(16)

    def work(worker: int) -> None:
        start.wait()
        try:
            for _ in range(40):
                model = tiny_bert if worker % 4 == 3 else tiny_llama
                if worker % 2:
                    batch = padding.pad_batch(model.tokenizer, TEXTS, side="left" if worker % 3 else "right")
                    got = [row[m == 1].tolist() for row, m in zip(batch["input_ids"].numpy(),
                                                                   batch["attention_mask"].numpy())]
                    assert got == expected_ids[model.name]
                else:
                    assert core.tokenize(tiny_llama, TEXTS[2]).ids.tolist() == expected_tokens
        except Exception as error:  # noqa: BLE001 - any failure in a thread is the test's failure
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tiny_llama.tokenizer.backend_tokenizer.padding is None


def test_generation_batches_in_threads_match_one_by_one(tiny_llama):
    """Batched generation (left padding) while other threads tokenize plain text on the same tokenizer."""
    settings = core.GenerationSettings(max_new_tokens=3)
    prompts = [TEXTS[0], TEXTS[1], "Attention lets every token"]
    alone = [c.token_ids.tolist() for c in core.generate(tiny_llama, prompts, settings)]
    results, errors = [], []
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        start.wait()
        try:
            for _ in range(10):
                if worker % 2:
                    results.append([c.token_ids.tolist() for c in core.generate(tiny_llama, prompts, settings)])
                else:
                    core.tokenize(tiny_llama, TEXTS[2])
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [alone] * 40
