"""Rendering of the statistics and the verdict (terminal at 80 columns, Markdown) and their JSON Schema fragments."""

from __future__ import annotations

import io
import json

import jsonschema
import numpy as np
import pytest
from rich.console import Console

from calibcli.bin_edges import BinEdges
from calibcli.engine.batches import InMemorySource
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.render.statistics_terminal import (statistics_markdown, statistics_renderable, verdict_markdown,
                                                 verdict_renderable)
from calibcli.statistics.plan import StatisticsBudget
from calibcli.statistics.run import measure_statistics
from calibcli.statistics.schema import fragment_schema, verdict_schema
from calibcli.verdict import decision_verdict


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(3000, 4)) * 2
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=np.sqrt(r) / np.sqrt(r).sum()) for r in probs])
    preds = Predictions(probs, labels, ("cat", "dog", "a very long class name indeed", "bird|x"), Task.MULTICLASS,
                        ScoreKind.PROBS)
    src = InMemorySource.from_predictions(preds, 1000)
    return measure_statistics(src, src.info, BinEdges.uniform(15), budget=StatisticsBudget(n_replicates=20,
                                                                                          max_full_classes=1))


def _render(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def test_terminal_fits_80_columns(result):
    text = _render(statistics_renderable(result), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Statistics (top label, n = 3000)" in text and "smooth ECE" in text and "Per class" in text
    assert "skipped for 3 class(es)" in text
    assert text == _render(statistics_renderable(result), 80)


def test_markdown_section(result):
    md = statistics_markdown(result)
    assert md.startswith("## Statistics (top label, n = 3000)")
    assert "| Cox slope |" in md and "bird\\|x" in md and "No interval:" in md


def test_fragment_validates(result):
    schema = fragment_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(result.to_dict(), allow_nan=False)))


def test_verdict_render_and_schema():
    v = decision_verdict(ece=0.19, ece_interval=(0.18, 0.2), ece_after=0.012, ece_after_interval=(0.008, 0.016),
                         calibrator="temperature", auroc=0.95, auroc_interval=(0.94, 0.96), threshold_before=0.9,
                         threshold_after=0.7)
    jsonschema.Draft202012Validator(verdict_schema()).validate(json.loads(json.dumps(v.to_dict())))
    text = _render(verdict_renderable(v), 80)
    assert max(len(line) for line in text.splitlines()) <= 80 and "WARN" in text and "threshold" in text
    md = verdict_markdown(v)
    assert md.startswith("## Verdict") and "- **OK** ranking: usable for ranking" in md
