"""`llm-lens eval` end to end on the tiny model: files written, every exit code, the page's round trip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from core import prompting
from core.prompting import cli, eval_summary
from core.prompting.eval_request import EvalRequest, experiment_record
from core.sampling import GenerationSettings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"), ("Dull", "negative"))
ITEMS = (("so good", "positive"), ("bad film", "negative"), ("meh", "negative"), ("wow", "positive"),
         ("awful plot", "negative"), ("superb cast", "positive"))


def _experiment(tmp_path: Path, name: str = "experiment.json", **changes) -> Path:
    """An experiment file exactly as the page's 'Download experiment' writes it."""
    request = EvalRequest("Classify the sentiment.", EXAMPLES, ITEMS, GenerationSettings(max_new_tokens=3),
                          few_k=2, ks=(0, 1, 2), shuffles=1)
    record = experiment_record(request, "tiny", None, "so good") | changes
    path = tmp_path / name
    path.write_text(prompting.experiment_to_json(record), encoding="utf-8")
    return path


def _cli(args: list[str], model: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLM_LENS_MODEL": str(model), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core.prompting.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_passing_run_writes_items_and_a_summary_the_page_loads(tiny_llama_path, tmp_path):
    experiment = _experiment(tmp_path)
    done = _cli(["eval", str(experiment), "--out", str(tmp_path / "out"), "--fail-under", "accuracy=0.0"],
                tiny_llama_path, tmp_path)
    assert done.returncode == cli.PASS, done.stderr
    lines = [json.loads(line) for line in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    assert len(lines) == 3 * len(ITEMS)  # k = 0, 1, 2 in table order
    first = lines[0]
    assert set(first["probability"]) == {"positive", "negative"} == set(first["logprob"])
    assert sum(first["probability"].values()) == pytest.approx(1.0)
    assert first["correct"] == (first["prediction"] == first["gold"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    few = summary["summary"]["strategies"]["few-shot (k=2)"]
    assert few["accuracy"]["low"] <= few["accuracy"]["value"] <= few["accuracy"]["high"]
    assert {"macro_f1", "ece"} <= set(few)
    assert len(summary["summary"]["paired"]) == 3 and "PASS accuracy of few-shot (k=2)" in done.stdout
    assert "items.jsonl" in done.stdout and "%" in done.stderr  # progress as plain lines (not a terminal)
    # Round trip: the summary is an experiment the page loads, with its results and the same request.
    loaded = prompting.experiment_from_json((tmp_path / "out" / "summary.json").read_bytes())
    original = prompting.experiment_from_json(experiment.read_bytes())
    assert {k: loaded[k] for k in ("instruction", "examples", "items", "few_k", "mode")} == {
        k: original[k] for k in ("instruction", "examples", "items", "few_k", "mode")}
    assert [row["strategy"] for row in loaded["results"]["strategies"]] == list(summary["summary"]["strategies"])


def test_a_threshold_above_the_score_fails_the_gate_and_a_baseline_compares(tiny_llama_path, tmp_path):
    first = _cli(["eval", str(_experiment(tmp_path)), "--out", str(tmp_path / "a")], tiny_llama_path, tmp_path)
    assert first.returncode == cli.PASS, first.stderr
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    zero = summary["summary"]["strategies"]["zero-shot"]["accuracy"]["value"]
    assert zero < 1.0  # the tiny random model cannot be perfect, so this gate must fail
    done = _cli(["eval", str(_experiment(tmp_path)), "--out", str(tmp_path / "b"), "--fail-under",
                 f"accuracy={min(zero + 0.01, 1.0)}", "--strategy", "zero", "--baseline",
                 str(tmp_path / "a" / "summary.json")], tiny_llama_path, tmp_path)
    assert done.returncode == cli.GATE_FAILED, done.stderr
    assert "FAIL accuracy of zero-shot" in done.stdout
    baseline = json.loads((tmp_path / "b" / "summary.json").read_text())["summary"]["baseline"]
    assert [row["only_a"] + row["only_b"] for row in baseline] == [0, 0, 0]  # same model, same items: no change
    assert not any(row["worse"] for row in baseline)


@pytest.mark.parametrize("args, message", [
    (["--fail-under", "accuracy=1.5"], "must be between 0 and 1"),
    (["--fail-under", "speed=0.5"], "METRIC one of accuracy, macro_f1"),
    (["--fail-under", "accuracy=0.5", "--strategy", "best"], "Unknown strategy 'best'"),
    (["--baseline", "missing.json"], "Cannot read the baseline file"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    code = cli.main(["eval", str(_experiment(tmp_path)), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip()
    assert code == cli.BAD_INPUT and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing ran, nothing half-written


@pytest.mark.parametrize("body, message", [
    ("{not json", "is not valid JSON"),
    (json.dumps({"version": 1, "instruction": "x", "examples": [], "query": "q", "format": "plain",
                 "few_k": 0}), "few_k must be between 1"),
    (json.dumps([1, 2]), "not an LLM Lens experiment"),
])
def test_a_malformed_experiment_or_baseline_exits_2(tmp_path, capsys, body, message):
    bad = tmp_path / "bad.json"
    bad.write_text(body)
    assert cli.main(["eval", str(bad)]) == cli.BAD_INPUT
    assert message in capsys.readouterr().err
    good = _experiment(tmp_path)
    assert cli.main(["eval", str(good), "--baseline", str(bad)]) == cli.BAD_INPUT
    assert "baseline file" in capsys.readouterr().err
    assert cli.main(["eval", str(good), "--baseline", str(good)]) == cli.BAD_INPUT  # no results to compare with
    assert "no per-item results" in capsys.readouterr().err


class StopAfter(threading.Event):
    """A stop flag that turns on after its n-th look: the run stops part-way, as after Ctrl-C."""

    def __init__(self, looks: int) -> None:
        super().__init__()
        self.looks = looks

    def is_set(self) -> bool:
        self.looks -= 1
        return self.looks < 0 or super().is_set()


def test_a_run_stopped_part_way_writes_what_finished_and_exits_3(tiny_llama_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_llama_path))
    code = cli.main(["eval", str(_experiment(tmp_path)), "--out", str(tmp_path / "out")], stop=StopAfter(1))
    assert code == cli.UNFINISHED and "could not finish" in capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["summary"]["partial"] and summary["results"]["partial"]
    assert 0 < summary["summary"]["predictions"] < 3 * len(ITEMS)
    assert prompting.experiment_from_json((tmp_path / "out" / "summary.json").read_bytes())["results"]


def test_ctrl_c_writes_partial_results_and_exits_3(tiny_llama_path, tmp_path):
    env = {**os.environ, "LLM_LENS_MODEL": str(tiny_llama_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "core.prompting.cli", "eval", str(_experiment(tmp_path)),
                                "--out", str(tmp_path / "out")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline().startswith("Loading")  # printed once the Ctrl-C handler is in place
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == cli.UNFINISHED, err
    assert "interrupted" in err and (tmp_path / "out" / "summary.json").exists()
    assert (tmp_path / "out" / "items.jsonl").exists()


def test_a_served_endpoint_failing_mid_run_keeps_the_answered_items(tmp_path, monkeypatch, capsys):
    from served.remote_kit import Stub, logprob_answer

    class DiesAfter(Stub):
        answered = 0

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            DiesAfter.answered += 1
            if DiesAfter.answered > 12:  # 2 labels × 3 runs × 2 items, then the server breaks
                return self._send(400, '{"error": {"message": "model unloaded"}}')
            self._send(200, json.dumps(logprob_answer(body)))

    server = ThreadingHTTPServer(("127.0.0.1", 0), DiesAfter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setenv("LLM_LENS_ENDPOINTS", json.dumps({"stub": {"base_url": url, "concurrency": 1}}))
        code = cli.main(["eval", str(_experiment(tmp_path)), "--out", str(tmp_path / "out"), "--endpoint", "stub",
                         "--served-model", "logprobs"])
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert code == cli.UNFINISHED and "model unloaded" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["summary"]["strategies"]["zero-shot"]["scored"] == 2  # the two items fully answered


def test_an_unreachable_endpoint_is_a_run_that_could_not_finish(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as sock:  # a port nothing listens on once this block closes it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LLM_LENS_ENDPOINTS", json.dumps({"gone": f"http://127.0.0.1:{port}/v1"}))
    code = cli.main(["eval", str(_experiment(tmp_path)), "--out", str(tmp_path / "out"), "--endpoint", "gone"])
    err = capsys.readouterr().err
    assert code == cli.UNFINISHED and "before any item was scored" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["eval", str(_experiment(tmp_path)), "--endpoint", "nowhere"]) == cli.BAD_INPUT
    assert "Unknown endpoint 'nowhere'; configured: gone" in capsys.readouterr().err


def test_repeats_report_spread_and_unstable_items(tiny_llama_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_llama_path))
    sampled = {"max_new_tokens": 2, "do_sample": True, "temperature": 1.5, "seed": 3, "stop": ["\n"]}
    experiment = _experiment(tmp_path, mode="generate", settings=sampled)
    assert cli.main(["eval", str(experiment), "--out", str(tmp_path / "out"), "--repeats", "3"]) == cli.PASS
    repeats = json.loads((tmp_path / "out" / "summary.json").read_text())["summary"]["repeats"]
    assert repeats["seeds"] == [3, 4, 5] and len(repeats["spread"]) == 3
    assert all(row["min"] <= row["mean"] <= row["max"] for row in repeats["spread"])
    assert all(row["agreement"] < 1 for row in repeats["unstable"])
    assert "over 3 repeats" in capsys.readouterr().out
    greedy = _experiment(tmp_path, "greedy.json")
    assert cli.main(["eval", str(greedy), "--repeats", "3"]) == cli.BAD_INPUT
    assert "sampling on" in capsys.readouterr().err


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    written: list[str] = []
    bar = cli.Progress(True, written.append)
    bar.update(0.5, "Run 1 of 2")
    bar.close()
    assert written[0].startswith("\r[###############...............]") and written[-1] == "\n"
    written.clear()
    plain = cli.Progress(False, written.append)
    for message in ("a", "a", "b"):
        plain.update(0.1, message)
    assert len(written) == 2 and all(line.endswith("\n") and "\r" not in line for line in written)


def test_gate_parsing_and_strategy_names():
    assert eval_summary.parse_gate("accuracy=0.80") == eval_summary.Gate("accuracy", 0.8, "few")
    assert eval_summary.resolve_strategy("few", 4) == "few-shot (k=4)"
    assert eval_summary.resolve_strategy("Zero-shot", 4) == "zero-shot"
    with pytest.raises(ValueError, match="needs a number"):
        eval_summary.parse_gate("accuracy=high")


def _sentiment_preset(tmp_path: Path) -> Path:
    """The page's default experiment on the bundled sentiment preset (its 30 items, two example orders)."""
    task = prompting.PRESETS["Movie-review sentiment"]
    items = tuple(prompting.load_eval_set(task).itertuples(index=False, name=None))
    request = EvalRequest(task.instruction, task.examples, items, GenerationSettings(), task.few_k, task.sweep,
                          shuffles=2)
    path = tmp_path / "sentiment.json"
    path.write_text(prompting.experiment_to_json(experiment_record(request, "SmolLM2-135M-Instruct", task.name,
                                                                   task.query)))
    return path


@pytest.mark.slow
def test_real_model_gates_pass_and_fail_on_the_sentiment_preset(real_model_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(real_model_cache))
    monkeypatch.delenv("LLM_LENS_MODEL", raising=False)
    experiment = _sentiment_preset(tmp_path)
    passing = cli.main(["eval", str(experiment), "--out", str(tmp_path / "a"), "--fail-under", "accuracy=0.80"])
    out = capsys.readouterr().out
    assert passing == cli.PASS, out  # 4-shot SmolLM2 gets the sentiment set right (NOTES: 3-shot all right)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())["summary"]
    assert summary["strategies"]["few-shot (k=4)"]["scored"] == 30
    zero = summary["strategies"]["zero-shot"]["accuracy"]["value"]
    assert zero < 0.95  # zero-shot calls some negative reviews positive
    failing = cli.main(["eval", str(experiment), "--out", str(tmp_path / "b"), "--fail-under", "accuracy=0.95",
                        "--strategy", "zero"])
    assert failing == cli.GATE_FAILED and "FAIL accuracy of zero-shot" in capsys.readouterr().out
