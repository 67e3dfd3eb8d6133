"""Next-token prediction made visible: candidates, one token's odds, sampling filters, step-by-step choices."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core import result_budget
from core.analysis import check_length, softmax
from core.generation import GenerationStep
from core.models import LoadedModel
from core.runtime import calls, gate
from core.runtime.arrays import frozen
from core.sampling import GenerationSettings, choose_next, filter_logits
from core.tokens import token_label, tokenize

MAX_TOP_K = 200  # a table or bar chart past this many rows teaches nothing more
MAX_WORD_CHARS = 200


@dataclass(frozen=True)
class TokenOdds:
    """How likely the model finds one token the user typed, as the next token."""

    word: str
    token_id: int
    label: str  # the first token of the word, whitespace made visible
    n_tokens: int  # how many tokens the word needs; only the first is scored
    probability: float
    logprob: float
    rank: int  # 1 = the model's top choice


@dataclass(frozen=True)
class FilteredDistribution:
    """One next-token distribution before and after temperature, top-k and top-p."""

    settings: GenerationSettings  # normalized: what was really applied
    before: np.ndarray  # (vocab,) probabilities at temperature 1
    after: np.ndarray  # (vocab,) renormalised probabilities after the filters (one-hot when greedy)
    kept: np.ndarray  # (vocab,) bool: tokens that can still be chosen
    entropy_before: float  # bits
    entropy_after: float  # bits

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())


@dataclass(frozen=True)
class StepPrediction:
    """The model's next-token logits after the prompt plus the tokens chosen so far."""

    prompt: str
    chosen_ids: tuple[int, ...]
    text: str  # prompt followed by the decoded chosen tokens
    logits: np.ndarray  # (vocab,) float32, read-only


def entropy_bits(probs: np.ndarray) -> float:
    """Shannon entropy of a distribution (vocab,), in bits; zero-probability tokens add nothing."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return max(0.0, float(-(p * np.log2(p)).sum()))  # max: no "-0.0" for a one-hot


def top_candidates(model: LoadedModel, logits: np.ndarray, k: int = 10) -> pd.DataFrame:
    """The k most likely next tokens: rank, token_id, token, probability, logprob (k rows)."""
    if not 1 <= k <= MAX_TOP_K:
        raise ValueError(f"k must be between 1 and {MAX_TOP_K}, got {k}.")
    probs = softmax(logits)
    order = np.argsort(-probs, kind="stable")[:k]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "token_id": order.astype(np.int64),
            "token": [token_label(model.tokenizer, i) for i in order],
            "probability": probs[order],
            "logprob": np.log(probs[order]),
        }
    )


def token_odds(model: LoadedModel, logits: np.ndarray, word: str) -> TokenOdds:
    """Probability of the first token of `word` as the next token (the word's other tokens are ignored)."""
    if not word:
        raise ValueError("Type a token or word to look up.")
    if len(word) > MAX_WORD_CHARS:
        raise ValueError(f"The word has {len(word):,} characters; the limit is {MAX_WORD_CHARS}.")
    ids = model.tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"The tokenizer turns {word!r} into no tokens at all.")
    probs = softmax(logits)
    token_id = int(ids[0])
    return TokenOdds(
        word=word,
        token_id=token_id,
        label=token_label(model.tokenizer, token_id),
        n_tokens=len(ids),
        probability=float(probs[token_id]),
        logprob=float(np.log(probs[token_id])) if probs[token_id] > 0 else float("-inf"),
        rank=int((probs > probs[token_id]).sum()) + 1,
    )


def filter_distribution(logits: np.ndarray, settings: GenerationSettings) -> FilteredDistribution:
    """Apply temperature, top-k and top-p (as generation would) to one set of logits (vocab,)."""
    applied = settings.normalized(len(logits))
    before = softmax(logits)
    if applied.do_sample:
        filtered = filter_logits(torch.from_numpy(np.array(logits, dtype=np.float32)), **_filter_args(applied))
        after = torch.softmax(filtered.double(), dim=-1).numpy()
        kept = np.isfinite(filtered.numpy())
    else:  # greedy: only the top token can ever be chosen
        kept = np.zeros(len(logits), dtype=bool)
        kept[int(np.argmax(logits))] = True
        after = kept.astype(np.float64)
    before, after, kept = frozen(before), frozen(after), frozen(kept)
    return FilteredDistribution(applied, before, after, kept, entropy_bits(before), entropy_bits(after))


def _filter_args(settings: GenerationSettings) -> dict:
    return {"temperature": settings.temperature, "top_k": settings.top_k, "top_p": settings.top_p}


def distribution_table(model: LoadedModel, dist: FilteredDistribution, k: int = 20) -> pd.DataFrame:
    """The k tokens most likely before filtering: rank, token, before, after, kept (k rows)."""
    if not 1 <= k <= MAX_TOP_K:
        raise ValueError(f"k must be between 1 and {MAX_TOP_K}, got {k}.")
    order = np.argsort(-dist.before, kind="stable")[:k]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "token": [token_label(model.tokenizer, i) for i in order],
            "before": dist.before[order],
            "after": dist.after[order],
            "kept": dist.kept[order],
        }
    )


def predict_step(model: LoadedModel, prompt: str, chosen_ids: tuple[int, ...] = ()) -> StepPrediction:
    """One forward pass over the prompt's tokens plus the chosen ones; the ids are used as they are.

    Decoding and re-tokenizing the text could split it differently, so the chosen ids are appended
    to the prompt's ids instead.
    """
    if not model.info.is_decoder:
        raise ValueError(f"{model.name} is an encoder: it does not predict a next token.")
    prompt_ids = tokenize(model, prompt).ids
    ids = np.concatenate([prompt_ids, np.asarray(chosen_ids, dtype=np.int64)])
    check_length(model, len(ids), None, what="Prompt plus chosen tokens")
    with gate.inference(model):
        output = calls.forward(model, torch.from_numpy(ids)[None], logits_to_keep=1)
        logits = frozen(output.logits[0, -1].clone(), np.float32)
    text = prompt + model.tokenizer.decode(list(chosen_ids), skip_special_tokens=False)
    return StepPrediction(prompt, tuple(int(i) for i in chosen_ids), text, logits)


def pick_token(logits: np.ndarray, settings: GenerationSettings, step: int) -> int:
    """The token generation would choose at this step: argmax, or a sample seeded with seed + step."""
    applied = settings.normalized(len(logits))
    generator = torch.Generator().manual_seed(applied.seed + step)
    chosen = choose_next(torch.from_numpy(np.array(logits, dtype=np.float32))[None], applied, [generator])
    return int(chosen[0])


def repeated_fraction(token_ids: np.ndarray, n: int = 2) -> float:
    """Share of a completion's n-grams that already appeared earlier in it (0 = no repetition)."""
    grams = [tuple(token_ids[i : i + n]) for i in range(len(token_ids) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class RecordedStream:
    """A generation stream that remembers its latest step, so a rerun replays instead of recomputing.

    Several readers may iterate it; the first pulls new steps from the model, the others follow.
    A reader that stops early leaves the rest for the next reader, who resumes where it ended.
    Any error of the source (bad input or a broken run) marks the stream failed: every reader gets
    that error, never a stream that silently ends early, and the cache layer drops a failed stream.
    """

    def __init__(self, source: Iterator[GenerationStep]):
        self._source = source
        self._lock = threading.Lock()
        self._latest: GenerationStep | None = None
        self._count = 0
        self._error: Exception | None = None
        self._done = False

    def __iter__(self) -> Iterator[GenerationStep]:
        seen = 0
        while True:
            with self._lock:
                if seen == self._count and not self._done:
                    self._pull()
                if self._error is not None:
                    raise self._error
                if seen == self._count:  # finished and nothing new
                    return
                seen, step = self._count, self._latest
            yield step

    def _pull(self) -> None:
        try:
            self._latest = next(self._source)
            self._count += 1
            if getattr(self._latest, "completions", None) is not None:  # the last step: drop what the run held
                self._done = True
        except StopIteration:
            self._done = True
        except Exception as error:  # noqa: BLE001 - a dead generator would otherwise look finished
            self._error, self._done = error, True
        if self._done:
            self._source = iter(())  # drop the run (its KV cache, its token tensors) as soon as it ends

    def held_bytes(self) -> int:
        """Bytes this stream keeps: what its run holds between steps, plus the latest step's arrays."""
        # No lock: a reader holds it for a whole model step, and a size read a step late is fine.
        source, latest = self._source, self._latest
        held = getattr(source, "held_bytes", None)
        return (held() if callable(held) else 0) + result_budget.nbytes(latest)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def failed(self) -> bool:
        """True once the source raised: the stream holds an error, not a result."""
        return self._error is not None
