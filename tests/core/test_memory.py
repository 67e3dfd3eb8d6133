"""Memory and LoRA formulas against values worked out by hand."""

from __future__ import annotations

import pytest

from core import memory


@pytest.mark.parametrize(
    "text,expected",
    [("7B", 7_000_000_000), ("70b", 70_000_000_000), ("1.5B", 1_500_000_000), ("135M", 135_000_000),
     ("500K", 500_000), (" 2 T ", 2_000_000_000_000), ("134,515,008", 134_515_008), ("42", 42)],
)
def test_parse_size_reads_suffixes(text, expected):
    assert memory.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "seven billion", "7X", "-7B", "1e9", "<b>7B</b>", "7B" * 50_000])
def test_parse_size_rejects_unreadable_text_with_an_example(text):
    with pytest.raises(ValueError, match="e.g. 7B"):
        memory.parse_size(text)


def test_parse_size_rejects_zero_and_absurd_sizes():
    with pytest.raises(ValueError, match="at least 1"):
        memory.parse_size("0")
    with pytest.raises(ValueError, match="100T"):
        memory.parse_size("900T")


def test_weights_at_each_format_for_a_7b_model():
    params = 7_000_000_000
    assert memory.weights_bytes(params, "fp32") == 28e9
    assert memory.weights_bytes(params, "fp16") == 14e9
    assert memory.weights_bytes(params, "bf16") == 14e9
    assert memory.weights_bytes(params, "int8") == 7e9
    assert memory.weights_bytes(params, "int4") == 3.5e9


def test_unknown_format_names_the_valid_ones():
    with pytest.raises(ValueError, match="fp32, fp16, bf16, int8, int4"):
        memory.weights_bytes(10, "fp8")


def test_kv_cache_of_smollm2_at_full_context_by_hand():
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 dims. K and V per token per layer: 2 × 3 × 64 = 384 numbers.
    # 384 × 30 layers = 11,520 numbers per token; × 8,192 tokens = 94,371,840; × 2 bytes (fp16) = 188,743,680.
    assert memory.kv_cache_bytes(30, 3, 64, 8192, 1, "fp16") == 188_743_680
    assert memory.kv_cache_bytes(30, 3, 64, 8192, 4, "fp16") == 4 * 188_743_680
    assert memory.kv_cache_bytes(30, 3, 64, 8192, 1, "fp32") == 2 * 188_743_680


def test_kv_cache_rejects_zero_context():
    with pytest.raises(ValueError, match="context must be at least 1"):
        memory.kv_cache_bytes(30, 3, 64, 0, 1, "fp16")


def test_training_memory_with_adam_by_hand():
    # 1,000 params in fp32: 4,000 weights + 4,000 gradients + 8,000 Adam (two fp32 moments).
    parts = memory.training_memory(1000, "fp32")
    assert (parts.weights, parts.gradients, parts.optimizer, parts.total) == (4000, 4000, 8000, 16000)
    # bf16 weights and gradients, Adam still fp32: 2,000 + 2,000 + 8,000.
    assert memory.training_memory(1000, "bf16").total == 12000
    # Only 10 trainable: gradients and Adam for those 10 only.
    lora = memory.training_memory(1000, "fp32", trainable=10)
    assert (lora.weights, lora.gradients, lora.optimizer) == (4000, 40, 80)


def test_training_memory_rejects_more_trainable_than_total():
    with pytest.raises(ValueError, match="between 0 and the total"):
        memory.training_memory(10, "fp32", trainable=11)


def test_lora_counts_on_a_tiny_shape_by_hand():
    # q: 32 → 32 and v: 32 → 16, each in 2 layers, rank 4:
    # q: 2 × 4 × (32 + 32) = 512; v: 2 × 4 × (32 + 16) = 384; total 896.
    assert memory.lora_parameters([(32, 32, 2), (32, 16, 2)], 4) == 896
    assert memory.lora_parameters([(32, 32, 2)], 1) == 128


def test_lora_rank_outside_range_is_named():
    with pytest.raises(ValueError, match="between 1 and 4,096"):
        memory.lora_parameters([(8, 8, 1)], 0)


def test_human_bytes_uses_decimal_units():
    assert memory.human_bytes(14e9) == "14.00 GB"
    assert memory.human_bytes(188_743_680) == "188.74 MB"
    assert memory.human_bytes(512) == "512 B"
