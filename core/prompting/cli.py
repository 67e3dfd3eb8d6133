"""`llm-lens eval EXPERIMENT.json`: the page's evaluation from a terminal or CI, with intervals and exit codes.

Exit codes: 0 every gate passed, 1 a gate failed (a --fail-under threshold, or significantly worse
than --baseline), 2 bad input (one line on stderr), 3 the run could not finish (a served endpoint
failed mid-run, or Ctrl-C): the partial results are still written.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.prompting import eval_summary

PASS, GATE_FAILED, BAD_INPUT, UNFINISHED = 0, 1, 2, 3
# Model-side modules (torch, transformers, openai) are imported inside the functions that need them:
# --help and a bad input answer in a second instead of after torch's import.


class BadInput(ValueError):
    """A problem with what the user passed (exit code 2)."""


@dataclass
class Outcome:
    """What a run produced: the evaluation (None if nothing was scored) and why it stopped early."""

    evaluation: object | None
    stopped: str | None  # None when it finished
    repeats: object | None = None  # eval_repeats.Repeats when --repeats > 1


def parser() -> argparse.ArgumentParser:
    """The command line: llm-lens eval EXPERIMENT.json [options]."""
    top = argparse.ArgumentParser(prog="llm-lens", description="LLM Lens from the command line.")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("eval", help="Score an experiment saved by the Prompt strategies page.",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("experiment", help="the JSON the page's 'Download experiment' writes (or a summary)")
    run.add_argument("--model", help="bundled model name or local folder (default: LLM_LENS_MODEL, "
                                     "else the experiment's model, else the bundled SmolLM2)")
    run.add_argument("--endpoint", help="a served endpoint configured in LLM_LENS_ENDPOINTS (by name)")
    run.add_argument("--served-model", help="the model name on the endpoint (default: its first)")
    run.add_argument("--out", default="llm-lens-eval", help="folder for items.jsonl and summary.json")
    run.add_argument("--fail-under", action="append", default=[], metavar="METRIC=X",
                     help="fail (exit 1) when METRIC (accuracy, macro_f1, calibrated_accuracy) is below X")
    run.add_argument("--strategy", default="few", help="the strategy --fail-under checks: zero, one or few")
    run.add_argument("--baseline", help="a summary.json of an earlier run: fail when significantly worse")
    run.add_argument("--repeats", type=int, default=1, help="generate-and-match with sampling: run N times "
                                                            "(seeds seed..seed+N-1) and report unstable items")
    return top


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None) -> int:
    """Run the command; returns the exit code (console script: sys.exit(main()))."""
    args = parser().parse_args(argv)
    stop = stop or threading.Event()
    try:
        experiment, request, gates, baseline = _inputs(args)
        outcome = _run(args, request, stop, experiment)
    except (BadInput, ValueError, OSError) as error:
        _say(f"llm-lens: {error}", err=True)
        return BAD_INPUT
    return _finish(args, experiment, request, outcome, gates, baseline)


def _inputs(args) -> tuple[dict, object, list, dict | None]:
    """(experiment, request, gates, baseline summary) or BadInput naming the problem."""
    from core.prompting import eval_repeats, eval_request

    experiment = _read_experiment(args.experiment, "experiment")
    request = eval_request.request_from_experiment(experiment)
    eval_repeats.check_repeats(request, args.repeats)
    if args.repeats > 1 and args.endpoint:
        raise BadInput("--repeats runs on this machine's model only, not on a served endpoint.")
    gates = [eval_summary.parse_gate(rule, args.strategy) for rule in args.fail_under]
    eval_summary.resolve_strategy(args.strategy, request.few_k)  # an unknown strategy fails before any work
    baseline = None
    if args.baseline:
        baseline = _read_experiment(args.baseline, "baseline")
        eval_summary.baseline_results(baseline)
    return experiment, request, gates, baseline


def _read_experiment(path: str, what: str) -> dict:
    from core import prompting

    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise BadInput(f"Cannot read the {what} file {path}: {error.strerror}.") from None
    try:
        return prompting.experiment_from_json(data)
    except ValueError as error:
        raise BadInput(f"The {what} file {path} is not usable: {error}") from None


def _run(args, request, stop: threading.Event, experiment: dict) -> Outcome:
    """Score the request in-process or on the endpoint; Ctrl-C sets stop and keeps what finished."""
    progress = Progress(sys.stderr.isatty())
    previous = _on_interrupt(stop)
    try:
        if args.endpoint:
            return _run_served(args, request, stop, progress)
        return _run_local(args, request, stop, progress, experiment)
    finally:
        progress.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _on_interrupt(stop: threading.Event):
    """Ctrl-C asks the run to stop after its current batch (the results so far are written)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame) -> None:
        stop.set()
        _say("llm-lens: interrupted; stopping after the current batch and writing the results so far.", err=True)

    return signal.signal(signal.SIGINT, handler)


def _run_local(args, request, stop: threading.Event, progress, experiment: dict) -> Outcome:
    from core import models
    from core.prompting import eval_repeats, prompt_eval

    name = args.model or os.environ.get("LLM_LENS_MODEL") or _bundled(experiment) or models.DEFAULT_MODEL
    progress.line(f"Loading {name}…")
    model = models.load_model(name)
    if args.repeats > 1:
        repeats = eval_repeats.run_repeats(lambda r: prompt_eval.evaluate(model, r, progress.update, stop.is_set),
                                           request, args.repeats)
        evaluation = repeats.evaluations[-1]
        stopped = "interrupted" if evaluation.partial and stop.is_set() else None
        return Outcome(repeats.evaluations[0] if not stopped else evaluation, stopped, repeats)
    evaluation = prompt_eval.evaluate(model, request, progress.update, stop.is_set)
    return Outcome(evaluation, "interrupted" if evaluation.partial and stop.is_set() else None)


def _bundled(experiment: dict) -> str | None:
    """The experiment's model when it is a bundled one (a folder saved on another machine is not used)."""
    from core import models

    name = experiment.get("model")
    return name if name in models.BUNDLED else None


def _run_served(args, request, stop: threading.Event, progress) -> Outcome:
    from core.served import remote, remote_eval

    endpoints = remote.configured_endpoints()
    if args.endpoint not in endpoints:
        raise BadInput(f"Unknown endpoint {args.endpoint!r}; configured: {', '.join(endpoints) or 'none'} "
                       "(set LLM_LENS_ENDPOINTS).")
    endpoint = endpoints[args.endpoint]
    try:
        served_model = args.served_model or next(iter(remote.list_models(endpoint)), None)
    except remote.RemoteError as error:  # unreachable: the run cannot start, which is not the user's input
        return Outcome(None, str(error))
    if served_model is None:
        raise BadInput(f"The endpoint {args.endpoint} lists no model; pass --served-model.")
    result = remote_eval.evaluate(endpoint, served_model, request, {}, progress.update, stop)
    stopped = result.error or ("interrupted" if result.cancelled else None)
    return Outcome(result.evaluation, stopped)


def _finish(args, experiment: dict, request, outcome: Outcome, gates, baseline) -> int:
    """Write items.jsonl and summary.json, print the verdicts, and choose the exit code."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluation = outcome.evaluation
    if evaluation is None:
        _say(f"llm-lens: the run stopped before any item was scored ({outcome.stopped}); nothing to write.", err=True)
        return UNFINISHED
    checked = eval_summary.check_gates(evaluation, gates, request.few_k)
    versus = eval_summary.versus_baseline(evaluation, baseline) if baseline else []
    run = {"backend": args.endpoint or "in-process", "stopped": outcome.stopped}
    summary = eval_summary.build_summary(experiment, evaluation, run, checked, versus)
    if outcome.repeats is not None:
        summary["summary"]["repeats"] = eval_summary.repeats_dict(outcome.repeats)
    eval_summary.write_items(out / "items.jsonl", evaluation, request.few_k)
    eval_summary.write_summary(out / "summary.json", summary)
    _report(summary, out)
    if outcome.stopped or evaluation.partial:
        _say(f"llm-lens: the run could not finish ({outcome.stopped or 'stopped'}); partial results written "
             f"to {out}.", err=True)
        return UNFINISHED
    failed = [g for g in checked if not g["passed"]] + [b for b in versus if b.get("worse")]
    return GATE_FAILED if failed else PASS


def _report(summary: dict, out: Path) -> None:
    """Plain lines: each strategy's figures with intervals, the paired verdicts, the gates."""
    body = summary["summary"]
    for name, entry in body["strategies"].items():
        accuracy = entry["accuracy"]
        _say(f"{name}: accuracy {accuracy['value']:.1%} (95% CI {accuracy['low']:.1%}–{accuracy['high']:.1%}), "
             f"{entry['correct']}/{entry['scored']}")
    for pair in body["paired"]:
        _say(pair["sentence"])
    for gate in body["gates"]:
        seen = "missing" if gate["value"] is None else f"{gate['value']:.3f}"
        _say(f"{'PASS' if gate['passed'] else 'FAIL'} {gate['metric']} of {gate['strategy']}: {seen} "
             f"(threshold {gate['threshold']:.3f})")
    if "repeats" in body:
        for row in body["repeats"]["spread"]:
            _say(f"{row['strategy']} over {len(body['repeats']['seeds'])} repeats: accuracy {row['mean']:.1%} "
                 f"(min {row['min']:.1%}, max {row['max']:.1%}, std {row['std']:.3f})")
        _say(f"{len(body['repeats']['unstable'])} answers changed between repeats (see summary.json).")
    for row in body["baseline"]:
        verdict = row.get("skipped") or row["sentence"]
        _say(f"{'WORSE' if row.get('worse') else 'ok'} vs baseline, {row['strategy']}: {verdict}")
    _say(f"Wrote {out / 'items.jsonl'} and {out / 'summary.json'} ({body['seconds']:.1f} s).")


class Progress:
    """A one-line bar on a terminal; otherwise a plain line whenever the message changes."""

    def __init__(self, tty: bool, write: Callable[[str], object] = sys.stderr.write) -> None:
        self.tty, self.write, self.last, self.started = tty, write, "", time.perf_counter()

    def update(self, fraction: float, message: str) -> None:
        """Called by the evaluation after each batch."""
        if self.tty:
            filled = int(30 * min(max(fraction, 0.0), 1.0))
            self.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {message[:60]:<60}")
        elif message != self.last:
            self.write(f"{time.perf_counter() - self.started:7.1f}s {fraction:4.0%} {message}\n")
        self.last = message

    def line(self, message: str) -> None:
        """A line of its own (model loading)."""
        self.write(message + "\n")

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and self.last:
            self.write("\n")


def _say(message: str, err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout, flush=True)


def entry() -> None:
    """Console script `llm-lens`."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
