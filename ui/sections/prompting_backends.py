"""The Prompt strategies page's two backends behind one set of sections: this app's model or a served one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

import core
from core import prompting
from core.prompting.eval_request import served_api
from core.served import remote, remote_eval
from ui import widgets
from ui.caching import cache, prompting_cache, served_cache
from ui.sections import prompting_eval_ui, remote_eval_ui
from ui.sections.prompting_ui import (
    AnswerParts,
    StrategyBackend,
    StrategyPrompts,
    TaskInputs,
    in_process_prompts,
    ranked_labels,
)
from ui.sections.remote_ui import Backend

Examples = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class InProcess:
    """This app's model: prompts through its tokenizer, completions as one batch, labels ranked after them."""

    model: core.LoadedModel

    def intro(self, inputs: TaskInputs) -> None:
        """Nothing: the page's own caption describes this model."""

    def strategy_prompts(self, inputs: TaskInputs) -> StrategyPrompts:
        """The three prompts in the chosen format, each with its token count against the context window."""
        prompts = in_process_prompts(self.model, inputs)
        counts = [len(cache.get_tokens(widgets.model_key(), prompt)) for prompt in prompts]
        window = self.model.info.context_window
        return StrategyPrompts(prompts, prompts, tuple(f"Prompt · {n:,} of {window:,} tokens" for n in counts))

    def complete(self, prompts: tuple, settings: core.GenerationSettings,
                 on_update: Callable[[tuple[str, ...]], None]) -> list:
        """The three completions as one batch through the model's gate."""
        with widgets.model_wait("Generating the three completions as one batch…"):
            return prompting_cache.get_strategy_completions(widgets.model_key(), prompts, settings, _on_step=on_update)

    def answer_parts(self, completion: core.Completion) -> AnswerParts:
        """Token chips and the batch's timing."""
        return AnswerParts(completion.token_labels, completion.logprobs,
                           f"{len(completion.token_ids)} tokens · batch of 3 took {completion.seconds:.1f} s · "
                           f"stopped: {completion.finish_reason}")

    def after(self, columns: list, prompts: tuple, labels: tuple[str, ...], fmt: str) -> None:
        """Each label's probability after each prompt."""
        ranked_labels(columns, prompts, labels, fmt)

    def check_examples(self, inputs: TaskInputs) -> Examples:
        """The examples, checked against this model's token caps."""
        examples = prompting.check_examples(inputs.examples)
        prompting.check_token_caps(self.model.tokenizer, examples, None)
        return tuple(examples)

    def evaluation(self, inputs: TaskInputs, examples: Examples, items: pd.DataFrame,
                   settings: core.GenerationSettings) -> None:
        """Scoring modes, time estimate, a shared background run and its results."""
        prompting_eval_ui.local_evaluation(self.model, inputs, examples, items, settings)


@dataclass(frozen=True)
class Served:
    """A served model: plain prompts through the completions API, chat turns through the chat API."""

    backend: Backend

    def intro(self, inputs: TaskInputs) -> None:
        """Which model on which server answers, through which API."""
        st.caption(f"Answered by **{self.backend.label}** through its "
                   f"{remote.APIS[served_api(inputs.fmt)]} API.")

    def strategy_prompts(self, inputs: TaskInputs) -> StrategyPrompts:
        """The three prompts as the server receives them (checked like the in-process ones)."""
        prompts = remote_eval.strategy_requests(inputs.instruction, inputs.examples, inputs.query, inputs.few_k,
                                                served_api(inputs.fmt))
        return StrategyPrompts(tuple(prompts), tuple(map(_prompt_text, prompts)), ("Prompt",) * 3)

    def complete(self, prompts: tuple, settings: core.GenerationSettings,
                 on_update: Callable[[tuple[str, ...]], None]) -> list:
        """The three completions as three concurrent requests."""
        requests = tuple((prompt, settings, 0) for prompt in prompts)
        endpoint = self.backend.endpoint
        with st.spinner("Asking the server for the three completions at once…"):
            return served_cache.get_served_completions(endpoint.cache_id, self.backend.model, requests, endpoint,
                                                       _on_update=on_update)

    def answer_parts(self, completion) -> AnswerParts:
        """Token chips when the server sent log-probabilities, its prompt-token count and the time taken."""
        counted = f"{completion.prompt_tokens:,} prompt tokens (server's count) · " if completion.prompt_tokens else ""
        return AnswerParts(completion.token_texts, completion.logprobs,
                           f"{counted}took {completion.seconds:.1f} s · stopped: {completion.finish_reason}")

    def after(self, columns: list, prompts: tuple, labels: tuple[str, ...], fmt: str) -> None:
        """Nothing: ranking the labels here would need the weights or one request per label."""

    def check_examples(self, inputs: TaskInputs) -> Examples:
        """The examples, checked (a server's tokenizer is not at hand: the server counts tokens)."""
        return tuple(prompting.check_examples(inputs.examples))

    def evaluation(self, inputs: TaskInputs, examples: Examples, items: pd.DataFrame,
                   settings: core.GenerationSettings) -> None:
        """Many requests at once, with progress, cancel and resume."""
        remote_eval_ui.served_evaluation(self.backend, inputs, examples, items, settings)


def _prompt_text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n\n".join(f"[{role}]\n{text}" for role, text in prompt)


def for_page(served: Backend | None, model: core.LoadedModel | None) -> StrategyBackend:
    """The served backend when the sidebar chose one, else this app's model."""
    return Served(served) if served is not None else InProcess(model)
