"""One request to a served model: a completion (streamed or not), a label's log-probability, a capability probe."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import openai

from core.sampling import GenerationSettings
from core.served.remote import RemoteError

Prompt = str | tuple[tuple[str, str], ...]  # completion text, or chat turns as (role, content) pairs
PROBE_PROMPT = "The capital of France is"


@dataclass(frozen=True)
class ServedCompletion:
    """What the served model added to one prompt (logprobs only when the server returns them)."""

    text: str  # cut before any stop string, as the in-process generation does
    token_texts: tuple[str, ...] | None  # None when the server sends no per-token data
    logprobs: np.ndarray | None  # (new,) log-probability of each chosen token, or None
    finish_reason: str
    prompt_tokens: int | None  # as counted by the server's tokenizer
    seconds: float


@dataclass(frozen=True)
class Capabilities:
    """What a served model returns besides text, found by one small request."""

    token_logprobs: bool  # per-token confidence of generated tokens
    prompt_logprobs: bool  # echo + logprobs: the log-probability of given text, needed to rank labels

    def rank_reason(self, name: str) -> str:
        """One sentence on why "Rank the labels" is or is not offered for this server."""
        if self.prompt_logprobs:
            return f"'{name}' returns prompt log-probabilities (echo), so labels can be ranked by likelihood."
        return (f"'{name}' returns no log-probabilities for given text (echo + logprobs), so labels cannot be "
                "ranked: each answer is generated and matched to the labels instead.")


def request_params(settings: GenerationSettings, row: int = 0) -> dict:
    """OpenAI sampling parameters for our settings: temperature 0 is greedy, sample i uses seed + i.

    top_k is not part of the OpenAI API (strict servers reject unknown fields), so it is not sent.
    """
    params: dict = {"max_tokens": int(settings.max_new_tokens)}
    if settings.do_sample and settings.temperature > 0:
        params.update(temperature=float(settings.temperature), top_p=float(settings.top_p),
                      seed=int(settings.seed) + row)
    else:
        params["temperature"] = 0.0
    if settings.stop:
        params["stop"] = list(settings.stop)[:4]  # the API takes at most 4 stop strings
    return params


def _cut(text: str, stops: tuple[str, ...]) -> str:
    # Some servers (transformers serve) keep the stop string in the text; OpenAI's API drops it.
    found = [text.find(s) for s in stops if s and s in text]
    return text[: min(found)] if found else text


def complete(api: openai.OpenAI, model: str, prompt: Prompt, settings: GenerationSettings, row: int = 0,
             on_text: Callable[[str], None] | None = None) -> ServedCompletion:
    """One completion; with on_text it streams and calls on_text with the text so far after each chunk."""
    started = time.perf_counter()
    common = {"model": model, "logprobs": _logprobs_arg(prompt), **request_params(settings, row)}
    if on_text is None:
        response = _create(api, prompt, common, stream=False)
        choices = response.choices or []
        if not choices:
            raise RemoteError("The server answered with an empty 'choices' list: no completion to show.")
        pieces = [_piece(prompt, choices[0])]
        prompt_tokens = response.usage.prompt_tokens if response.usage else None
    else:
        pieces, prompt_tokens = _stream(api, prompt, common, settings.stop, on_text)
    text = "".join(p[0] for p in pieces)
    tokens = [t for p in pieces for t in p[1]]
    logprobs = [v for p in pieces for v in p[2]]
    reason = next((p[3] for p in reversed(pieces) if p[3]), "length")
    has_logprobs = bool(tokens) and len(tokens) == len(logprobs)
    return ServedCompletion(_cut(text, settings.stop), tuple(tokens) if has_logprobs else None,
                            np.asarray(logprobs, dtype=np.float64) if has_logprobs else None,
                            str(reason), prompt_tokens, time.perf_counter() - started)


def _logprobs_arg(prompt: Prompt):
    return 1 if isinstance(prompt, str) else True  # completions take a count, chat takes a flag


def _create(api: openai.OpenAI, prompt: Prompt, params: dict, stream: bool):
    if isinstance(prompt, str):
        return api.completions.create(prompt=prompt, stream=stream, **params)
    messages = [{"role": role, "content": content} for role, content in prompt]
    return api.chat.completions.create(messages=messages, stream=stream, **params)


def _stream(api, prompt: Prompt, params: dict, stops: tuple[str, ...], on_text) -> tuple[list, int | None]:
    pieces, text, prompt_tokens = [], "", None
    for chunk in _create(api, prompt, {**params, "stream_options": {"include_usage": True}}
                         if not isinstance(prompt, str) else params, stream=True):
        if getattr(chunk, "usage", None):
            prompt_tokens = chunk.usage.prompt_tokens
        for choice in chunk.choices or []:
            piece = _piece(prompt, choice)
            pieces.append(piece)
            text += piece[0]
            on_text(_cut(text, stops))
    if not pieces:
        raise RemoteError("The server's stream ended without any choices: no completion to show.")
    return pieces, prompt_tokens


def _piece(prompt: Prompt, choice) -> tuple[str, list[str], list[float], str | None]:
    """(text, token texts, token logprobs, finish reason) of one choice or stream chunk."""
    if isinstance(prompt, str):
        text, data = choice.text or "", choice.logprobs
        tokens = list(data.tokens or []) if data else []
        values = list(data.token_logprobs or []) if data else []
    else:
        delta = getattr(choice, "message", None) or getattr(choice, "delta", None)
        text = (delta.content if delta else "") or ""
        content = (choice.logprobs.content or []) if choice.logprobs else []
        tokens, values = [c.token for c in content], [c.logprob for c in content]
    return text, tokens, [float(v) for v in values if v is not None], choice.finish_reason


def label_logprob(api: openai.OpenAI, model: str, prompt: str, continuation: str) -> float:
    """log P(continuation | prompt): echo the joined text with logprobs and add up the continuation's tokens.

    The continuation's tokens are found by their text offsets. Where the echoed token texts do not spell
    the text (a character split across tokens decodes to U+FFFD, shifting the offsets after it), they are
    the joined text's tokens after the prompt's own, counted by the server (usage.prompt_tokens of a
    second echo, of the prompt alone), as lm-evaluation-harness and the in-process scorer split them.
    """
    full = prompt + continuation
    tokens, offsets, values, n_full = _echo(api, model, full)
    if "".join(tokens).startswith(full):
        picked = [v for token, offset, v in zip(tokens, offsets, values) if _in_span(token, offset, prompt, full)]
    else:
        n_prompt = _echo(api, model, prompt)[3] if prompt else 0
        picked = values[n_prompt:n_full] if n_full and n_prompt else []
    if not picked or any(v is None for v in picked):
        raise RemoteError("The server's log-probabilities do not cover the label: it cannot be ranked.")
    return float(sum(picked))


def _in_span(token: str, offset: int, prompt: str, full: str) -> bool:
    """Whether an echoed token is part of the continuation full[len(prompt):] (the generated one starts after it).

    vLLM gives the first pieces of a character split across tokens as empty texts at the character's
    offset, so an empty token at or after the prompt's end belongs to the continuation too.
    """
    if offset >= len(full):
        return False
    return offset + len(token) > len(prompt) or (not token and offset >= len(prompt))


def _echo(api: openai.OpenAI, model: str, text: str) -> tuple[list[str], list[int], list, int | None]:
    """(token texts, text offsets, log-probabilities, the text's token count) of text and one generated token."""
    response = api.completions.create(model=model, prompt=text, echo=True, logprobs=1, max_tokens=1,
                                      temperature=0.0)
    if not response.choices:
        raise RemoteError("The server answered with an empty 'choices' list: no log-probabilities to rank.")
    data = response.choices[0].logprobs
    if data is None or not data.text_offset or not data.token_logprobs:
        raise RemoteError("The server returned no prompt log-probabilities (echo), so labels cannot be ranked.")
    counted = response.usage.prompt_tokens if response.usage else None
    return list(data.tokens or []), list(data.text_offset), list(data.token_logprobs), counted


def probe(api: openai.OpenAI, model: str) -> Capabilities:
    """Ask for one token with echo and logprobs; see which of them come back."""
    try:
        response = api.completions.create(model=model, prompt=PROBE_PROMPT, echo=True, logprobs=1,
                                          max_tokens=1, temperature=0.0)
    except openai.BadRequestError:
        return Capabilities(False, False)  # a server may refuse echo/logprobs outright
    data = response.choices[0].logprobs if response.choices else None
    values = [v for v in (data.token_logprobs or []) if v is not None] if data else []
    echoed = bool(data and data.text_offset) and len(data.text_offset) > 1 and min(data.text_offset) < len(PROBE_PROMPT)
    return Capabilities(token_logprobs=bool(values), prompt_logprobs=echoed and len(values) > 1)
