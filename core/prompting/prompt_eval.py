"""Score prompt strategies over a labelled set: rank the labels or generate and match, per k and per order."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.generation import generate
from core.models import LoadedModel
from core.prompting import (
    Example,
    build_prompt,
    check_examples,
    check_label_caps,
    check_token_caps,
    eval_metrics,
    extract_answer,
    harness,
    label_scoring,
    normalize_label,
    prefix_generation,
)
from core.prompting.eval_report import Evaluation, score, summarise
from core.prompting.eval_request import (
    MODES,
    NORMALISATIONS,
    EvalRequest,
    Run,
    plan_runs,
    request_runs,
    scorable_items,
    scored_items,
)

__all__ = ["MODES", "NORMALISATIONS", "EvalRequest", "Evaluation", "Run", "evaluate", "plan_runs", "scorable_items",
           "score", "split_prompts"]

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]
MAX_PROMPTS = 2_000  # about half an hour of CPU when generating; beyond that, sample fewer
STRATEGIES = ("zero-shot", "one-shot", "few-shot")
MAX_KNOWN_PREFIXES = 8  # KV caches kept for reuse within one evaluation: ~8 MB each at 170 tokens on SmolLM2
GENERATE_BATCH = 12  # prompts per batched generate call: enough to amortise the weights read, small enough to stream


@dataclass(frozen=True)
class EvalContext:
    """What every run of one evaluation shares: model, request, scored items, labels and callbacks."""

    model: LoadedModel
    request: EvalRequest
    texts: tuple[str, ...]  # the scored items' texts
    gold: tuple[str, ...]  # their labels
    labels: tuple[str, ...]  # the labels to rank (label_choices)
    report: Progress
    should_stop: ShouldStop | None = None
    known: list[label_scoring.Prefix] = field(default_factory=list)  # prefixes computed so far, reused by later runs
    null: np.ndarray | None = None  # rank mode: (label,) log-likelihoods after a content-free prompt (PMI)


def label_choices(examples: Sequence[Example], gold: Sequence[str]) -> tuple[str, ...]:
    """The labels to rank: the examples' labels, then any other gold label, each spelling once."""
    seen: dict[str, str] = {}
    for label in [label for _, label in examples] + list(gold):
        seen.setdefault(normalize_label(label), label.strip())
    return tuple(seen.values())


def split_prompts(
    instruction: str, shots: Sequence[Example], queries: Sequence[str], fmt: str, tokenizer=None
) -> tuple[str, list[str]]:
    """(shared prefix, one suffix per query) with prefix + suffix == build_prompt(...) for each query.

    The prefix is what every prompt of this run shares, cut just before the whitespace that starts
    the query's own text ("…\\n\\nText:" | " query\\nLabel:"): a word never straddles the cut, so
    its tokens are normally a token-exact prefix too (the scorer checks, and falls back if not).
    """
    prompts = [build_prompt(instruction, shots, q, fmt, tokenizer, allow_empty=True) for q in queries]
    probes = [build_prompt(instruction, shots, q, fmt, tokenizer) for q in ("A", "B")]
    common = os.path.commonprefix([*probes, *prompts])
    cut = len(common)
    while cut > 0 and not (not common[cut - 1].isspace() and probes[0][cut].isspace()):
        cut -= 1
    return common[:cut], [p[cut:] for p in prompts]


def evaluate(model: LoadedModel, request: EvalRequest, progress: Progress | None = None,
             should_stop: ShouldStop | None = None) -> Evaluation:
    """Score every (item, run) and summarise; should_stop ends it early with the runs finished so far."""
    started = time.perf_counter()
    examples, scored, excluded, runs = _checked(model, request)
    labels = label_choices(examples, scored["label"])
    # Once per evaluation, as lm-evaluation-harness scores its unconditional requests once per choice.
    null = label_scoring.null_logprobs(model, labels, _delimiter(request.fmt)) if request.mode == "rank" else None
    context = EvalContext(model, request, tuple(scored["text"]), tuple(scored["label"]), labels,
              progress or (lambda fraction, message: None), should_stop, null=null)
    if request.mode == "generate" and not request.prefix_cache:
        rows, partial, tokens = _generate_whole_prompts(context, runs)
    else:
        rows, partial, tokens = _run_each(context, runs)
    influence = None
    if request.mode == "rank" and request.shot_influence and not partial:
        few = [r for r in rows if r["k"] == request.few_k and r["shuffle"] == 0]
        baseline = (float(np.mean([r["gold_logprob"] for r in few])), float(np.mean([r["correct"] for r in few])))
        influence, more = shot_influence(context, examples, baseline)
        tokens += more
        partial = influence is None
    context.report(1.0, "Scored" if not partial else "Stopped: showing the runs finished so far")
    return summarise(pd.DataFrame(rows), scored, request.few_k, labels, request.mode, excluded,
                     influence, partial, time.perf_counter() - started, tokens)


def _checked(model: LoadedModel, request: EvalRequest) -> tuple[list[Example], pd.DataFrame, int, list[Run]]:
    """(examples, scored items, excluded count, runs) after every check; ValueError names the problem."""
    if request.mode not in MODES or request.normalise not in NORMALISATIONS:
        raise ValueError(f"Unknown mode or normalisation; choose from {', '.join(MODES)} and "
                         f"{', '.join(NORMALISATIONS)}.")
    examples = check_examples(request.examples)
    check_token_caps(model.tokenizer, examples, None)
    scored, excluded = scored_items(request, examples)
    for row, text in enumerate(scored["text"], start=1):
        try:
            check_token_caps(model.tokenizer, [], text)
        except ValueError as error:
            raise ValueError(f"Labelled item {row}: {error}") from None
    check_label_caps(model.tokenizer, [("The labelled set", label) for label in label_choices([], scored["label"])])
    runs = _strategies_first(request_runs(request, examples), request.few_k)
    extra = request.few_k if request.mode == "rank" and request.shot_influence else 0
    needed = (len(runs) + extra) * len(scored)
    if needed > MAX_PROMPTS:
        raise ValueError(f"This evaluation needs {needed:,} prompts; the limit is {MAX_PROMPTS:,}. "
                         "Use fewer items, shot counts or shuffles.")
    return examples, scored, excluded, runs


def _strategies_first(runs: list[Run], few_k: int) -> list[Run]:
    """The three strategy columns (table order) first, so a stopped run still fills them."""
    first = {(0, 0), (1, 0), (few_k, 0)}
    return [r for r in runs if (r.k, r.shuffle) in first] + [r for r in runs if (r.k, r.shuffle) not in first]


def _run_each(context: EvalContext, runs: list[Run]) -> tuple[list[dict], bool, int]:
    """Every run with its own prefix computed once; rank or generate after it. Stops between batches."""
    rows, tokens = [], 0
    for number, run in enumerate(runs):
        def on_batch(done: int, total: int, number: int = number, run: Run = run) -> None:
            context.report((number + done / total) / len(runs), f"Run {number + 1} of {len(runs)} (k = {run.k}, "
                       f"order {run.shuffle + 1}): batch {done} of {total}")

        try:
            scorer = _rank_run if context.request.mode == "rank" else _generate_run
            new, used = scorer(context, run, on_batch)
        except label_scoring.Cancelled:
            return rows, True, tokens
        rows += new
        tokens += used
    return rows, False, tokens


def _remember(known: list, prefix: label_scoring.Prefix | None) -> None:
    """Keep a run's computed prefix for later runs (newest first, at most MAX_KNOWN_PREFIXES)."""
    if prefix is not None and len(prefix):
        known[:] = [prefix, *known][:MAX_KNOWN_PREFIXES]


def _rank_run(context: EvalContext, run: Run, on_batch: Callable[[int, int], None]) -> tuple[list[dict], int]:
    """One run in rank mode: a row per item with the labels' probabilities (calibrated for the strategies)."""
    request, labels = context.request, context.labels
    # Contextual calibration is reported per strategy: only those runs score the content-free inputs.
    calibrate = run.shuffle == 0 and run.k in (0, 1, request.few_k)
    queries = list(context.texts) + (list(eval_metrics.CONTENT_FREE) if calibrate else [])
    text, suffixes = split_prompts(request.instruction, run.shots, queries, request.fmt, context.model.tokenizer)
    # The prefix's new tokens run in the same forward as the first items (known: what earlier runs computed).
    scores = label_scoring.score_labels(context.model, text, suffixes, labels, delimiter=_delimiter(request.fmt),
                                        use_cache=request.prefix_cache, should_stop=context.should_stop,
                                        on_batch=on_batch, known=context.known)
    _remember(context.known, scores.prefix)
    probabilities = scores.probabilities(request.normalise)
    items = probabilities[: len(context.texts)]
    content_free = probabilities[len(context.texts):]
    calibrated = eval_metrics.contextual_calibration(items, content_free) if calibrate else items
    folded = [normalize_label(label) for label in labels]
    n = len(context.texts)
    rules = {rule: harness.predictions(rule, scores.logprob[:n], labels, n_tokens=scores.n_tokens[:n],
                                       unconditional=context.null) for rule in harness.RULES}
    rows = []
    for item, (label, p, q) in enumerate(zip(context.gold, items, calibrated)):
        choice, fixed, truth = int(np.argmax(p)), int(np.argmax(q)), folded.index(normalize_label(label))
        rows.append({"item": item, "k": run.k, "shuffle": run.shuffle, "answer": labels[choice], "label": label,
                     "predicted": labels[choice], "correct": choice == truth, "confidence": float(p[choice]),
                     "gold_logprob": float(scores.logprob[item, truth]),
                     "calibrated": labels[fixed] if calibrate else None,
                     "calibrated_correct": fixed == truth if calibrate else None, "cached": bool(scores.cached[item]),
                     **{f"p({name})": float(value) for name, value in zip(labels, p)},
                     **{f"logp({name})": float(value) for name, value in zip(labels, scores.logprob[item])},
                     **{f"{rule}_correct": bool(chosen[item] == truth) for rule, chosen in rules.items()}})
    return rows, scores.tokens_run


def _generate_run(context: EvalContext, run: Run, on_batch: Callable[[int, int], None]) -> tuple[list[dict], int]:
    """One run in generate mode: the shared prefix once, every item's completion matched to its label."""
    request, tokenizer = context.request, context.model.tokenizer
    prefix, suffixes = split_prompts(request.instruction, run.shots, context.texts, request.fmt, tokenizer)
    completions = prefix_generation.generate_after_prefix(context.model, prefix, suffixes, request.settings,
                                                          GENERATE_BATCH, should_stop=context.should_stop,
                                                          on_batch=on_batch)
    rows = [_generated_row(item, run, extract_answer(text), label)
            for item, (text, label) in enumerate(zip(completions, context.gold))]
    return rows, 0


def _generated_row(item: int, run: Run, answer: str, label: str) -> dict:
    return {"item": item, "k": run.k, "shuffle": run.shuffle, "answer": answer, "label": label,
            "correct": normalize_label(answer) == normalize_label(label)}


def _delimiter(fmt: str) -> str:
    # Plain shots read "Label: positive"; chat shots put the bare label in the assistant turn.
    return " " if fmt == "plain" else ""


def _generate_whole_prompts(context: EvalContext, runs: list[Run]) -> tuple[list[dict], bool, int]:
    """The original path: every full prompt generated, batches sorted by length across runs."""
    request = context.request
    jobs = [(run, i, build_prompt(request.instruction, run.shots, text, request.fmt, context.model.tokenizer))
            for run in runs for i, text in enumerate(context.texts)]
    unique = sorted({prompt for _, _, prompt in jobs}, key=len)  # similar lengths share a batch: less padding
    answers: dict[str, str] = {}
    for start in range(0, len(unique), GENERATE_BATCH):
        if context.should_stop is not None and context.should_stop():
            break
        context.report(start / len(unique), f"Prompts {start + 1:,}–{min(start + GENERATE_BATCH, len(unique)):,} "
                                        f"of {len(unique):,}")
        batch = unique[start : start + GENERATE_BATCH]
        for prompt, completion in zip(batch, generate(context.model, batch, request.settings)):
            answers[prompt] = extract_answer(completion.text)
    rows = [_generated_row(i, run, answers[prompt], context.gold[i]) for run, i, prompt in jobs if prompt in answers]
    counts = pd.Series([(r["k"], r["shuffle"]) for r in rows], dtype=object).value_counts()
    finished = {run for run, count in counts.items() if count == len(context.texts)}  # a partial run is not shown
    return [r for r in rows if (r["k"], r["shuffle"]) in finished], len(answers) < len(unique), 0


def shot_influence(context: EvalContext, examples: Sequence[Example],
                   baseline: tuple[float, float]) -> tuple[pd.DataFrame | None, int]:
    """Leave each few-shot shot out in turn: change in mean gold log-prob and accuracy (with − without).

    baseline: (mean gold log-prob, accuracy) of the few-shot run with every shot. Costs k prefix
    computations plus k passes of the suffixes, thanks to the prefix cache. None when stopped.
    """
    request, model, texts = context.request, context.model, list(context.texts)
    shots = tuple(examples[: request.few_k])
    folded = [normalize_label(label) for label in context.labels]
    truth = np.array([folded.index(normalize_label(label)) for label in context.gold])
    outcomes, tokens = [], 0
    full, _ = split_prompts(request.instruction, shots, texts[:1], request.fmt, model.tokenizer)
    # A left-out prompt shares the shots before its gap with the full few-shot prefix (normally
    # known already from the few-shot run: then this runs nothing).
    shared = [label_scoring.prefill(model, full, context.known)] if request.prefix_cache else []
    for left_out in range(len(shots)):
        kept = tuple(s for i, s in enumerate(shots) if i != left_out)
        text, suffixes = split_prompts(request.instruction, kept, texts, request.fmt, model.tokenizer)
        context.report(0.99, f"Which shot helped: leaving out shot {left_out + 1} of {len(shots)}")
        try:
            scores = label_scoring.score_labels(model, text, suffixes, context.labels, _delimiter(request.fmt),
                                                request.prefix_cache, should_stop=context.should_stop, known=shared)
        except label_scoring.Cancelled:
            return None, tokens
        tokens += scores.tokens_run
        chosen = scores.scores(request.normalise).argmax(axis=1)
        outcomes.append((scores.logprob[np.arange(len(texts)), truth].mean(), (chosen == truth).mean()))
    (base_logprob, base_accuracy), rest = baseline, outcomes
    return pd.DataFrame({
        "shot": np.arange(1, len(shots) + 1), "text": [t for t, _ in shots], "label": [label for _, label in shots],
        "delta_logprob": [base_logprob - lp for lp, _ in rest],
        "delta_accuracy": [base_accuracy - acc for _, acc in rest],
    }), tokens


def estimate_seconds(model: LoadedModel, request: EvalRequest, speed: prefix_generation.Throughput) -> float:
    """Seconds the evaluation should take at a measured speed: the tokens it will run, plus decoding steps.

    With the prefix cache a run costs its prefix once plus every suffix; without, every full prompt.
    Generating adds max_new_tokens steps per batch. ValueError when the request itself is invalid.
    """
    examples = check_examples(request.examples)
    scored, _ = scorable_items(pd.DataFrame(list(request.items), columns=["text", "label"]), examples)
    runs = request_runs(request, examples)
    if request.mode == "rank" and request.shot_influence:
        runs += [Run(request.few_k - 1, 0, examples[: request.few_k - 1])] * request.few_k
    queries = list(scored["text"]) + (list(eval_metrics.CONTENT_FREE) if request.mode == "rank" else [])
    tokens = sum(_run_tokens(model.tokenizer, request, run, queries) for run in runs)  # a little over: see _rank_run
    steps = 0
    if request.mode == "generate":
        steps = -(-len(runs) * len(scored) // GENERATE_BATCH) * request.settings.max_new_tokens
    return tokens / speed.tokens_per_second + steps * speed.seconds_per_step


def _run_tokens(tokenizer, request: EvalRequest, run: Run, queries: list[str]) -> int:
    prefix, suffixes = split_prompts(request.instruction, run.shots, queries, request.fmt, tokenizer)
    count = [len(ids) for ids in tokenizer([prefix or " ", *suffixes])["input_ids"]]
    if request.prefix_cache:
        return count[0] + sum(count[1:])
    return count[0] * len(suffixes) + sum(count[1:])
