"""Generating after a shared prefix KV cache: the completions equal plain batched generation."""

from __future__ import annotations

from core.generation import generate
from core.prompting import prefix_generation
from core.sampling import GenerationSettings

PREFIX = "Classify.\n\nText: Loved it\nLabel: positive\n\nText:"
SUFFIXES = [" great film\nLabel:", " boring and far too long\nLabel:", " ok\nLabel:"]


def test_generate_after_prefix_matches_plain_generation(tiny_decoder):
    settings = GenerationSettings(max_new_tokens=4, stop=("\n",))
    texts = prefix_generation.generate_after_prefix(tiny_decoder, PREFIX, SUFFIXES, settings, batch_rows=2)
    plain = [c.text for c in generate(tiny_decoder, [PREFIX + s for s in SUFFIXES], settings)]
    assert texts == plain
