"""Pieces of the load benchmark: the timed server, its memory and health samplers, log statistics."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def descendants(root: int) -> list[int]:
    """Every live process whose chain of parents reaches root."""
    parents = {int(p.name): _parent(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def autogroup(pid: int) -> str | None:
    """The scheduler autogroup of a process ("/autogroup-12"), or None without autogroups."""
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().split()[0]
    except (OSError, IndexError):
        return None


def lower_autogroup(pid: int, nice: int) -> None:
    """Set the niceness of a process's whole autogroup.

    With autogroups (Linux's default on desktops and this machine), niceness only ranks processes
    inside one session's group; groups share the CPU equally. Chromium starts its own session, so
    its renderers would take half the CPU from the server whatever their niceness.
    """
    Path(f"/proc/{pid}/autogroup").write_text(str(nice))


class Renicer:
    """Keeps the browser processes below the server's priority: Chromium sets its own process
    priorities (its browser and GPU processes at -8, renderers at 0), so inherited niceness is lost;
    every half second each descendant of this process, except the server's tree, is set to `nice`."""

    def __init__(self, spare: int, nice: int = 15):
        self.spare, self.nice = spare, nice
        self._stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            server = set(descendants(self.spare)) | {self.spare}
            own_group = autogroup(self.spare)
            for pid in descendants(os.getpid()):
                if pid not in server:
                    try:
                        if os.getpriority(os.PRIO_PROCESS, pid) < self.nice:
                            os.setpriority(os.PRIO_PROCESS, pid, self.nice)
                        if autogroup(pid) not in (None, own_group):
                            lower_autogroup(pid, self.nice)
                    except OSError:  # gone, or not ours to change
                        pass

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Samples:
    """(monotonic time, value) pairs collected by a background thread until stop()."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def peak(self, since: float, until: float) -> float:
        values = [v for t, v in self.points if since <= t <= until]
        return max(values) if values else 0.0


class TimedServer:
    """`streamlit run app.py` on 127.0.0.1 with bench/serve_timed.py's timing log, RSS and health sampled."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.timing = workdir / "timing.log"
        self.log = workdir / "server.log"
        self.rss, self.health = Samples(), Samples()
        self._env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLM_LENS_TIMING_LOG": str(self.timing), **(env or {})}
        self._stop = threading.Event()
        self.process: subprocess.Popen | None = None

    def start(self, seconds: float = 180) -> None:
        command = [sys.executable, str(ROOT / "bench" / "serve_timed.py"), "app.py", "--server.port", str(self.port),
                   "--server.address", "127.0.0.1", "--server.headless", "true",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._env.pop("LLM_LENS_MODEL", None)  # the real default model
        with self.log.open("w") as sink:  # a file, not a pipe: a full pipe would block the server
            self.process = subprocess.Popen(command, cwd=ROOT, env=self._env, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds
        while self.health_seconds() is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.5)
        for target in (self._sample_rss, self._sample_health):
            threading.Thread(target=target, daemon=True).start()

    def health_seconds(self) -> float | None:
        """How long /_stcore/health takes to answer (None when it does not answer within 10 s)."""
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as response:
                return time.monotonic() - started if response.status == 200 else None
        except OSError:
            return None

    def _sample_rss(self) -> None:
        while not self._stop.wait(0.2):
            self.rss.points.append((time.monotonic(), rss_mb(self.process.pid)))

    def _sample_health(self) -> None:
        while not self._stop.wait(0.5):
            seconds = self.health_seconds()
            self.health.points.append((time.monotonic(), 10.0 if seconds is None else seconds))

    def stop(self) -> None:
        self._stop.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass(frozen=True)
class ServerRuns:
    """Script runs the server logged in a time window: durations, delivery delays, message sizes."""

    script: list[float]  # start → finish, seconds
    delivery: list[float]  # finish → script_finished sent, seconds
    message_kb: list[float]
    threads: list[int]


def server_runs(timing: Path, since: float, until: float, only: set[str] | None = None) -> ServerRuns:
    """Pair each session's start → finish → sent lines for runs that started inside the window
    (only: just these sessions)."""
    per_session: dict[str, list[tuple[str, float, list[str]]]] = {}
    for line in timing.read_text().splitlines() if timing.exists() else ():
        event, session, at, *extra = line.split()
        if only is None or session in only:
            per_session.setdefault(session, []).append((event, float(at), extra))
    script, delivery, sizes, threads = [], [], [], []
    for events in per_session.values():
        started = finished = None
        for event, at, extra in events:
            if event == "start":
                started, finished = at, None
            elif event == "finish" and started is not None:
                finished = at
                if since <= started <= until:
                    script.append(at - started)
            elif event == "sent" and finished is not None and since <= started <= until:
                delivery.append(at - finished)
                sizes.append(int(extra[0]) / 1024)
                threads.append(int(extra[1]))
                started = finished = None
    return ServerRuns(script, delivery, sizes, threads)


def sessions_started(timing: Path, since: float) -> set[str]:
    """Sessions that started a script run at or after `since` (e.g. the ones just opened)."""
    found = set()
    for line in timing.read_text().splitlines() if timing.exists() else ():
        event, session, at, *_ = line.split()
        if event == "start" and float(at) >= since:
            found.add(session)
    return found


def batch_sizes(timing: Path, since: float, until: float) -> list[str]:
    """'prompts@seconds' per padded analyze forward that ended inside the window."""
    sizes = []
    for line in timing.read_text().splitlines() if timing.exists() else ():
        event, _, at, *extra = line.split()
        if event == "batch" and since <= float(at) <= until:
            cpu = f" ({float(extra[2]):.2f} CPU)" if len(extra) > 2 else ""
            sizes.append(f"{extra[0]}@{float(extra[1]):.2f}s{cpu}")
    return sizes


def spread(values: list[float]) -> str:
    """'p50/p95/max' of a list of seconds (or '-' when empty)."""
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.2f}/{p95:.2f}/{ordered[-1]:.2f}"


def p95(values: list[float]) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
