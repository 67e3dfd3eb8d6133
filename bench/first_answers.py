"""Fast first answers: a restarted server's first attention map against the floor, and each page's first visit.

Run `python bench/first_answers.py [--runs 3] [--cold]`. Each run, in one process tree:
  floor        a bare Python process imports torch and transformers and loads the cached model copy and
               its tokenizer with transformers' own from_pretrained (nothing of this app);
  start        `python -m ui.warm_start` (what `make run` starts, timed by bench/serve_timed.py): seconds
               until the health check answers, and until a browser that asked for Attention as soon as
               it answered shows the first attention map; the warm start's phases (model, imports,
               views) from the server's log;
  first visits each page opened in a new browser session once the warm start is done: browser-side
               (navigation → that run finished and the page idle) and server-side (script run start →
               finish); then a second visit in the same session (a returning session).
  breakdown    in a fresh process, where a first map's time goes: importing torch and transformers (with
               the garbage collector paused, as the server does), the app's other imports (Streamlit,
               plotly, the pages' modules), loading the model and its tokenizer (core.load_model, from the
               cached copy), the first forward (the analysis), the attention view, building the heatmap
               figure and serialising it as Streamlit does.
--cold starts `streamlit run app.py` instead (no warm start: today's behaviour before it), for comparison.
Targets: first map <= 1.3 x floor; each page's first visit <= 1.5 s server-side (median over runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from load_kit import ROOT, TimedServer, server_runs, sessions_started  # noqa: E402

PAGES = {"Home": "", "Tokens": "tokens", "Embeddings": "embeddings", "Attention": "attention",
         "Generation": "generation", "Why this token?": "why", "Prompt strategies": "prompting",
         "Adapt the model": "adapt", "RNN vs Transformer": "rnn_vs_transformer", "Model size": "model_size",
         "Lifecycle": "lifecycle", "Deploy": "deploy"}
CHART = '.st-key-attn_one_head .heatmaplayer'  # Attention's first map, drawn (not the empty prefetch chart)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
FLOOR = """
import sys, time
started = time.monotonic()
import torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
imported = time.monotonic()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
print(imported - started, time.monotonic() - imported)
"""

BREAKDOWN = """
import json, sys, time
marks = [time.monotonic()]
def mark(): marks.append(time.monotonic())
from ui import warm_start
with warm_start.gc_paused(freeze=True):  # as the server imports them (ui.warm_start)
    import torch, transformers
mark()
warm_start.import_page_modules(); import plotly.io; mark()
from ui import widgets; import core; model = core.load_model(widgets.default_model()); mark()
analysis = core.analyze(model, widgets.DEFAULT_PROMPT); mark()
from core import attention_stats; view = attention_stats.attention_view(analysis.attention, False, "none"); mark()
from viz import attention as attention_viz
labels = analysis.tokens.labels
figure = attention_viz.attention_heatmap(view.weights[0, 0], labels, "Layer 0, head 0", view.first_position); mark()
plotly.io.to_json(figure, validate=False); mark()
print(json.dumps([b - a for a, b in zip(marks, marks[1:])]))
"""
STEPS = ("import torch, transformers", "the app's other imports", "model and tokenizer load", "first forward",
         "attention view", "heatmap figure", "figure serialisation")


def cached_copy() -> Path:
    """The default model's fast-loading copy (made by `make install` or the first start)."""
    from core import models, weights_copy

    spec = models.BUNDLED[models.DEFAULT_MODEL]
    path = weights_copy.cache_dir_for(models.bundled_path(spec))
    if not path.exists():
        raise SystemExit(f"No cached copy at {path}: start the app once (or `make install`) first.")
    return path


def floor(copy: Path) -> tuple[float, float, float]:
    """(wall seconds from process start to exit, imports, loads) of the bare transformers process."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", FLOOR, str(copy)], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    imports, loads = map(float, out.stdout.split()[-2:])
    return time.monotonic() - started, imports, loads


def breakdown() -> dict[str, float]:
    """Seconds of each step to a first map, in one fresh process (see BREAKDOWN)."""
    out = subprocess.run([sys.executable, "-c", BREAKDOWN], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    return dict(zip(STEPS, json.loads(out.stdout.strip().splitlines()[-1])))


class StartServer(TimedServer):
    """The timed server started through the warm start (or plain `streamlit run` with cold=True)."""

    def __init__(self, workdir: Path, cold: bool):
        super().__init__(workdir, {"LLM_LENS_TIMING_BATCHES": "0", "LLM_LENS_TIMING_WARM": "0" if cold else "1"})
        self.cold = cold

    def launch(self) -> float:
        """Start the process; returns its start time (monotonic)."""
        command = [sys.executable, str(ROOT / "bench" / "serve_timed.py"), *([] if not self.cold else ["app.py"]),
                   "--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._env.pop("LLM_LENS_MODEL", None)
        started = time.monotonic()
        with self.log.open("w") as sink:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self._env, stdout=sink, stderr=subprocess.STDOUT)
        return started

    def first_run_done(self, started: float) -> float:
        """Seconds from the process start to the end of the first page run (the map sent; the browser draws it)."""
        for line in self.timing.read_text().splitlines():
            event, _, at, *_ = line.split()
            if event == "finish":
                return float(at) - started
        return float("nan")

    def warm_phases(self, started: float) -> dict[str, float]:
        """Seconds from the process start to each warm-start phase's beginning (and 'done')."""
        phases = {}
        for line in self.timing.read_text().splitlines() if self.timing.exists() else ():
            event, phase, at, *_ = line.split()
            if event == "warm":
                phases[phase] = float(at) - started
        return phases


def wait_healthy(server: StartServer, started: float, seconds: float = 180) -> float:
    deadline = time.monotonic() + seconds
    while server.health_seconds() is None:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{server.log.read_text()[-2000:]}")
        time.sleep(0.05)
    return time.monotonic() - started


def first_visit(browser, url: str, name: str, timing: Path) -> tuple[float, float, float, float]:
    """(browser s, server s) of a new session's first visit of a page, then of a return to it in that session."""
    from browser_kit import new_tab, open_app, wait_idle

    tab = new_tab(browser)
    try:
        since = time.monotonic()
        open_app(tab, f"{url}/{PAGES[name]}", timeout_ms=300_000)
        figures = [time.monotonic() - since, _server_seconds(timing, since)]
        _click_nav(tab, "Lifecycle" if name == "Home" else "Home")  # away, then back: a returning session
        wait_idle(tab, 300_000)
        since = time.monotonic()
        _click_nav(tab, name)
        wait_idle(tab, 300_000)
        return (*figures, time.monotonic() - since, _server_seconds(timing, since))
    finally:
        tab.context.close()


def _click_nav(tab, name: str) -> None:
    tab.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()


def _server_seconds(timing: Path, since: float) -> float:
    """The longest script run of the sessions that started one since `since` (the page's run)."""
    runs = server_runs(timing, since, time.monotonic(), sessions_started(timing, since))
    return max(runs.script) if runs.script else float("nan")


def one_run(browser, cold: bool, copy: Path, pages: bool = True) -> dict:
    floor_wall, floor_imports, floor_loads = floor(copy)
    with tempfile.TemporaryDirectory() as folder:
        server = StartServer(Path(folder), cold)
        tab = None
        try:
            started = server.launch()
            health = wait_healthy(server, started)
            from browser_kit import new_tab
            from playwright.sync_api import expect

            tab = new_tab(browser)
            tab.goto(f"{server.url}/attention")
            expect(tab.locator(CHART).first).to_be_visible(timeout=300_000)
            first_map = time.monotonic() - started
            first_run = server.first_run_done(started)
            tab.context.close()
            tab = None
            deadline = time.monotonic() + 300
            while not cold and "done" not in server.warm_phases(started) and time.monotonic() < deadline:
                time.sleep(0.2)
            phases = server.warm_phases(started)
            visits = {name: first_visit(browser, server.url, name, server.timing) for name in PAGES} if pages else {}
        finally:
            if tab is not None:
                tab.context.close()
            server.stop()
    return {"floor": floor_wall, "floor_imports": floor_imports, "floor_loads": floor_loads, "health": health,
            "first_map": first_map, "first_run": first_run, "phases": phases, "visits": visits,
            "breakdown": breakdown() if pages else {}}


def report(runs: list[dict], cold: bool) -> None:
    label = "streamlit run app.py (no warm start)" if cold else "python -m ui.warm_start"
    print(f"\n{label}, {len(runs)} run(s)")
    for number, run in enumerate(runs, 1):
        phases = ", ".join(f"{k} at {v:.1f} s" for k, v in run["phases"].items())
        sent = f"the server sent it at {run['first_run']:.1f} s = {run['first_run'] / run['floor']:.2f}x"
        print(f"  run {number}: floor {run['floor']:.1f} s (imports {run['floor_imports']:.1f}, loads "
              f"{run['floor_loads']:.1f}); health {run['health']:.1f} s; first attention map {run['first_map']:.1f} s "
              f"= {run['first_map'] / run['floor']:.2f}x floor (target <= 1.3; {sent})"
              + (f"; warm start: {phases}" if phases else ""))
    ratio = statistics.median(run["first_map"] / run["floor"] for run in runs)
    sent = statistics.median(run["first_run"] / run["floor"] for run in runs)
    print(f"  median first map / floor: {ratio:.2f} (target <= 1.3); sent by the server / floor: {sent:.2f}")
    if not runs[0]["visits"]:
        return
    print(f"  {'page':<20} {'first visit: browser':>21} {'server':>7} {'returning: browser':>19} {'server':>7}")
    worst = 0.0
    for name in PAGES:
        columns = list(zip(*(run["visits"][name] for run in runs)))
        medians = [statistics.median(values) for values in columns]
        worst = max(worst, medians[1])
        print(f"  {name:<20} {medians[0]:>20.2f}s {medians[1]:>6.2f}s {medians[2]:>18.2f}s {medians[3]:>6.2f}s")
    print("  where a first map's time goes (fresh process, median seconds): " + ", ".join(
        f"{step} {statistics.median(run['breakdown'][step] for run in runs):.2f}" for step in STEPS))
    print(f"  slowest page's median first visit, server-side: {worst:.2f} s (target <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="plain `streamlit run app.py`, for comparison")
    parser.add_argument("--first-map-only", action="store_true", help="the floor and the first map; no page visits")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("Chromium is not installed: apt-get install -y chromium")
    copy = cached_copy()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        runs = [one_run(browser, args.cold, copy, not args.first_map_only) for _ in range(args.runs)]
        browser.close()
    report(runs, args.cold)


if __name__ == "__main__":
    main()
