"""Helpers for the served-model tests: a real `transformers serve` of the bundled SmolLM2 and a small stub.

The stub is only for what a real server cannot be made to do on demand: answer 429, fail then succeed,
send malformed JSON or an empty `choices` list, echo a rejected key. Its echoed log-probabilities are
made up (one token per word) so plumbing tests have something to carry; real ones come from vLLM
(tests/vllm/).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from core import models, weights_copy

SERVE = Path(sys.executable).with_name("transformers")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def model_folder(cache_home: Path | None = None) -> Path:
    """The float32 safetensors copy of the bundled SmolLM2 that the app loads (under cache_home if given)."""
    before = os.environ.get("XDG_CACHE_HOME")
    if cache_home is not None:
        os.environ["XDG_CACHE_HOME"] = str(cache_home)
    try:
        folder = weights_copy.cache_dir_for(models.bundled_path(models.BUNDLED[models.DEFAULT_MODEL]))
        if not (folder / "model.safetensors").exists():
            models.load_model(models.DEFAULT_MODEL)  # writes the copy on first load
    finally:
        if cache_home is not None:
            os.environ.pop("XDG_CACHE_HOME", None) if before is None else os.environ.update(XDG_CACHE_HOME=before)
    return folder


def start_server(log: Path, folder: Path | None = None) -> tuple[subprocess.Popen, str, str]:
    """(process, base URL, model id): `transformers serve FOLDER` once /v1/models answers."""
    port, folder = free_port(), folder or model_folder()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [str(SERVE), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"transformers serve exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as response:
                return process, base, json.load(response)["data"][0]["id"]
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"transformers serve did not answer /v1/models:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Stub(BaseHTTPRequestHandler):
    """OpenAI-shaped answers chosen by the model name: 'logprobs', 'busy', 'broken', 'empty', 'secret'."""

    calls: dict = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, body: str, content_type: str = "application/json", headers=()) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        names = ["logprobs", "busy", "broken", "empty", "secret", "flaky"]
        self._send(200, json.dumps({"object": "list", "data": [{"id": n, "object": "model"} for n in names]}))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        model = body.get("model")
        Stub.calls[model] = Stub.calls.get(model, 0) + 1
        if model == "busy":
            return self._send(429, '{"error": {"message": "slow down"}}', headers=[("retry-after", "0")])
        if model == "flaky" and Stub.calls[model] % 2 == 1:
            return self._send(503, '{"error": {"message": "warming up"}}', headers=[("retry-after", "0")])
        if model == "broken":
            return self._send(200, "<html>not the API</html>", "application/json")
        if model == "empty":
            return self._send(200, json.dumps({"id": "x", "object": "text_completion", "created": 0,
                                               "model": model, "choices": []}))
        if model == "secret":
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            return self._send(401, json.dumps({"error": {"message": f"bad key {key}"}}))
        answer = json.dumps(logprob_answer(body))
        if body.get("stream"):  # one SSE chunk, then the end marker
            return self._send(200, f"data: {answer}\n\ndata: [DONE]\n\n", "text/event-stream")
        self._send(200, answer)


def logprob_answer(body: dict) -> dict:
    """A completion with echo + logprobs: one token per word, log-probability -len(word) unless 'positive'."""
    prompt = body["prompt"]
    words, offsets, start = [], [], 0
    for word in prompt.split(" "):
        piece = word if start == 0 else " " + word
        words.append(piece)
        offsets.append(start)
        start += len(piece)
    values = [None] + [-0.1 if w.strip() == "positive" else -float(len(w)) for w in words[1:]]
    tokens, text = (words, prompt) if body.get("echo") else ([], "")
    tokens, offsets, values = tokens + [" ok"], (offsets if body.get("echo") else []) + [start], \
        (values if body.get("echo") else []) + [-0.5]
    logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": None}
    return {"id": "x", "object": "text_completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "text": text + " ok", "finish_reason": "length", "logprobs": logprobs}],
            "usage": {"prompt_tokens": len(words), "completion_tokens": 1, "total_tokens": len(words) + 1}}
