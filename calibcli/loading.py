"""From files to one validated in-memory ``Predictions``: a thin wrapper over the streaming source.

:func:`load_predictions` opens the input with
:func:`calibcli.engine.streaming.open_source` (pass 1: every check, with the
messages naming file, column, first rows and fix) and concatenates the validated
batches. Commands that stream take the source itself instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibcli.predictions import Predictions
from calibcli.validation.columns import ColumnSpec
from calibcli.validation.options import Adjustment, LoadOptions
from calibcli.validation.scores import (  # noqa: F401  (re-exported: other modules import them from here)
    FLOAT32_EVIDENCE,
    RANGE_TOL,
    ROW_SUM_TOL,
    column_to_float,
    detect_score_kind,
    fmt_beyond,
)

__all__ = ["Adjustment", "LoadOptions", "LoadedInput", "load_predictions", "FLOAT32_EVIDENCE", "RANGE_TOL",
           "ROW_SUM_TOL", "column_to_float", "detect_score_kind", "fmt_beyond"]


@dataclass(frozen=True)
class LoadedInput:
    """Validated predictions plus what was done to get them."""

    predictions: Predictions
    files: tuple[str, ...]
    columns: ColumnSpec
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    ids: np.ndarray | None = None  # row ids as text when ``LoadOptions.id_col`` is set
    adjustments: tuple[Adjustment, ...] = ()  # renormalized / dropped / clipped rows, in the order applied


def _fill(parts: list, n: int) -> np.ndarray:
    out = np.empty((n,) + parts[0].shape[1:], dtype=parts[0].dtype)
    pos = 0
    for p in parts:
        out[pos:pos + len(p)] = p
        pos += len(p)
    return out


class _Rows:
    """Collects every validated batch's arrays (a local pass only: it holds an entry per row)."""

    def __init__(self):
        self.parts: dict[str, list] = {"probs": [], "labels": [], "logits": [], "pred": [], "ids": []}

    def update(self, b) -> None:
        p = b.predictions
        self.parts["probs"].append(p.probs)
        self.parts["labels"].append(p.labels)
        if p.logits is not None:
            self.parts["logits"].append(p.logits)
        if p.pred_labels is not None:
            self.parts["pred"].append(p.pred_labels)
        if b.ids is not None:
            self.parts["ids"].append(b.ids)


def load_predictions(inputs: list[str] | tuple[str, ...], options: LoadOptions = LoadOptions()) -> LoadedInput:
    """Read, validate and convert prediction files into one pooled ``Predictions``.

    Parameters
    ----------
    inputs : file names or globs; ``-`` reads stdin.
    options : column and interpretation settings.

    Raises
    ------
    InputError
        With every problem found, each naming file, column, rows and fix.
    """
    from dataclasses import replace

    from calibcli.engine.local import feed
    from calibcli.engine.streaming import open_source

    # every row ends up here in memory, so the rows are read locally whatever the engine (a cluster would only
    # send them all to this process)
    local = replace(options, engine=replace(options.engine, engine="local", scheduler=None, workers=None))
    rows = _Rows()
    with open_source(inputs, local) as source:
        info = source.info
        feed(source, rows)
    parts = rows.parts
    n = info.n_rows
    joined = {k: _fill(v, n) if v else None for k, v in parts.items()}
    preds = Predictions(joined["probs"], joined["labels"], info.classes, info.task, info.score_kind, joined["logits"],
                        joined["pred"], info.score_kind_evidence)
    return LoadedInput(preds, info.files, info.columns, dict(info.dropped), tuple(info.warnings), joined["ids"],
                       tuple(info.adjustments))
