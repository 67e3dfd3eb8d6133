"""CSV downloads open in a spreadsheet as text: formula-looking cells are neutralised, numbers untouched."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from core.export import neutralise, safe_csv

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "plain", "a=b"]


def test_every_formula_start_gets_a_quote_and_nothing_else_changes():
    assert [neutralise(v) for v in HOSTILE] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\t=1", "plain", "a=b"]
    assert neutralise(-0.5) == -0.5 and neutralise(None) is None


def test_safe_csv_neutralises_cells_headers_and_index_but_not_numbers():
    frame = pd.DataFrame({"token": HOSTILE, "=score": np.linspace(-1, 1, len(HOSTILE))},
                         index=pd.Index([f"-{i}" for i in range(len(HOSTILE))], name="@row"))
    back = pd.read_csv(io.StringIO(safe_csv(frame, index=True)), keep_default_na=False)
    assert list(back.columns) == ["'@row", "token", "'=score"]
    assert back["'@row"].tolist() == [f"'-{i}" for i in range(len(HOSTILE))]
    assert back["token"].tolist()[:5] == ["'" + v for v in HOSTILE[:5]]
    assert back["'=score"].tolist() == list(np.linspace(-1, 1, len(HOSTILE)))  # negative numbers stay numbers
    for cell in back.astype(str).to_numpy().ravel():
        assert not cell.startswith(("=", "+", "@")), cell


def test_page_csv_builders_use_the_safe_writer():
    from ui.sections import embeddings_ui, tokens_ui

    labels = ("=1+1", "-x", "ok")
    vectors = pd.read_csv(io.StringIO(embeddings_ui.vectors_csv(np.ones((3, 2)), labels)))
    assert vectors["token"].tolist() == ["'=1+1", "'-x", "ok"]
    matrix = embeddings_ui.matrix_csv(np.eye(3), labels)
    assert "=1+1" in matrix  # kept, after its position prefix ("0:=1+1"), which is text already
    assert tokens_ui.safe_csv is safe_csv
