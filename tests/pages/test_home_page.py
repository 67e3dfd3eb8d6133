"""The app shell: home page card, page list, and the prompt that follows the user."""

from __future__ import annotations

import ast
from pathlib import Path

from ui import widgets

APP = Path(__file__).resolve().parents[2] / "app.py"


def _registered_titles() -> list[str]:
    """Every st.Page(..., title=...) in app.py, read from its source (the list the sidebar shows)."""
    calls = [node for node in ast.walk(ast.parse(APP.read_text())) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "Page"]
    return [ast.literal_eval(k.value) for call in calls for k in call.keywords if k.arg == "title"]


def test_home_shows_the_model_card(make_app):
    at = make_app().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Layers"] == "2"
    assert metrics["Heads"] == "4"
    assert metrics["d_model"] == "32"
    assert any("tiny-llama" in m.value for m in at.markdown)


def test_sidebar_offers_bundled_models_and_custom(make_app):
    at = make_app().run()
    options = at.sidebar.selectbox(key="model_choice").options
    assert "SmolLM2-135M-Instruct" in options and "all-MiniLM-L6-v2" in options
    assert any(o.startswith("Other") for o in options)


def test_unknown_custom_model_shows_an_error_not_a_crash(make_app):
    # Set before the first run: AppTest loses sidebar widgets on reruns under st.navigation.
    at = make_app()
    at.session_state["model_choice"] = widgets.CUSTOM
    at.session_state["model_custom"] = "no-such-model"
    at.run()
    assert not at.exception
    assert any("Unknown model 'no-such-model'" in e.value for e in at.error)


def test_prompt_follows_the_user_to_another_page(make_app):
    at = make_app().run()
    at.text_area(key="prompt").set_value("Bonjour 👋 <b>tout</b> le monde").run()
    at.switch_page("app_pages/tokens.py").run()
    assert not at.exception
    at.switch_page("app_pages/home.py").run()
    assert at.text_area(key="prompt").value == "Bonjour 👋 <b>tout</b> le monde"


def test_home_says_what_every_registered_page_teaches(make_app):
    titles = _registered_titles()
    assert "Why this token?" in titles and len(titles) >= 10  # the walk found the page list
    at = make_app().run()
    assert not at.exception
    text = "\n".join(md.value for md in at.markdown)
    missing = [t for t in titles if t != "Home" and f"- **{t}**:" not in text]
    assert not missing, f"Home's list leaves out {missing}"
