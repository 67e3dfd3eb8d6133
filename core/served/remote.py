"""Served models: which OpenAI-compatible endpoints the operator allows, and errors that say what to fix.

vLLM, TGI, Ollama, llama.cpp's llama-server and `transformers serve` all speak the OpenAI HTTP API;
the official `openai` client does the protocol. API keys live only in `Endpoint.api_key` (kept out of
its repr) and are scrubbed from every message.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    import openai

ENV_ENDPOINTS = "LLM_LENS_ENDPOINTS"
ENV_ALLOW_CUSTOM = "LLM_LENS_ALLOW_CUSTOM_ENDPOINT"
ENV_CONCURRENCY = "LLM_LENS_REMOTE_CONCURRENCY"
# vLLM batches whatever is in flight; 16 keeps a GPU server busy without flooding a small one.
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256
DEFAULT_TIMEOUT = 120.0  # seconds per request: a long few-shot prompt on a busy server can take a while
MAX_DETAIL_CHARS = 300
APIS = {"completions": "Completions (/v1/completions)", "chat": "Chat (/v1/chat/completions)"}


class RemoteError(ValueError):
    """A served model could not answer; the message says why and what to check, never the API key."""


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible server: a display name, its base URL (ending in /v1) and an optional key."""

    name: str
    base_url: str
    api_key: str = field(default="", repr=False)
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight at once during an evaluation
    timeout: float = DEFAULT_TIMEOUT

    @property
    def cache_id(self) -> str:
        """A plain cache key: name and URL plus a digest of the key, so another key never shares results."""
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:16]
        return f"{self.name}|{self.base_url}|{digest}"

    def scrub(self, text: str) -> str:
        """Text with the API key replaced, for anything that may reach a page or a log."""
        return text.replace(self.api_key, "•••") if self.api_key else text


def default_concurrency(environ: Mapping[str, str] = os.environ) -> int:
    """Requests in flight per evaluation: LLM_LENS_REMOTE_CONCURRENCY, else 16."""
    raw = environ.get(ENV_CONCURRENCY, "").strip()
    if not raw:
        return DEFAULT_CONCURRENCY
    return _concurrency(raw, ENV_CONCURRENCY)


def _concurrency(raw, where: str) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: concurrency must be a whole number, got {raw!r}.") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"{where}: concurrency must be between 1 and {MAX_CONCURRENCY}, got {value}.")
    return value


def check_base_url(url: str) -> str:
    """A base URL without trailing slash; ValueError unless it is http(s) with a host."""
    url = str(url or "").strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"'{url[:100]}' is not an http(s) URL with a host, like http://127.0.0.1:8000/v1.")
    if parsed.username or parsed.password:
        raise ValueError("Put the API key in 'api_key', not in the URL: URLs end up in logs.")
    return url


def parse_endpoints(config: str | Mapping, source: str = ENV_ENDPOINTS,
                    environ: Mapping[str, str] = os.environ) -> dict[str, Endpoint]:
    """Endpoints from JSON text or a mapping: {"name": {"base_url": ..., "api_key": ...}} or {"name": "url"}.

    Optional per endpoint: "api_key_env" (read the key from that environment variable),
    "concurrency" (1–256) and "timeout" (seconds). ValueError names the entry that is wrong.
    """
    if isinstance(config, str):
        try:
            config = json.loads(config) if config.strip() else {}
        except json.JSONDecodeError as error:
            raise ValueError(f"{source} is not valid JSON ({error.msg} at character {error.pos}).") from None
    if not isinstance(config, Mapping):
        raise ValueError(f"{source} must map endpoint names to settings, like "
                         '{"team-vllm": {"base_url": "http://host:8000/v1"}}.')
    fallback = default_concurrency(environ)
    return {str(name): _endpoint(str(name), entry, f"{source} '{name}'", fallback, environ)
            for name, entry in config.items()}


def _endpoint(name: str, entry, where: str, concurrency: int, environ: Mapping[str, str]) -> Endpoint:
    if isinstance(entry, str):
        entry = {"base_url": entry}
    if not isinstance(entry, Mapping) or "base_url" not in entry:
        raise ValueError(f"{where} needs a 'base_url'.")
    key = str(entry.get("api_key") or "")
    if entry.get("api_key_env"):
        key = environ.get(str(entry["api_key_env"]), "")
    try:
        timeout = float(entry.get("timeout", DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: timeout must be a number of seconds.") from None
    if not 0 < timeout <= 3600:
        raise ValueError(f"{where}: timeout must be between 0 and 3,600 seconds.")
    chosen = _concurrency(entry["concurrency"], where) if "concurrency" in entry else concurrency
    return Endpoint(name, check_base_url(entry["base_url"]), key, chosen, timeout)


def configured_endpoints(
    secrets: Mapping | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, Endpoint]:
    """Endpoints the operator configured: secrets.toml's [llm_lens.endpoints] first, then LLM_LENS_ENDPOINTS."""
    endpoints = parse_endpoints(secrets or {}, "secrets [llm_lens.endpoints]", environ)
    endpoints.update(parse_endpoints(environ.get(ENV_ENDPOINTS, ""), ENV_ENDPOINTS, environ))
    return endpoints


def custom_allowed(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the operator lets users type their own URL (LLM_LENS_ALLOW_CUSTOM_ENDPOINT=1)."""
    return environ.get(ENV_ALLOW_CUSTOM, "").strip().lower() in ("1", "true", "yes")


def custom_endpoint(url: str, api_key: str = "", environ: Mapping[str, str] = os.environ) -> Endpoint:
    """An endpoint typed on the page; ValueError unless the operator allows typed URLs."""
    if not custom_allowed(environ):
        raise ValueError(f"Typing a URL is switched off on this server (the operator can allow it with "
                         f"{ENV_ALLOW_CUSTOM}=1); choose a configured endpoint.")
    url = check_base_url(url)
    return Endpoint(urlparse(url).netloc, url, api_key.strip(), default_concurrency(environ))


def _openai():
    """The openai package, imported on first use: half a second that a page without a served model skips."""
    return import_module("openai")


def client(endpoint: Endpoint) -> openai.OpenAI:
    """An openai client for the endpoint; retries are ours (run_all), so the client's own are off."""
    # Servers without authentication still need a non-empty key for the client to start.
    return _openai().OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key or "none",
                         max_retries=0, timeout=endpoint.timeout)


def list_models(endpoint: Endpoint) -> tuple[str, ...]:
    """Model ids the server lists at /v1/models; RemoteError explains a failure."""
    try:
        page = client(endpoint).models.list()
        return tuple(model.id for model in page.data)
    except _openai().OpenAIError as error:
        raise explain(error, endpoint, "the model list") from None


def check_model(endpoint: Endpoint, model: str, available: tuple[str, ...]) -> None:
    """RemoteError naming the valid models when `model` is not among those the server lists."""
    if available and model not in available:
        shown = ", ".join(f"'{m}'" for m in available[:20]) + (" …" if len(available) > 20 else "")
        raise RemoteError(f"'{model[:100]}' is not served by '{endpoint.name}'; it serves: {shown}. A LoRA adapter "
                          "is served only if the server was started with it (vLLM: --enable-lora --lora-modules "
                          "NAME=FOLDER).")


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying with backoff: 429, 5xx, timeouts and dropped connections."""
    return isinstance(error, _openai().RateLimitError | _openai().InternalServerError | _openai().APIConnectionError)


def explain(error: Exception, endpoint: Endpoint, what: str = "the request") -> RemoteError:
    """A RemoteError saying what went wrong with `what` at this endpoint and what to check."""
    where = f"'{endpoint.name}'"
    if isinstance(error, RemoteError):
        return error
    if isinstance(error, _openai().APITimeoutError):
        message = f"{where} did not answer {what} within {endpoint.timeout:g} s (timeout); it may be overloaded."
    elif isinstance(error, _openai().APIConnectionError):
        message = _connection_message(error, endpoint, what)
    elif isinstance(error, _openai().APIStatusError):
        message = _status_message(error, where, what)
    elif isinstance(error, _openai().APIResponseValidationError | json.JSONDecodeError):
        message = (f"{where} answered {what} with something that is not OpenAI-style JSON: check that the base "
                   "URL points at the API (it usually ends in /v1), not at a web page.")
    else:
        message = f"{where} failed on {what}: {type(error).__name__}: {error}"
    return RemoteError(endpoint.scrub(message))


def _connection_message(error: Exception, endpoint: Endpoint, what: str) -> str:
    cause = _root_cause(error)
    host = urlparse(endpoint.base_url).netloc
    if isinstance(cause, socket.gaierror):
        return f"The host of '{endpoint.name}' ({host}) could not be found (DNS): check the spelling of the URL."
    if isinstance(cause, ConnectionRefusedError):
        return (f"Nothing answers at '{endpoint.name}' ({host}): connection refused while asking for {what}. "
                "Is the server running, on that port?")
    return f"Could not reach '{endpoint.name}' ({host}) for {what}: {cause}"


def _status_message(error: openai.APIStatusError, where: str, what: str) -> str:
    status, detail = error.status_code, _detail(error)
    if status == 401:
        return f"{where} rejected the API key (401) for {what}: check the key configured for it."
    if status == 403:
        return f"{where} refused access (403) to {what}: the key is not allowed to use it. {detail}"
    if status == 404:
        return (f"{where} has no such endpoint or model (404) for {what}: the base URL usually ends in /v1, and "
                f"some servers offer only the chat API. {detail}")
    if status == 429:
        return (f"{where} is rate-limiting (429) {what} even after retries: lower the concurrency "
                f"({ENV_CONCURRENCY}) or try again later.")
    if status >= 500:
        return f"{where} had a server error ({status}) on {what}, even after retries. {detail}"
    return f"{where} refused {what} ({status}). {detail}"


def _detail(error: openai.APIStatusError) -> str:
    """The server's own reason, short: FastAPI's "detail", OpenAI's error.message, or the body text."""
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error")
        body = body.get("detail") or (inner.get("message") if isinstance(inner, Mapping) else inner) or body
    text = str(body if body is not None else error.message).strip()
    return f"The server said: {text[:MAX_DETAIL_CHARS]}" if text else ""


def _root_cause(error: BaseException) -> BaseException:
    seen = error
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    return seen
