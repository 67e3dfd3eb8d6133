"""How a label's tokens are picked from an echoed prompt: by text offsets, and by the server's token counts where
the echoed token texts do not spell the text. The answers are built by hand in the two shapes servers send."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.served import remote_calls
from core.served.remote import RemoteError


class EchoApi:
    """completions.create(prompt=..., echo=True) answering from a table: prompt → (tokens, offsets, logprobs)."""

    def __init__(self, table: dict) -> None:
        self.table, self.asked = table, []
        self.completions = SimpleNamespace(create=self._create)

    def _create(self, prompt: str, **params):
        self.asked.append(prompt)
        tokens, offsets, values = self.table[prompt]
        logprobs = SimpleNamespace(tokens=tokens, text_offset=offsets, token_logprobs=values)
        usage = SimpleNamespace(prompt_tokens=len(tokens) - 1)  # all but the one generated token
        return SimpleNamespace(choices=[SimpleNamespace(logprobs=logprobs)], usage=usage)


def test_label_tokens_are_found_by_offset_including_empty_pieces():
    # "Label:" + " 🦜": the emoji's first byte-pieces come back as empty texts at its offset (vLLM's form).
    full = "Label: 🦜"
    api = EchoApi({full: (["Label", ":", "", "", " 🦜", "\n"], [0, 5, 6, 6, 6, 8],
                          [None, -1.0, -2.0, -3.0, -4.0, -9.0])})
    assert remote_calls.label_logprob(api, "m", "Label:", " 🦜") == pytest.approx(-9.0)
    assert api.asked == [full]  # one request


def test_token_texts_that_do_not_spell_the_text_fall_back_to_token_counts():
    # A server that decodes byte-pieces to U+FFFD: offsets shift, so the prompt's own token count decides.
    api = EchoApi({
        "Label: 🦜": (["Label", ":", "\ufffd", "\ufffd", " \ufffd", "\n"], [0, 5, 6, 7, 8, 10],
                     [None, -1.0, -2.0, -3.0, -4.0, -9.0]),
        "Label:": (["Label", ":", "\n"], [0, 5, 6], [None, -1.0, -7.0]),
    })
    assert remote_calls.label_logprob(api, "m", "Label:", " 🦜") == pytest.approx(-9.0)
    assert api.asked == ["Label: 🦜", "Label:"]


def test_no_label_tokens_is_an_error():
    api = EchoApi({"Label:": (["Label", ":", " x"], [0, 5, 6], [None, -1.0, -2.0])})
    with pytest.raises(RemoteError, match="do not cover the label"):
        remote_calls.label_logprob(api, "m", "Label:", "")
