"""Served vs in-process evaluation throughput on the bundled model (needs the transformers `serving` extra).

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/remote.py [--items N] [--concurrency C]`. It starts
`transformers serve` on 127.0.0.1 with the bundled model's safetensors copy, scores the sentiment
preset with the Prompt strategies page's settings both ways, and prints predictions per second and
the ratio served / in-process (measured in the same run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "served"))

from remote_kit import start_server, stop_server  # noqa: E402

import core  # noqa: E402
from core import prompting  # noqa: E402
from core.prompting import prompt_eval  # noqa: E402
from core.served import remote_eval  # noqa: E402
from core.served.remote import Endpoint  # noqa: E402

SETTINGS = core.GenerationSettings(max_new_tokens=5, stop=("\n",))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    task = prompting.PRESETS["Movie-review sentiment"]
    items = prompting.load_eval_set(task).head(args.items)
    pairs = tuple(map(tuple, items[["text", "label"]].values.tolist()))
    request = prompt_eval.EvalRequest(task.instruction, task.examples, pairs, SETTINGS, task.few_k,
                                      tuple(task.sweep), mode="generate")  # one request for both backends
    model = core.load_model(core.models.DEFAULT_MODEL)
    start = time.perf_counter()
    local = prompt_eval.evaluate(model, request)
    local_rate = len(local.predictions) / (time.perf_counter() - start)
    del model
    process, base, served_model = start_server(Path(tempfile.mkdtemp()) / "serve.log")
    try:
        start = time.perf_counter()
        served = remote_eval.evaluate(Endpoint("bench", base, concurrency=args.concurrency), served_model,
                                      request, {})
        served_rate = served.answered / (time.perf_counter() - start)
    finally:
        stop_server(process)
    same = list(served.evaluation.strategies["accuracy"]) == list(local.strategies["accuracy"])
    print(f"evaluation in-process (batches of 12): {local_rate:.2f} predictions/s")
    print(f"evaluation via transformers serve (concurrency {args.concurrency}): {served_rate:.2f} predictions/s "
          f"= {served_rate / local_rate:.2f}x in-process; same accuracies: {same}")


if __name__ == "__main__":
    main()
