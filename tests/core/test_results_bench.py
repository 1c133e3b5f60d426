"""`python -m crm bench results` at a tiny size: ours and pandas give the same figures, and the
JSON carries the timings, the aim and the lift."""

from __future__ import annotations

import argparse
import json

from crm.bench import results


def test_bench_results_agrees_with_pandas_and_reports_its_figures():
    parser = argparse.ArgumentParser()
    results.add_arguments(parser)
    args = parser.parse_args(["--recipients", "2000", "--orders", "20000", "--customers", "4000", "--repeats", "1"])
    figures = results.run(args)
    assert json.loads(json.dumps(figures)) == figures
    assert set(figures) >= {
        "recipients",
        "messaged",
        "holdout",
        "orders",
        "customers",
        "ours_seconds",
        "pandas_seconds",
        "ratio_vs_pandas",
        "aim_seconds",
        "within_aim",
        "figures_agree",
        "lift_points",
    }
    assert figures["figures_agree"] is True and figures["aim_seconds"] == 1.0
    assert figures["messaged"] + figures["holdout"] == figures["recipients"] == 2000
    assert figures["orders"] == 20000
    groups = figures["figures"]
    assert groups["messaged"]["recipients"] == figures["messaged"]
    assert sum(groups[f"variant_{i}"]["converters"] for i in (1, 2)) == groups["messaged"]["converters"]
    assert figures["lift_points"] > 0  # the planted orders show
