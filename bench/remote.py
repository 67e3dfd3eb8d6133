"""Served vs in-process evaluation throughput on the bundled model: vLLM (its own venv) or `transformers serve`.

Run: `make vllm-venv`, then `HF_HUB_OFFLINE=1 .venv/bin/python bench/remote.py [--items N] [--concurrency C]
[--engine vllm|transformers] [--modes rank,generate]`. It scores the sentiment preset (its sweep of shot
counts) in-process first, then starts the server on 127.0.0.1 with the bundled model's safetensors copy
and scores it again through it, and prints predictions per second both ways and the ratio served /
in-process, measured in the same run, and whether every prediction is the same.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "served"))
sys.path.insert(0, str(ROOT / "tests" / "vllm"))

import vllm_kit  # noqa: E402
from remote_kit import model_folder, start_server, stop_server  # noqa: E402

import core  # noqa: E402
from core import prompting  # noqa: E402
from core.prompting import prompt_eval  # noqa: E402
from core.served import remote_eval  # noqa: E402
from core.served.remote import Endpoint  # noqa: E402

SETTINGS = core.GenerationSettings(max_new_tokens=5, stop=("\n",))  # the Prompt strategies page's settings


def in_process(task: prompting.Task, pairs, modes: list[str]) -> dict[str, tuple[float, list]]:
    """mode → (predictions per second, answers in (k, item) order) with the app's own evaluation."""
    model = core.load_model(core.models.DEFAULT_MODEL)
    rates = {}
    for mode in modes:
        request = prompt_eval.EvalRequest(task.instruction, task.examples, pairs, SETTINGS, task.few_k,
                                          ks=tuple(task.sweep), mode=mode, shot_influence=False)
        start = time.perf_counter()
        result = prompt_eval.evaluate(model, request)
        rates[mode] = (len(result.predictions) / (time.perf_counter() - start), _answers(result))
    del model
    gc.collect()
    return rates


def served(base: str, model: str, task: prompting.Task, pairs, modes: list[str], concurrency: int) -> dict:
    """mode → (predictions per second, answers) through the server, `concurrency` requests in flight."""
    rates = {}
    for mode in modes:
        request = remote_eval.EvalRequest(task.instruction, task.examples, pairs, SETTINGS, task.few_k,
                                          tuple(task.sweep), 1, "completions", 0, mode)
        start = time.perf_counter()
        result = remote_eval.evaluate(Endpoint("bench", base, concurrency=concurrency), model, request, {})
        if result.error:
            raise SystemExit(f"{mode}: {result.error}")
        rates[mode] = (len(result.evaluation.predictions) / (time.perf_counter() - start), _answers(result.evaluation))
    return rates


def _answers(evaluation) -> list:
    table = evaluation.predictions.sort_values(["k", "item"])
    return table["answer"].map(prompting.normalize_label).tolist()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--engine", choices=["vllm", "transformers"], default="vllm")
    parser.add_argument("--modes", default="rank,generate")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if args.engine == "transformers" and "rank" in modes:
        modes.remove("rank")  # transformers serve returns no log-probabilities
    task = prompting.PRESETS["Movie-review sentiment"]
    pairs = tuple(map(tuple, prompting.load_eval_set(task).head(args.items)[["text", "label"]].values.tolist()))
    local = in_process(task, pairs, modes)
    scratch = Path(tempfile.mkdtemp(prefix="llm-lens-bench-"))
    if args.engine == "vllm":
        server = vllm_kit.start(model_folder(), scratch)
        process, base, model = server.process, server.base_url, server.model
    else:
        process, base, model = start_server(scratch / "serve.log")
    try:
        remote = served(base, model, task, pairs, modes, args.concurrency)
    finally:
        vllm_kit.stop(process) if args.engine == "vllm" else stop_server(process)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"sentiment preset, {len(pairs)} items, shot counts {task.sweep}; {args.engine}, "
          f"{args.concurrency} in flight")
    for mode in modes:
        (here, here_answers), (there, there_answers) = local[mode], remote[mode]
        print(f"{mode:>8}: in-process {here:.2f} predictions/s, served {there:.2f} predictions/s "
              f"= {there / here:.2f}x; same predictions: {here_answers == there_answers}")


if __name__ == "__main__":
    main()
