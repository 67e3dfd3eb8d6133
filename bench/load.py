"""Load benchmark: a class of browser sessions on one real server (not a test; `make bench-load`).

Starts `streamlit run app.py` on 127.0.0.1 with the real SmolLM2 and server-side timing
(bench/serve_timed.py), then drives Chromium sessions (Playwright, system Chromium, at lower CPU
priority than the server) through scenarios, printing one line each:
  (a) N = 1/5/10/20 sessions type different prompts on Attention at the same moment (N = 1: five
      rounds one after another, their median the denominator of the printed ratios)
  (b) 20 sessions type the same prompt
  (c) mixed pages: Attention, Tokens, Generation, Embeddings; delivery delay and health check
  (e) one over-long Prompt strategies query (~1,500 words) while 3 sessions use Attention
  (d) one evaluation running while 5 sessions use Attention (last: it may run on after the round)
Columns: browser = key press → own result drawn; script = server run start → finish;
delivery = finish → sent; errors; cross-talk (a page showing another session's prompt); peak RSS.
Every wait is bounded; the server and browser are stopped at the end. Usage:
  python bench/load.py [--sizes 1,5,10,20] [--only a,b,c,d,e]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_kit import Renicer, TimedServer, batch_sizes, p95, server_runs, sessions_started, spread  # noqa: E402

ANIMALS = ["dog", "cat", "horse", "lion", "tiger", "bear", "wolf", "fox", "eagle", "shark", "whale", "snake",
           "mouse", "rabbit", "sheep", "goat", "duck", "frog", "monkey", "zebra", "owl", "camel"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHART = '[data-testid="stPlotlyChart"]'
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
ROUND_SECONDS = 240  # bound on one round of one session
ONE_ROUNDS = 5  # rounds of the lone session (N=1), one after another


def story(index: int, tag: str) -> str:
    """A ~38-token prompt whose animal tells the sessions apart (each animal is one SmolLM2 token)."""
    animal = ANIMALS[index % len(ANIMALS)]
    return (f"Student {index} in round {tag} writes a short story about a {animal}. The {animal} walks to the "
            "river every morning, drinks cold water, and then returns home to sleep under the old tree.")


class Session:
    """One student: a browser context with one page."""

    def __init__(self, context, page):
        self.context, self.page, self.errors = context, page, 0

    @classmethod
    async def open(cls, browser, url: str, path: str) -> Session:
        context = await browser.new_context(viewport={"width": 1300, "height": 1400})
        page = await context.new_page()
        session = cls(context, page)
        try:
            await page.goto(f"{url}/{path}", timeout=ROUND_SECONDS * 1000)
            await page.wait_for_selector(IDLE, timeout=ROUND_SECONDS * 1000)
        except Exception:  # noqa: BLE001  a page that never opened counts as an error, the run goes on
            session.errors += 1
        return session

    async def submit(self, label: str, text: str, together: asyncio.Barrier | None = None) -> float:
        """Type text; with `together`, every session presses the key once all have typed (students
        pressing at the same moment: slow low-priority browsers would otherwise spread the presses)."""
        box = self.page.get_by_role("textbox", name=label)
        await box.fill(text)
        if together is not None:
            await asyncio.wait_for(together.wait(), ROUND_SECONDS)
        started = time.monotonic()
        await box.press("Control+Enter")
        return started

    async def ticks(self) -> list[str]:
        return await self.page.locator(f"{CHART} .ytick text").all_text_contents()

    async def attention_round(self, text: str, others: set[str],
                              together: asyncio.Barrier | None = None) -> tuple[float | None, int]:
        """Type text, wait for its heatmap; returns (seconds, cross-talk count)."""
        own = next(a for a in ANIMALS if f" {a}." in text)
        try:
            started = await self.submit("Prompt", text, together)
            deadline = started + ROUND_SECONDS
            while time.monotonic() < deadline:
                labels = {label.lstrip("·") for label in await self.ticks()}
                if own in labels:
                    return time.monotonic() - started, len(labels & (others - {own}))
                await asyncio.sleep(0.1)
        except Exception:  # noqa: BLE001
            pass
        self.errors += 1
        return None, 0

    async def idle_round(self, label: str, text: str) -> float | None:
        """Type text on a page without a heatmap; wait for the rerun to finish drawing."""
        try:
            started = await self.submit(label, text)
            await self.page.wait_for_timeout(300)
            await self.page.wait_for_selector(IDLE, timeout=ROUND_SECONDS * 1000)
            return time.monotonic() - started
        except Exception:  # noqa: BLE001
            self.errors += 1
            return None

    async def exceptions(self) -> int:
        return await self.page.locator('[data-testid="stException"]').count()

    async def close(self) -> None:
        await self.context.close()


class Bench:
    def __init__(self, server: TimedServer, browser):
        self.server, self.browser = server, browser

    async def sessions(self, path: str, count: int) -> list[Session]:
        opened = []
        for start in range(0, count, 5):  # five at a time: opening is not what is measured
            opened += await asyncio.gather(*(Session.open(self.browser, self.server.url, path)
                                             for _ in range(min(5, count - start))))
        return opened

    async def report(self, name: str, since: float, browser_times: list, sessions: list, crosstalk: int,
                     extra: str = "", only: set[str] | None = None) -> dict:
        until = time.monotonic()
        await asyncio.sleep(3)  # a page draws before its run's last messages: let the server log them
        runs = server_runs(self.server.timing, since, until, only)
        times = [t for t in browser_times if t is not None]
        errors = sum(s.errors for s in sessions)
        line = (f"{name:<34} browser {spread(times):>17}  script {spread(runs.script):>17}  "
                f"delivery {spread(runs.delivery):>17}  errors {errors}  cross-talk {crosstalk}  "
                f"peak RSS {self.server.rss.peak(since, until):,.0f} MB  health max "
                f"{self.server.health.peak(since, until):.2f} s  threads max {max(runs.threads, default=0)}  "
                f"msg p95 {p95(runs.message_kb):,.0f} kB  "
                f"batches {batch_sizes(self.server.timing, since, until)}{extra}")
        print(line, flush=True)
        return {"browser_p95": p95(times), "script_p95": p95(runs.script), "line": line}

    async def attention(self, count: int, tag: str, same: bool = False) -> dict:
        sessions = await self.sessions("attention", count)
        texts = [story(0 if same else i, tag) for i in range(count)]
        animals = {a for a in ANIMALS if any(f" {a}." in t for t in texts)}
        since = time.monotonic()
        together = asyncio.Barrier(count)
        results = await asyncio.gather(*(s.attention_round(t, animals, together) for s, t in zip(sessions, texts)))
        name = f"(b) {count} x same prompt, Attention" if same else f"(a) N={count} different, Attention"
        crosstalk = sum(c for _, c in results) + sum([await s.exceptions() for s in sessions])
        out = await self.report(name, since, [t for t, _ in results], sessions, crosstalk)
        await asyncio.gather(*(s.close() for s in sessions))
        return out

    async def mixed(self, tag: str) -> dict:
        pages = [("attention", "Prompt")] * 4 + [("tokens", "Prompt")] * 2 + [("generation", "Prompt")] * 2 + \
                [("embeddings", "Prompt")] * 2
        sessions = [await self.sessions(path, 1) for path, _ in pages]
        sessions = [s[0] for s in sessions]
        since = time.monotonic()
        animals = set(ANIMALS[:4])
        rounds = [s.attention_round(story(i, tag), animals) if path == "attention"
                  else _timed_only(s.idle_round(label, story(i, tag)))
                  for i, (s, (path, label)) in enumerate(zip(sessions, pages))]
        results = await asyncio.gather(*rounds)
        crosstalk = sum(c for _, c in results)
        out = await self.report("(c) mixed pages, 10 sessions", since, [t for t, _ in results], sessions, crosstalk)
        await asyncio.gather(*(s.close() for s in sessions))
        return out

    async def alongside(self, name: str, heavy, tag: str, count: int) -> dict:
        """count Attention sessions do a round while `heavy` (a coroutine on its own page) runs.

        The server-side columns count the Attention sessions' runs only, not the heavy page's own."""
        opened = time.monotonic()
        sessions = await self.sessions("attention", count)
        others = sessions_started(self.server.timing, opened)
        texts = [story(i, tag) for i in range(count)]
        task = asyncio.create_task(heavy)
        await asyncio.sleep(2)  # the heavy request reaches the server first
        since = time.monotonic()
        results = await asyncio.gather(*(s.attention_round(t, set(ANIMALS[:count])) for s, t in zip(sessions, texts)))
        heavy_seconds, heavy_note = await task
        crosstalk = sum(c for _, c in results)
        extra = f"  heavy: {heavy_note} after {heavy_seconds:.1f} s" if heavy_seconds is not None else "  heavy: none"
        out = await self.report(name, since, [t for t, _ in results], sessions, crosstalk, extra, others)
        await asyncio.gather(*(s.close() for s in sessions))
        return out

    async def long_query(self) -> tuple[float | None, str]:
        """Paste ~1,500 words into the Prompt strategies query and press Compare."""
        session = (await self.sessions("prompting", 1))[0]
        text = " ".join(["The quarterly report describes steady growth in every region we serve."] * 140)
        try:
            box = session.page.get_by_role("textbox", name="Query (the text to classify)")
            await box.fill(text)
            started = time.monotonic()
            await session.page.get_by_role("button", name="Compare").click()
            await session.page.wait_for_timeout(500)
            await session.page.wait_for_selector(IDLE, timeout=ROUND_SECONDS * 1000)
            seconds = time.monotonic() - started
            warned = await session.page.locator('[data-testid="stAlert"]').count()
            return seconds, "cap message shown" if warned else "ran without a cap message"
        except Exception:  # noqa: BLE001
            return None, "did not finish"
        finally:
            await session.close()

    async def evaluation(self) -> tuple[float | None, str]:
        """Start the Prompt strategies evaluation with the page's defaults; return once it has started."""
        session = (await self.sessions("prompting", 1))[0]
        try:
            started = time.monotonic()
            await session.page.get_by_role("button", name="Evaluate").click()
            await session.page.wait_for_timeout(1500)
            return time.monotonic() - started, "evaluation running"
        except Exception:  # noqa: BLE001
            return None, "could not start"
        # the page stays open: the evaluation goes on until the server stops


async def _timed_only(coroutine) -> tuple[float | None, int]:
    return await coroutine, 0


def _lower_priority(server: TimedServer) -> Renicer:
    # The Playwright driver starts from this process and inherits its niceness; Chromium resets its
    # own, so the Renicer keeps lowering it. The server was started before, at normal priority.
    os.nice(10)
    return Renicer(spare=server.process.pid)


async def run(args) -> None:
    from playwright.async_api import async_playwright

    workdir = Path(tempfile.mkdtemp(prefix="llm-lens-load-"))
    server = TimedServer(workdir)
    started = time.monotonic()
    server.start()
    print(f"server healthy after {time.monotonic() - started:.1f} s on {server.url}", flush=True)
    renicer = _lower_priority(server)
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("Chromium is not installed: apt-get install -y chromium")
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable, args=FLAGS)
            bench = Bench(server, browser)
            await bench.sessions("attention", 1)  # first visit loads the model; not measured
            figures = await scenarios(bench, args)
            await browser.close()
        summarise(figures)
    finally:
        renicer.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def scenarios(bench: Bench, args) -> dict:
    figures, only = {}, set(args.only.split(","))
    if "a" in only:
        for n in (int(s) for s in args.sizes.split(",")):
            if n == 1:  # the ratios' denominator: one round alone swings (0.25 to 0.65 s seen), so the median
                figures["a1"] = median_round([await bench.attention(1, f"a1-{r}") for r in range(ONE_ROUNDS)])
            else:
                figures[f"a{n}"] = await bench.attention(n, f"a{n}")
    if "b" in only:
        figures["b"] = await bench.attention(20, "b", same=True)
    if "c" in only:
        figures["c"] = await bench.mixed("c")
    if "e" in only:
        figures["e"] = await bench.alongside("(e) long query + 3 on Attention", bench.long_query(), "e", 3)
    if "d" in only:
        figures["d"] = await bench.alongside("(d) evaluation + 5 on Attention", bench.evaluation(), "d", 5)
    return figures


def median_round(rounds: list[dict]) -> dict:
    """One session's figures over several rounds: the median of each (every round has one sample)."""
    figure = {key: statistics.median(r[key] for r in rounds) for key in ("browser_p95", "script_p95")}
    print(f"(a) N=1, median of {len(rounds)} rounds: browser {figure['browser_p95']:.2f} s, "
          f"script {figure['script_p95']:.2f} s", flush=True)
    return figure


def summarise(figures: dict) -> None:
    one = figures.get("a1")
    for key in ("a5", "a10", "a20", "b", "d", "e"):
        if one and key in figures:
            ratio = figures[key]["script_p95"] / one["script_p95"]
            browser = figures[key]["browser_p95"] / one["browser_p95"]
            print(f"ratio {key} p95 / a1 median: server script {ratio:.1f}x, browser {browser:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,5,10,20", help="session counts for scenario (a)")
    parser.add_argument("--only", default="a,b,c,d,e", help="scenarios to run, e.g. a,c")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` or kill: still stop the server
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
