"""`streamlit run` with server-side timing lines, for the load benchmark (bench/load.py).

Run as `python bench/serve_timed.py app.py --server.port P ...` with LLM_LENS_TIMING_LOG=FILE; with
LLM_LENS_TIMING_WARM=1 it runs `python -m ui.warm_start --server.port P ...` instead (no app.py argument) and
logs the warm start's phases too.
Each line of FILE is `<event> <session> <monotonic seconds> <extra>`:
  start / finish  a script run starts / stops (in its script thread);
  batch           one padded analyze forward ended, extra = its prompts and seconds;
  warm            the warm start entered a phase, extra = model, imports, views, done (or failed);
  pages           the number of page runs in progress changed (the warm start's background steps wait for 0);
  sent            that run's `script_finished` message leaves for the browser (event-loop thread),
                  extra = bytes of the run's messages and the server's thread count then.
The gap finish → sent is delivery delay: messages waiting for the event loop (GIL held by script
threads, many threads, big messages). Only Streamlit's own hooks are wrapped; the app is unchanged.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import defaultdict

_LOG_LOCK = threading.Lock()
_BYTES: dict[str, int] = defaultdict(int)


def _write(event: str, session: str, extra: str = "") -> None:
    line = f"{event} {session} {time.monotonic():.4f} {extra}\n"
    with _LOG_LOCK, open(os.environ["LLM_LENS_TIMING_LOG"], "a") as sink:
        sink.write(line)


def _install() -> None:
    from streamlit.runtime import runtime
    from streamlit.runtime.scriptrunner import script_runner

    events = script_runner.ScriptRunnerEvent
    original_init = script_runner.ScriptRunner.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)

        def on_event(sender, event, **_):
            if event == events.SCRIPT_STARTED:
                _write("start", sender._session_id)
            elif event in (events.SCRIPT_STOPPED_WITH_SUCCESS, events.SCRIPT_STOPPED_FOR_RERUN,
                           events.SCRIPT_STOPPED_WITH_COMPILE_ERROR):
                _write("finish", sender._session_id, event.name)

        self._timing_receiver = on_event  # blinker keeps weak references: hold it on the runner
        self.on_event.connect(on_event)

    original_send = runtime.Runtime._send_message

    def send(self, session_info, msg):
        session = session_info.session.id
        _BYTES[session] += msg.ByteSize()
        if msg.WhichOneof("type") == "script_finished":
            _write("sent", session, f"{_BYTES.pop(session, 0)} {threading.active_count()}")
        return original_send(self, session_info, msg)

    script_runner.ScriptRunner.__init__ = init
    runtime.Runtime._send_message = send
    if os.environ.get("LLM_LENS_TIMING_BATCHES", "1") != "0":  # imports torch: not for start-up timings
        _install_batch_log()


def _install_batch_log() -> None:
    # `batch - <end> <prompts> <seconds> <CPU seconds>`: how many analyze requests each batch served.
    # A batch runs one padded forward per lane (core.runtime.lanes), each on its own thread: its CPU is the
    # sum of those threads' CPU (batches of one model never overlap: the gate runs one at a time).
    sys.path.insert(0, os.getcwd())
    from core.runtime import batching

    original_run, original_forward = batching.AnalyzeBatcher._run, batching._padded_forward
    lane_cpu = [0.0]

    def forward(*args, **kwargs):
        cpu = time.thread_time()
        try:
            return original_forward(*args, **kwargs)
        finally:
            with _LOG_LOCK:
                lane_cpu[0] += time.thread_time() - cpu

    def run(self, model, batch):
        started, cpu = time.monotonic(), lane_cpu[0]
        try:
            return original_run(self, model, batch)
        finally:
            _write("batch", "-", f"{len(batch)} {time.monotonic() - started:.3f} {lane_cpu[0] - cpu:.3f}")

    batching.AnalyzeBatcher._run = run
    batching._padded_forward = forward


def _log_warm_phases() -> None:
    # `warm <phase> <t>` each time the warm start (ui.warm_start) enters a phase: model, imports, views, done.
    from ui import warm_start

    seen, running = None, 0
    while seen not in ("done", "failed"):
        if (now := warm_start.phase()) != seen:
            _write("warm", now)
            seen = now
        if (count := warm_start.pages_running()) != running:
            _write("pages", str(count))
            running = count
        time.sleep(0.02)


if __name__ == "__main__":
    if os.environ.get("LLM_LENS_TIMING_WARM") == "1":  # `python -m ui.warm_start` (make run): options only, no app.py
        sys.path.insert(0, str(os.getcwd()))
        from ui import warm_start

        warm_start.start()  # first, as `python -m ui.warm_start` does: the hooks below import Streamlit meanwhile
        threading.Thread(target=_log_warm_phases, daemon=True).start()
        _install()
        sys.exit(warm_start.main(sys.argv[1:]))
    _install()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    sys.exit(cli.main())
