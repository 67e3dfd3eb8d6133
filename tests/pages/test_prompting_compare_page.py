"""Prompt strategies page: intervals in the tables and charts, a paired comparison, a CLI summary loaded back."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import prompting
from core.prompting import cli
from ui.sections import prompting_eval_ui

ROOT = Path(__file__).resolve().parents[2]
SMALL = {  # short texts: the tiny model's context window is only 128 tokens
    "model": None, "preset": "Movie-review sentiment", "instruction": "Sentiment?",
    "examples": [["Loved it", "positive"], ["Hated it", "negative"], ["Great fun", "positive"]],
    "query": "So dull", "format": "plain", "few_k": 2, "sweep": [0, 1], "shuffles": 1, "mode": "rank",
    "items": [["Fun film", "positive"], ["Bad film", "negative"], ["Dull", "negative"], ["Great", "positive"]],
}


def _open(experiment: dict, name: str) -> AppTest:
    """The page with an experiment applied as the upload callback applies it (AppTest cannot upload)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    state: dict = {}
    loaded = prompting.experiment_from_json(prompting.experiment_to_json(experiment).encode())
    prompting_eval_ui.apply_experiment(state, loaded, name)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("app_pages/prompting.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_cli_summary_loads_beside_this_run_with_intervals_and_paired_tests(app_env, tmp_path):
    source = tmp_path / "experiment.json"
    source.write_text(prompting.experiment_to_json(SMALL))
    assert cli.main(["eval", str(source), "--out", str(tmp_path / "out")]) == cli.PASS
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    at = _open(summary, "summary.json")
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = next(s for s in specs if s["layout"]["title"]["text"] == "Accuracy per strategy")["data"]
    assert [b["name"] for b in bars] == ["Rank the labels", "Loaded: summary.json"]
    assert all(b.get("error_y", {}).get("type") == "data" for b in bars)  # both runs carry their intervals
    curve = next(s for s in specs if s["layout"]["title"]["text"] == "Accuracy against shots (k)")
    assert "95% CI" in curve["data"][0]["hovertemplate"]
    tables = [d.value for d in at.dataframe]
    versus = next(t for t in tables if "verdict" in t.columns)
    assert versus["strategy"].tolist() == ["zero-shot", "one-shot", "few-shot (k=2)"]
    assert (versus["items shared"] == 4).all()
    assert (versus["difference (points)"] == 0).all()  # same model, same items: the same answers
    assert all("not distinguishable from chance on 4 items" in v for v in versus["verdict"])
    strategies = next(t for t in tables if "accuracy 95% low" in t.columns)
    assert (strategies["accuracy 95% low"] <= strategies["accuracy"]).all()
    assert {"macro-F1 95% high", "ECE 95% low", "acc_norm", "acc_mutual_info"} <= set(strategies.columns)
    text = "\n".join(str(m.value) for m in at.markdown)
    assert "few-shot (k=2) vs zero-shot" in text or "beats" in text  # the paired comparison's sentence


def test_sampled_generation_repeats_list_spread_and_unstable_items(app_env):
    at = _open(SMALL, "small.json")
    at.button_group(key="pr_eval_modes").set_value(["generate"])
    at.toggle(key="gen_do_sample").set_value(True).run()
    at.number_input(key="pr_repeats").set_value(3)
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    text = "\n".join(str(m.value) for m in at.markdown)
    assert "Generate and match over 3 repeats" in text
    spread = next(d.value for d in at.dataframe if "std" in d.value.columns)
    assert spread["strategy"].tolist() == ["zero-shot", "one-shot", "few-shot (k=2)"]
    assert ((spread["min"] <= spread["mean"]) & (spread["mean"] <= spread["max"])).all()
    assert any("changed between repeats" in str(c.value) for c in at.caption)
