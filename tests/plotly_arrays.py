"""Reading plotly figure specs in tests: plotly 7 writes numeric arrays as base64 with a dtype and shape."""

from __future__ import annotations

import base64
import json

import numpy as np


def plotly_array(value, dtype=None) -> np.ndarray:
    """A data array of a figure spec as numpy: a plain list, or {"dtype", "bdata", "shape"?} in base64."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape(tuple(int(s) for s in value["shape"].split(","))) if "shape" in value else flat
    return np.asarray(value, dtype=dtype)


def chart_spec(chart) -> dict:
    """The plotly figure JSON of an AppTest plotly_chart element."""
    return json.loads(chart.proto.spec)


def chart_array(chart, key: str, trace: int = 0) -> np.ndarray:
    """One data array (x, y, z…) of one trace of an AppTest plotly_chart element."""
    return plotly_array(chart_spec(chart)["data"][trace][key])
