"""Share links: the URL carries the page, model, prompt and each page's main choices, and restores them.

Why not `bind="query-params"` on each widget: a bound widget drops a bad URL value silently (no notice is
possible), booleans must read true/false, a bound parameter can't be written through `st.query_params`
(so the compressed prompt could not sit beside it safely), and the backend's copy of bound parameters is
not refreshed on same-page reruns. Instead this module reads the URL once per session (validated by
core.share_state, with a notice for anything rejected) and writes the whole URL after every run, so the
address bar and the "Copy link" button always hold the same link.
"""

from __future__ import annotations

import html
import importlib
from urllib.parse import urlencode

import streamlit as st

import core
from core import prompting
from core import share_state as state
from core.share_state import Field
from ui import settings, startup, widgets

BLOB = "s"  # the compressed state: prompt and other free text
PRESENT = startup.PRESENT
NOTICES = "share_notices"
LINKED = widgets.LINKED
IGNORED = frozenset({"embed", "embed_options"})  # Streamlit's own

# Each section declares its choices once (ui.choices.Choice): the widget and the link field come from it.
# A page's sections are imported when that page runs, not here: importing every page's section would load
# captum, peft and scipy for every page.
PAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "attention": ("attention_ui",),
    "generation": ("generation_ui",),
    "prompting": ("prompting_ui",),
    "why": ("why_ui",),
    "embeddings": ("embeddings_ui",),
    "tokens": ("tokens_ui",),
    "deploy": ("deploy_ui",),
    "adapt": ("adapt_steer_ui", "adapt_ui"),
}
SETTINGS_FIELDS: dict[str, tuple[Field, ...]] = {  # the sidebar's generation settings these pages use
    "generation": (*settings.SAMPLING, settings.MAX_NEW_TOKENS),
    "prompting": (*settings.SAMPLING, settings.LABEL_TOKENS),
}


def _section(name: str):
    return importlib.import_module(f"ui.sections.{name}")


def page_fields(page: str) -> tuple[Field, ...]:
    """The choices a link carries for this page (its sections' CHOICES, then the sidebar settings it uses)."""
    declared = tuple(field for name in PAGE_SECTIONS.get(page, ()) for field in _section(name).CHOICES)
    return declared + SETTINGS_FIELDS.get(page, ())


# Free text travels in the blob: session key → (name in the blob, its default, the page it belongs to; None: all).
BLOB_TEXTS = {
    "prompt": ("prompt", lambda: widgets.DEFAULT_PROMPT, None),
    "genpage_word": ("word", lambda: " Paris", "generation"),
    "why_typed": ("why_typed", lambda: " Paris", "why"),
    "why_clean": ("why_clean", lambda: _section("why_ui").CLEAN, "why"),
    "why_corrupt": ("why_corrupt", lambda: _section("why_ui").CORRUPT, "why"),
    "ad_steer_prompt": ("steer_prompt", lambda: _section("adapt_steer_ui").PROMPT, "adapt"),
}


def _global_fields() -> tuple[Field, ...]:
    models = tuple(dict.fromkeys([widgets.default_model(), *core.list_models()]))
    model = Field("model", "choice", models[0], choices=models, list_choices=False)
    return model, Field(PRESENT, "bool", False)


def restore(page: str) -> None:
    """Once per session: seed the widgets from the URL; keep a notice for every parameter not used."""
    if st.session_state.get("share_restored"):
        return
    st.session_state["share_restored"] = True
    raw = st.query_params.to_dict()
    fields = _global_fields() + page_fields(page)
    values, problems = state.read_params(raw, fields)
    known = {field.key for field in fields} | {BLOB} | IGNORED
    problems += [f"{state.quoted(key)} is not a setting of this page" for key in raw if key not in known]
    if "model" in values:
        st.session_state["model_choice"] = values.pop("model")
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[LINKED] = set(values)  # pages check these against the model (ui.widgets.linked_index)
    if raw.get(BLOB):
        problems += _restore_blob(raw[BLOB], page)
    if problems:
        st.session_state[NOTICES] = {"page": page, "items": problems}


def _restore_blob(blob: str, page: str) -> list[str]:
    try:
        data = state.decode_state(blob)
    except ValueError as error:
        return [str(error)]
    problems = []
    for key, (name, _, home) in BLOB_TEXTS.items():
        if home not in (None, page):
            continue
        try:
            text = state.text_entry(data, name)
        except ValueError as error:
            problems.append(str(error))
            continue
        if text is not None:
            st.session_state[key] = text
    if page == "prompting" and "task" in data:
        try:
            task = state.task_entry(data["task"], tuple(prompting.FORMATS))
        except ValueError as error:
            problems.append(str(error))
        else:
            preset = st.session_state.get("pr_preset", next(iter(prompting.PRESETS)))
            prompting_ui = _section("prompting_ui")
            prompting_ui.set_base({**prompting_ui.preset_base(preset), **task})
    return problems


def show_notices(page: str) -> None:
    """The link's rejected parameters, at the top of the page it opened (until the reader leaves it)."""
    notices = st.session_state.get(NOTICES)
    if not notices:
        return
    if notices["page"] != page:
        del st.session_state[NOTICES]
        return
    items = "\n".join(f"- {item}" for item in notices["items"])
    st.warning(f"Some settings in this link could not be used, so their defaults are shown:\n\n{items}", icon="🔗")


def _current_values(page: str) -> dict[str, object]:
    keys = [field.key for field in page_fields(page)]
    values = {key: st.session_state[key] for key in keys if key in st.session_state}
    choice = st.session_state.get("model_choice")
    if choice and choice != widgets.CUSTOM:
        values["model"] = choice
    values[PRESENT] = bool(st.session_state.get(PRESENT))
    return values


def _blob_data(page: str) -> dict[str, object]:
    data = {}
    for key, (name, default, home) in BLOB_TEXTS.items():
        if home in (None, page):
            text = st.session_state.get(key)
            if isinstance(text, str) and text != default():
                data[name] = text
    if page == "prompting" and "pr_base" in st.session_state:
        preset, task = _task_now()
        start = _section("prompting_ui").preset_base(preset)
        if any(task[name] != (_rows(start[name]) if name == "examples" else start[name]) for name in task):
            data["task"] = task
    return data


def _rows(examples) -> list[list[str]]:
    return [list(row) for row in examples]


def _task_now() -> tuple[str, dict[str, object]]:
    """The Prompt strategies preset and editor as last applied (a form: its widgets change on Compare)."""
    base, version = st.session_state["pr_base"], st.session_state.get("pr_version", 0)
    task = {"examples": _rows(base["examples"])}
    for name, key in (("instruction", "pr_instruction"), ("query", "pr_query"), ("few_k", "pr_few_k"),
                      ("format", "pr_format")):
        task[name] = st.session_state.get(f"{key}_{version}", base[name])
    task["few_k"] = int(task["few_k"])
    return base["preset"], task


def link_params(page: str) -> tuple[dict[str, str], str | None]:
    """The URL parameters of the current view, and a message when the prompt is too long to carry."""
    params = state.write_params(_current_values(page), _global_fields() + page_fields(page))
    data = _blob_data(page)
    if not data:
        return params, None
    try:
        params[BLOB] = state.encode_state(data)
    except ValueError as error:
        return params, str(error)
    return params, None


def publish(page: str) -> None:
    """After the page ran: put the view in the address bar and offer it as a link in the sidebar."""
    params, problem = link_params(page)
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
    link = (st.context.url or "") + (f"?{urlencode(params)}" if params else "")
    with st.sidebar:
        st.subheader("Share this view")
        if problem:
            st.warning(f"{problem} The link below leaves the prompt out.", icon="✂️")
        elif st.session_state.get("model_choice") == widgets.CUSTOM:
            st.caption("A model from a local folder or the hub is not part of the link.")
        st.iframe(copy_button_html(link), height=44, alt="Copy link")
        with st.expander("Show the link"):
            st.code(link, language=None, wrap_lines=True)


def copy_button_html(link: str) -> str:
    """A "Copy link" button (our own few lines of JS, nothing loaded): copies the link, absolute."""
    return f"""<!doctype html><html><body style="margin:0;font-family:sans-serif">
<button id="copy" data-link="{html.escape(link, quote=True)}" style="width:100%;padding:8px;border-radius:8px;
 border:1px solid #b8c2cc;background:#fff;font-size:15px;cursor:pointer">📋 Copy link</button>
<script>
const button = document.getElementById("copy");
button.addEventListener("click", async () => {{
  const link = new URL(button.dataset.link, window.parent.location.href).href;
  try {{ await navigator.clipboard.writeText(link); }}
  catch (error) {{
    const box = document.createElement("textarea");
    box.value = link; document.body.appendChild(box); box.select(); document.execCommand("copy"); box.remove();
  }}
  button.textContent = "✅ Copied";
  setTimeout(() => {{ button.textContent = "📋 Copy link"; }}, 2000);
}});
</script></body></html>"""
