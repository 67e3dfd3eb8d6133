"""Prompt strategies on a served model: the same prompts, runs and predictions table as the in-process evaluation."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

import openai
import pandas as pd

from core.prompting import (
    Example,
    build_prompt,
    check_examples,
    extract_answer,
    normalize_label,
    prompt_eval,
    strategy_prompts,
)
from core.prompting.eval_request import MODES, EvalRequest, request_runs, scored_items, served_api
from core.sampling import GenerationSettings
from core.served import remote, remote_calls, remote_run, served_lora
from core.served.remote import Endpoint, RemoteError
from core.served.remote_calls import Prompt, ServedCompletion

MAX_REQUESTS = 20_000  # a served evaluation's cap: hours on a small server, minutes on a GPU one


@dataclass(frozen=True)
class ServedEvaluation:
    """An evaluation through a server; `evaluation` covers the items whose every prompt was answered."""

    evaluation: prompt_eval.Evaluation | None  # None when no item is complete yet
    answered: int  # requests answered
    requests: int  # requests needed
    items_done: int
    items_total: int
    cancelled: bool
    error: str | None  # why it stopped early, for the page to show; results so far are kept


def chat_messages(instruction: str, examples: Sequence[Example], query: str) -> tuple[tuple[str, str], ...]:
    """The chat turns of build_prompt(..., fmt="chat"): instruction as system, each shot a user/assistant pair."""
    if not query.strip():
        raise ValueError("The query is empty: type a text to classify.")
    turns = [("system", instruction.strip())] if instruction.strip() else []
    for text, label in examples:
        turns += [("user", f"Text: {text}"), ("assistant", label)]
    return (*turns, ("user", f"Text: {query}"))


def served_prompt(instruction: str, shots: Sequence[Example], query: str, api: str) -> Prompt:
    """A completion prompt (api "completions", the plain format) or chat turns (api "chat")."""
    if api == "chat":
        return chat_messages(instruction, shots, query)
    if api == "completions":
        return build_prompt(instruction, shots, query, "plain")
    raise ValueError(f"Unknown API '{api}'; choose one of: {', '.join(remote.APIS)}.")


def strategy_requests(instruction: str, examples: Sequence[Example], query: str, few_k: int,
                      api: str) -> tuple[Prompt, Prompt, Prompt]:
    """The zero-, one- and few-shot prompts for one query, checked like the in-process ones."""
    strategy_prompts(instruction, examples, query, few_k, "plain")  # same validation, same messages
    shots = check_examples(examples)
    return tuple(served_prompt(instruction, shots[:k], query, api) for k in (0, 1, few_k))


def compare(endpoint: Endpoint, model: str, requests: Sequence[tuple[Prompt, GenerationSettings, int]],
            on_update: Callable[[tuple[str, ...]], None]) -> list[ServedCompletion]:
    """Stream (prompt, settings, row) completions side by side, one request each, all at once.

    row offsets a sampling seed, like sample i of an in-process batch.
    """
    api = remote.client(endpoint)

    def call(prompt: Prompt, settings: GenerationSettings, row: int) -> Callable:
        return lambda emit: remote_calls.complete(api, model, prompt, settings, row, on_text=emit)

    try:
        return remote_run.stream_all([call(*request) for request in requests], on_update)
    except Exception as error:
        raise _explained(error, endpoint, model, "the completions") from None


def _explained(error: Exception, endpoint: Endpoint, model: str, what: str) -> RemoteError:
    """explain(), but a refused request first checks the model name against the server's list."""
    if isinstance(error, openai.BadRequestError | openai.NotFoundError):
        try:
            remote.check_model(endpoint, model, remote.list_models(endpoint))
        except RemoteError as wrong_model:
            return wrong_model
    return remote.explain(error, endpoint, what)


def plan(request: EvalRequest) -> tuple[pd.DataFrame, int, list[tuple[int, int, Prompt]], list]:
    """(scored items, excluded, jobs (run, item, prompt), tasks) where tasks are the requests to send.

    Jobs go item by item, so a run stopped early leaves whole items answered. The plain format goes
    through the completions API, chat through the chat API. Rank mode sends one request per
    (prompt, label) and needs the completions API (chat has no echo).
    """
    examples = check_examples(request.examples)
    scored, excluded = scored_items(request, examples)
    api, runs = served_api(request.fmt), request_runs(request, examples)
    jobs = [(r, i, served_prompt(request.instruction, run.shots, text, api))
            for i, text in enumerate(scored["text"]) for r, run in enumerate(runs)]
    prompts = list(dict.fromkeys(prompt for _, _, prompt in jobs))
    if request.mode == "rank":
        if api != "completions":
            raise ValueError("Ranking the labels needs the completions API (the chat API has no echo).")
        tasks = [(prompt, label) for prompt in prompts for label in candidate_labels(request)]
    elif request.mode == "generate":
        tasks = prompts
    else:
        raise ValueError(f"Unknown mode '{request.mode}'; choose one of: {', '.join(MODES)}.")
    if len(tasks) > MAX_REQUESTS:
        raise ValueError(f"This evaluation needs {len(tasks):,} requests; the limit is {MAX_REQUESTS:,}. "
                         "Use fewer items, shot counts or shuffles.")
    return scored, excluded, jobs, tasks


def candidate_labels(request: EvalRequest) -> list[str]:
    """The labels to rank: every label of the shots and of the set, once each (after normalising)."""
    labels = {}
    for _, label in (*request.examples, *request.items):
        labels.setdefault(normalize_label(label), label.strip())
    return sorted(labels.values())


def evaluate(endpoint: Endpoint, model: str, request: EvalRequest, answers: MutableMapping,
             progress: remote_run.Progress | None = None, cancel: threading.Event | None = None) -> ServedEvaluation:
    """Send every request (bounded concurrency, retries), then score whatever items are fully answered.

    answers holds results by task and survives a cancel or a failure, so running again resumes.
    """
    tasks = plan(request)[3]
    try:
        concurrency = served_lora.preflight(endpoint, model, request.mode)
    except RemoteError as error:  # nothing sent: the answers so far stay as they are
        return summarize(request, answers, error=str(error))
    api = remote.client(endpoint)
    if request.mode == "rank":
        call = lambda task: remote_calls.label_logprob(api, model, task[0], " " + task[1])  # noqa: E731
    else:
        call = lambda prompt: extract_answer(remote_calls.complete(api, model, prompt, request.settings).text)  # noqa: E731
    outcome = remote_run.run_all(tasks, call, answers, concurrency, progress, cancel)
    error = None if outcome.error is None else str(_explained(outcome.error, endpoint, model, "an evaluation request"))
    return summarize(request, answers, outcome.cancelled, error)


def summarize(request: EvalRequest, answers: MutableMapping, cancelled: bool = False,
              error: str | None = None) -> ServedEvaluation:
    """Score the items whose every request is answered (no request is sent)."""
    scored, excluded, jobs, tasks = plan(request)
    predicted = _predicted(request, jobs, answers)
    missing = {i for r, i, _ in jobs if (r, i) not in predicted}
    done_items = [i for i in range(len(scored)) if i not in missing]
    evaluation = _score(request, scored, excluded, jobs, predicted, done_items) if done_items else None
    answered = sum(task in answers for task in tasks)
    return ServedEvaluation(evaluation, answered, len(tasks), len(done_items), len(scored), cancelled, error)


def _predicted(request: EvalRequest, jobs, answers: MutableMapping) -> dict[tuple[int, int], str]:
    """(run, item) → answer for every job whose requests are all answered."""
    labels = candidate_labels(request) if request.mode == "rank" else []
    predicted = {}
    for r, i, prompt in jobs:
        if request.mode == "rank":
            scores = [answers.get((prompt, label)) for label in labels]
            if all(s is not None for s in scores):
                predicted[(r, i)] = labels[max(range(len(labels)), key=scores.__getitem__)]
        elif prompt in answers:
            predicted[(r, i)] = answers[prompt]
    return predicted


def _score(request: EvalRequest, scored: pd.DataFrame, excluded: int, jobs, predicted: dict,
           done_items: list[int]) -> prompt_eval.Evaluation:
    runs = request_runs(request, check_examples(request.examples))
    renumber = {old: new for new, old in enumerate(done_items)}
    rows = [(renumber[i], runs[r].k, runs[r].shuffle, predicted[(r, i)], scored["label"][i])
            for r, i, _ in jobs if i in renumber]
    predictions = pd.DataFrame(rows, columns=["item", "k", "shuffle", "answer", "label"])
    predictions["correct"] = predictions["answer"].map(normalize_label) == predictions["label"].map(normalize_label)
    items = scored.loc[done_items].reset_index(drop=True)
    return prompt_eval.score(predictions, items, request.few_k, excluded)
