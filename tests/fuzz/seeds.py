"""Small valid inputs the fuzzer starts from: slices of the sample files and of the real data.

A seed is a table of Python values (``None``, ``int``, ``float``, ``str``) with
the arguments that make ``calib audit`` accept it. Rows are picked so every class
appears, and the original file order is kept.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data"
REAL = ROOT / "tests" / "data" / "real"


@dataclass(frozen=True)
class Seed:
    """A small valid prediction table and the extra arguments it needs."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    label_col: str = "label"
    extra_args: tuple[str, ...] = ()
    source: str = ""

    @property
    def label_index(self) -> int | None:
        return self.columns.index(self.label_col) if self.label_col in self.columns else None

    @property
    def score_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != self.label_col and c not in ("pred_label", "id"))

    @property
    def class_names(self) -> tuple[str, ...]:
        out = []
        for c in self.columns:
            for prefix in ("p_", "prob_", "proba_", "logit_", "y_"):
                if c.startswith(prefix) and c[len(prefix):] not in out:
                    out.append(c[len(prefix):])
                    break
        return tuple(out)


def _pick(labels: list[object], n: int) -> list[int]:
    """Row indices: the first row of every label value, then the first rows, ``n`` in all, in file order."""
    chosen: dict[object, int] = {}
    for i, lab in enumerate(labels):
        chosen.setdefault(lab, i)
    picked = set(list(chosen.values())[:n])
    i = 0
    while len(picked) < min(n, len(labels)):
        picked.add(i)
        i += 1
    return sorted(picked)


def _convert(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _from_csv(path: Path, n: int, label_col: str = "label") -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = tuple(next(reader))
        rows = [tuple(_convert(v) for v in row) for row in reader]
    li = header.index(label_col) if label_col in header else 0
    keep = _pick([r[li] for r in rows], n)
    return header, [rows[i] for i in keep]


def _from_parquet(path: Path, n: int, label_col: str = "label") -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    labels = table.column(label_col).to_pylist()
    keep = _pick(labels, n)
    rows = [tuple(c[i] for c in cols) for i in keep]
    return tuple(table.schema.names), rows


_SPECS: list[tuple[str, str, int, str, tuple[str, ...]]] = [
    # name, path relative to the checkout, rows, label column, extra arguments
    ("binary", "sample_data/binary.csv", 60, "label", ()),
    ("multiclass", "sample_data/multiclass_probs.csv", 80, "label", ()),
    ("previous", "sample_data/previous_model.csv", 80, "label", ()),
    ("logits", "sample_data/multiclass_logits.parquet", 80, "label", ()),
    ("multilabel", "sample_data/multilabel.csv", 60, "label", ()),
    ("top_label", "sample_data/top_label.csv", 80, "label", ()),
    ("cifar_real", "sample_data/cifar10_vgg16_real.csv", 60, "label", ()),
    ("news20_real", "tests/data/real/cleanlab_20news_cv/data.parquet", 80, "label", ()),
    ("imdb_real", "tests/data/real/cleanlab_imdb_cv/data.parquet", 60, "label", ()),
    ("wrn_float32_real", "tests/data/real/netcal_cifar10_wrn16-4/data.parquet", 60, "label", ()),
    ("densenet_top_real", "tests/data/real/hollance_markus93_densenet40_c10/data.parquet", 60, "label", ()),
    ("coco_real", "tests/data/real/netcal_coco_faster-rcnn-resnet-50_iou0.60/data.parquet", 60, "label", ()),
    ("belt_real", "tests/data/real/calibration_belt_example/data.csv", 60, "target",
     ("--label-col", "target", "--score-cols", "RF")),
]


@lru_cache(maxsize=None)
def load_seeds() -> tuple[Seed, ...]:
    """Every seed whose source file exists (the real data may be absent in a partial checkout)."""
    out = []
    for name, rel, n, label_col, extra in _SPECS:
        path = ROOT / rel
        if not path.exists():
            continue
        if path.suffix == ".parquet":
            header, rows = _from_parquet(path, n, label_col)
        else:
            header, rows = _from_csv(path, n, label_col)
        out.append(Seed(name, header, tuple(rows), label_col, extra, rel))
    return tuple(out)


def seed_named(name: str) -> Seed:
    for s in load_seeds():
        if s.name == name:
            return s
    raise KeyError(name)
