"""Calibrators applied to the rows they did not fit, batch by batch (out of fold), and the consumers that
feed such rows to measurement states in one pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.base import Calibrator, with_probs
from calibcli.calibrators.rows import FitLayout, row_keys
from calibcli.engine.batches import Batch
from calibcli.predictions import Predictions, Task, scaled_softmax, sigmoid


@dataclass(frozen=True)
class OutOfFold:
    """Calibrates the evaluated rows of a batch, each by a model that did not fit it (holds no data).

    ``layout`` decides from each row's key which model scores it (-1: the row
    fitted the only model and is not evaluated); ``calibrators[method][m]`` is
    model m of each method.
    """

    layout: FitLayout
    calibrators: dict[str, tuple[Calibrator, ...]]

    def evaluated(self, batch: Batch) -> np.ndarray | None:
        """Positions of the batch's evaluated rows (None: all of them)."""
        model = self.layout.scoring_model(row_keys(batch))
        return None if bool(np.all(model >= 0)) else np.flatnonzero(model >= 0)

    def calibrate(self, batch: Batch, method: str, rows: np.ndarray | None = None,
                  model: np.ndarray | None = None) -> Predictions:
        """Out-of-fold calibrated predictions of the batch's evaluated rows (``rows``: their positions)."""
        if model is None:
            model = self.layout.scoring_model(row_keys(batch))
        preds = batch.predictions if rows is None else batch.predictions.subset(rows)
        model = model if rows is None else model[rows]
        cals = self.calibrators[method]
        if len(cals) == 1:
            return cals[0].transform(preds)
        if method == "temperature" and all(len(c.temperature) == 1 for c in cals):
            # one T per row from its model: a single blockwise pass
            from calibcli.calibrators.base import log_scores

            cals[0].check_compatible(preds)
            from calibcli.predictions import exact_logits

            t_row = np.array([c.temperature[0] for c in cals])[model]
            if preds.task is Task.MULTILABEL:
                with np.errstate(over="ignore"):
                    probs = sigmoid(log_scores(preds) / t_row[:, None])
            else:
                z = exact_logits(preds)  # float32 logits are widened block by block (the same numbers)
                if z is not None:  # --- lazy: probs = scaled_softmax(z, t_row) on first use; a MeasureState fuses it
                    from calibcli.predictions import TemperedPredictions

                    return TemperedPredictions(z, t_row, preds.labels, preds.classes, preds.task,
                                               (*preds.score_kind_evidence, f"calibrated by {method}"))
                probs = scaled_softmax(log_scores(preds), t_row)
            return with_probs(preds, probs, method)
        probs = np.empty(preds.probs.shape)
        for m, cal in enumerate(cals):
            sel = np.flatnonzero(model == m)
            if sel.size:
                probs[sel] = cal.transform(preds.subset(sel)).probs
        return with_probs(preds, probs, method)

    def pairs(self, batch: Batch, methods: tuple[str, ...]) -> tuple[Batch, dict[str, Batch]] | None:
        """The batch's evaluated rows (raw) and, per method, the same rows calibrated; None when no row is evaluated."""
        model = self.layout.scoring_model(row_keys(batch))
        rows = None if bool(np.all(model >= 0)) else np.flatnonzero(model >= 0)
        if rows is not None and rows.size == 0:
            return None
        raw = batch if rows is None else Batch(batch.predictions.subset(rows), batch.rows[rows],
                                               None if batch.ids is None else batch.ids[rows])
        out = {m: Batch(self.calibrate(batch, m, rows, model), raw.rows, raw.ids) for m in methods}
        return raw, out


class EvaluatedOnly:
    """Feeds only the evaluated rows of each batch to a state (quantile edges of the split's held-out rows)."""

    def __init__(self, state, layout: FitLayout):
        self.state, self.layout = state, layout

    def update(self, batch: Batch) -> None:
        model = self.layout.scoring_model(row_keys(batch))
        if bool(np.all(model >= 0)):
            self.state.update(batch)
        elif (model >= 0).any():
            rows = np.flatnonzero(model >= 0)
            self.state.update(Batch(batch.predictions.subset(rows), batch.rows[rows],
                                    None if batch.ids is None else batch.ids[rows]))

    def merge(self, other: "EvaluatedOnly") -> "EvaluatedOnly":
        """Add the rows of ``other`` (a replica fed other rows), in place."""
        from calibcli.engine.local import merge_into

        merge_into(self.state, other.state)
        return self

    def finalize(self):
        return self.state.finalize()


class PairFeeder:
    """Feeds each batch's evaluated rows, raw and calibrated per method, to measurement states (one pass)."""

    def __init__(self, oof: OutOfFold, methods: tuple[str, ...], per_method: dict[str, list], raw_states: list,
                 pair_consumers: tuple = ()):
        self.oof, self.methods, self.per_method, self.raw_states = oof, methods, per_method, raw_states
        self.pair_consumers = pair_consumers
        self.rows = 0

    def update(self, batch: Batch) -> None:
        got = self.oof.pairs(batch, self.methods)
        if got is None:
            return
        raw, cal = got
        self.rows += raw.n_rows
        for s in self.raw_states:
            s.update(raw)
        for m, states in self.per_method.items():
            for s in states:
                s.update(cal[m])
        for c in self.pair_consumers:
            c.update_pair(raw, cal[self.methods[0]])

    def merge(self, other: "PairFeeder") -> "PairFeeder":
        """Add the rows of ``other`` (a replica fed other rows) to every state, in place."""
        from calibcli.engine.local import merge_into

        for m, states in self.per_method.items():
            for s, o in zip(states, other.per_method[m], strict=True):
                merge_into(s, o)
        for s, o in zip(self.raw_states, other.raw_states, strict=True):
            merge_into(s, o)
        for c, o in zip(self.pair_consumers, other.pair_consumers, strict=True):
            merge_into(c, o)
        self.rows += other.rows
        return self
