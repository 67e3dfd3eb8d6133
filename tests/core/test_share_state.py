"""Share-link state: the blob round-trips any text up to the cap; bad parameters are named, never raised past."""

import base64
import random
import zlib

import pytest

from core import share_state as share

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> 👍🏽 Ünïcödé 日本語 \n\t\x00 `code`"


def _prose(n: int) -> str:
    words = ["the", "model", "attends", "to", "every", "token", "émoji", "🙂", "</script>", "bank", "river"]
    rng = random.Random(0)
    text = ""
    while len(text) < n:
        text += rng.choice(words) + rng.choice([" ", " ", ", ", ".\n"])
    return text[:n]


@pytest.mark.parametrize("text", ["", "a", HOSTILE, "🙂" * 5_000, _prose(20_000), "x" * share.MAX_TEXT_CHARS])
def test_blob_round_trips_text(text):
    blob = share.encode_state({"prompt": text, "task": {"examples": [[text[:50], "label"]], "few_k": 3}})
    assert set(blob) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(blob) <= share.MAX_BLOB_CHARS
    decoded = share.decode_state(blob)
    assert decoded["prompt"] == text
    assert decoded["task"] == {"examples": [[text[:50], "label"]], "few_k": 3}


def test_blob_compresses_ordinary_text():
    text = _prose(20_000)
    assert len(share.encode_state({"prompt": text})) < len(text) / 2


def test_text_past_the_cap_is_refused_with_the_limit():
    with pytest.raises(ValueError, match="20,000"):
        share.encode_state({"prompt": "x" * (share.MAX_TEXT_CHARS + 1)})


def test_incompressible_text_past_the_link_cap_is_refused():
    rng = random.Random(1)
    text = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(share.MAX_TEXT_CHARS))
    with pytest.raises(ValueError, match="24,000"):
        share.encode_state({"prompt": text})


def _pack(raw: bytes) -> str:
    return base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        ("A" * (share.MAX_BLOB_CHARS + 1), "at most 24,000"),
        ("<script>alert(1)</script>", "characters a link never produces"),
        ("not-base64-zlib", "damaged"),
        (share.encode_state({"prompt": "hello world " * 50})[:-12], "damaged"),
        (_pack(b"[1, 2, 3]"), "not from this version"),
        (_pack(b'{"v": 99, "prompt": "x"}'), "not from this version"),
        (_pack(b"\xff\xfe not utf-8"), "damaged"),
        (_pack(b'{"v": 1, "pad": "' + b"a" * (share.MAX_STATE_BYTES + 10) + b'"}'), "more than 256,000 bytes"),
    ],
)
def test_bad_blobs_raise_a_message(blob, message):
    with pytest.raises(ValueError, match=message):
        share.decode_state(blob)


def test_text_entry_checks_type_and_length():
    assert share.text_entry({"prompt": "hi"}, "prompt") == "hi"
    assert share.text_entry({}, "prompt") is None
    with pytest.raises(ValueError, match="not text"):
        share.text_entry({"prompt": ["list"]}, "prompt")
    with pytest.raises(ValueError, match="at most 5"):
        share.text_entry({"prompt": "123456"}, "prompt", limit=5)


FIELDS = (
    share.Field("layer", "int", 0, 0, 29),
    share.Field("temp", "float", 1.0, 0.0, 2.0),
    share.Field("hide", "bool", False),
    share.Field("tab", "choice", "One head", choices=("One head", "Export")),
)


def test_params_round_trip_and_defaults_stay_out_of_the_link():
    values = {"layer": 7, "temp": 0.35, "hide": True, "tab": "Export"}
    params = share.write_params(values, FIELDS)
    assert params == {"layer": "7", "temp": "0.35", "hide": "1", "tab": "Export"}
    assert share.read_params(params, FIELDS) == (values, [])
    assert share.write_params({"layer": 0, "temp": 1.0, "hide": False, "tab": "One head"}, FIELDS) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"layer": "99"}, "outside 0…29"),
        ({"layer": "-1"}, "outside 0…29"),
        ({"layer": "three"}, "not an integer"),
        ({"temp": "nan"}, "not a finite number"),
        ({"temp": "1e309"}, "not a finite number"),
        ({"hide": "yes"}, "not 0 or 1"),
        ({"tab": "<script>alert(1)</script>"}, "not one of"),
        ({"layer": "9" * 500}, "at most 200"),
    ],
)
def test_bad_params_are_reported_and_dropped(raw, message):
    values, problems = share.read_params(raw, FIELDS)
    assert values == {}
    assert len(problems) == 1 and message in problems[0]


def test_a_field_can_keep_its_choices_out_of_the_message():
    secret = share.Field("model", "choice", "a", choices=("/srv/models/a", "b"), list_choices=False)
    _, problems = share.read_params({"model": "c"}, (secret,))
    assert problems == ["model=`c` is not available here"]


def test_messages_quote_values_as_inline_code():
    _, problems = share.read_params({"tab": "`x`</script>\nnext"}, FIELDS)
    assert "`'x'</script> next`" in problems[0]
