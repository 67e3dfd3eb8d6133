"""Charts of the Deploy page: each plots the measured numbers it is given, in the units its axes name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from viz import deploy


def test_decode_steps_chart_plots_milliseconds_against_sequence_length():
    figure = deploy.decode_steps_chart(np.array([0.02, 0.01, 0.01]), np.array([0.02, 0.03, 0.04]), prompt_tokens=5)
    assert [t.name for t in figure.data] == ["with the KV cache", "without a cache"]
    assert list(figure.data[0].x) == [5, 6, 7]
    np.testing.assert_allclose(figure.data[1].y, [20, 30, 40])


def test_cache_growth_chart_in_megabytes():
    growth = pd.DataFrame({"tokens": [1, 100], "gqa_bytes": [46_080, 4_608_000], "mha_bytes": [138_240, 13_824_000]})
    figure = deploy.cache_growth_chart(growth)
    np.testing.assert_allclose(figure.data[0].y, [0.04608, 4.608])
    np.testing.assert_allclose(figure.data[1].y, [0.13824, 13.824])
    assert figure.layout.xaxis.title.text.startswith("tokens in the sequence")


def test_prefill_decode_chart_groups_measured_and_bounds_on_log_y():
    figure = deploy.prefill_decode_chart((300.0, 12.0), (900.0, 26.0))
    assert figure.layout.yaxis.type == "log" and figure.layout.barmode == "group"
    assert list(figure.data[0].y) == [300.0, 12.0] and list(figure.data[1].y) == [900.0, 26.0]


def test_batch_chart_has_throughput_and_latency_panels():
    table = pd.DataFrame({"batch": [1, 2, 4], "tokens_per_second": [10.0, 19.0, 35.0],
                          "latency_seconds": [1.6, 1.7, 1.8]})
    figure = deploy.batch_chart(table)
    assert list(figure.data[0].y) == [10.0, 19.0, 35.0] and list(figure.data[1].y) == [1.6, 1.7, 1.8]
    assert figure.layout.xaxis.type == "log"


def test_prefix_chart_in_milliseconds():
    figure = deploy.prefix_chart(0.5, 0.05, 400)
    np.testing.assert_allclose(figure.data[0].x, [500, 50])
    assert "400-token" in figure.data[0].y[0]


def test_formats_chart_escapes_format_names():
    table = pd.DataFrame({"format": ["float32", "<b>int8</b>"], "megabytes": [538.0, 170.0],
                          "decode_tokens_per_second": [13.0, 20.0], "perplexity": [9.5, 12.0]})
    figure = deploy.formats_chart(table)
    assert len(figure.data) == 3 and list(figure.data[2].y) == [9.5, 12.0]
    assert "<b>" not in "".join(figure.data[0].x)


@pytest.mark.parametrize("users", [[1, 10, 100]])
def test_capacity_chart_in_seconds_and_gigabytes(users):
    figure = deploy.capacity_chart(users, [1.0, 5.0, 50.0], [1e9, 2e9, 3e9])
    assert list(figure.data[0].y) == [1.0, 5.0, 50.0]
    np.testing.assert_allclose(figure.data[1].y, [1, 2, 3])
