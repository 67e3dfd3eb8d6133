"""CSV for download that spreadsheets open as text: cells that would start a formula are neutralised.

Excel and LibreOffice run a cell starting with `=`, `+`, `-` or `@` (or a tab / carriage return
before one) as a formula, so a token such as `=HYPERLINK(...)` or an uploaded row could run when a
student opens the file. Such text cells get a leading `'`, the spreadsheet convention for "text".
Numbers (including negative ones) are left alone: they are values, not text.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would read as a formula, prefixed with '; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _neutralise_index(index: pd.Index) -> pd.Index:
    if pd.api.types.is_numeric_dtype(index.dtype) or pd.api.types.is_bool_dtype(index.dtype):
        return index
    return pd.Index([neutralise(v) for v in index], name=neutralise(index.name))


def safe_csv(frame: pd.DataFrame, index: bool = False) -> str:
    """frame.to_csv with every text cell, column name and (when written) index label neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if not (pd.api.types.is_numeric_dtype(safe[column].dtype) or pd.api.types.is_bool_dtype(safe[column].dtype)):
            safe[column] = safe[column].map(neutralise)
    safe.columns = _neutralise_index(safe.columns)
    if index:
        safe.index = _neutralise_index(safe.index)
    return safe.to_csv(index=index)
