"""Cut the bundled real-data slice from the workplace's shared data (run once; output committed).

Source: ../shared/data/real/plambda_cifar10_vgg16 (VGG-16 on CIFAR-10, softmax
probabilities, from GitHub p-lambda/verified_calibration, MIT). We keep rows
0..1999 in file order and name the classes from its classes.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "shared" / "data" / "real" / "plambda_cifar10_vgg16"


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    df = pd.read_parquet(src / "data.parquet").iloc[:2000]
    names = json.loads((src / "classes.json").read_text())
    out = pd.DataFrame({"label": [names[i] for i in df["label"]]})
    for i, name in enumerate(names):
        out[f"p_{name}"] = df[f"p_{i}"].astype("float64")
    out.to_csv(HERE / "cifar10_vgg16_real.csv", index=False, float_format="%.9g")


if __name__ == "__main__":
    main()
