"""Time to first token after a long shared system prompt, with and without reusing its KV cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.deploy.timing import TIMING_RUNS, Progress, check_decoder, clock, median, quiet
from core.models import LoadedModel
from core.prompting.label_scoring import Prefix, cache_for
from core.runtime import calls, devices, gate

SYSTEM_PROMPT = (Path(__file__).resolve().parents[2] / "data" / "deploy" / "system_prompt.txt").read_text("utf-8")
MAX_PREFIX_TOKENS = 1024  # system prompt tokens measured (the bundled one has about 400 on SmolLM2)


@dataclass(frozen=True)
class PrefixReuse:
    """Median time to the first new token: everything computed vs the shared prefix's cache reused."""

    prefix_tokens: int  # system prompt tokens (cut to fit the context window and the cap)
    question_tokens: int
    cold_seconds: float  # one forward over system prompt + question
    warm_seconds: float  # one forward over the question after the cached system prompt
    prefix_seconds: float  # building the prefix's cache once (paid by the first user only)
    same_first_token: bool  # both ways pick the same first token
    runs: int

    @property
    def speedup(self) -> float:
        return self.cold_seconds / self.warm_seconds


def measure_prefix_reuse(model: LoadedModel, question: str, system: str = SYSTEM_PROMPT, runs: int = TIMING_RUNS,
                         progress: Progress | None = None) -> PrefixReuse:
    """Time the first token both ways; each run of each way is one gate hold."""
    check_decoder(model)
    report = progress or quiet
    prefix_ids, question_ids = _split_ids(model, system, question)
    whole = devices.to_model(model, torch.tensor([prefix_ids + question_ids]))
    cold, warm, built, firsts = [], [], [], set()
    for run in range(runs):
        report(run / runs, f"Run {run + 1} of {runs}: first token without, then with the shared prefix's cache…")
        with gate.inference(model):
            started = clock()
            firsts.add(int(calls.forward(model, input_ids=whole, logits_to_keep=1).logits[0, -1].argmax()))
            cold.append(clock() - started)
        with gate.inference(model):
            started = clock()
            prefix = _prefill(model, prefix_ids)
            built.append(clock() - started)
        with gate.inference(model):
            started = clock()
            firsts.add(_first_after(model, prefix, question_ids))
            warm.append(clock() - started)
    report(1.0, "Done.")
    return PrefixReuse(len(prefix_ids), len(question_ids), median(cold), median(warm), median(built),
                       len(firsts) == 1, runs)


def _split_ids(model: LoadedModel, system: str, question: str) -> tuple[list[int], list[int]]:
    """(system ids cut to fit, question ids); ValueError when the question alone leaves no room."""
    question_ids = model.tokenizer(question, add_special_tokens=False)["input_ids"]
    if not question_ids:
        raise ValueError("The prompt is empty: type a question to ask after the system prompt.")
    room = min(model.info.context_window - 1, MAX_PREFIX_TOKENS) - len(question_ids)
    if room < 1:
        raise ValueError(f"The prompt has {len(question_ids):,} tokens; with a system prompt before it this "
                         f"measurement allows at most {min(model.info.context_window - 1, MAX_PREFIX_TOKENS) - 1:,}.")
    return model.tokenizer(system)["input_ids"][:room], question_ids


def _prefill(model: LoadedModel, ids: list[int]) -> Prefix:
    """The prefix's keys and values (what a server keeps for a shared system prompt)."""
    output = calls.forward(model, input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
    return Prefix("", tuple(ids), tuple((layer.keys, layer.values) for layer in output.cache.layers))


def _first_after(model: LoadedModel, prefix: Prefix, ids: list[int]) -> int:
    """The greedy first token after the cached prefix, running only the question's tokens."""
    start = len(prefix)
    positions = devices.to_model(model, torch.arange(start, start + len(ids))[None])
    output = calls.forward(model, input_ids=torch.tensor([ids]), position_ids=positions,
                         cache=cache_for(model, prefix, 1), use_cache=True, logits_to_keep=1)
    return int(output.logits[0, -1].argmax())
