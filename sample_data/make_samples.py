"""Make the bundled sample prediction files (seeded; run: python sample_data/make_samples.py).

A simulated image classifier over five classes, one of them rare ('lizard', 3% of
rows). Each row has latent logits z whose softmax is the true class distribution;
the label is drawn from it, so softmax(z) is perfectly calibrated. The model
reports 2.2 * z (overconfident: temperature scaling with T ~ 2.2 fixes it) and
adds +1.5 to the rare class's logit (extra overconfident there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CLASSES = ["cat", "dog", "bird", "fish", "lizard"]
PRIOR = np.array([0.30, 0.27, 0.25, 0.15, 0.03])
OVERCONFIDENCE = 2.2
RARE_BOOST = 1.5


def simulate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Model logits (n, K) and labels drawn from the calibrated distribution."""
    k = len(CLASSES)
    centre = rng.choice(k, size=n, p=PRIOR)
    z = rng.normal(0.0, 0.9, size=(n, k)) + np.log(PRIOR)[None, :]
    z[np.arange(n), centre] += rng.gamma(2.0, 0.9, size=n)
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    u = rng.random(n)[:, None]
    labels = (u > np.cumsum(q, axis=1)).sum(axis=1)
    model = OVERCONFIDENCE * z
    model[:, -1] += RARE_BOOST
    return model, labels


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    rng = np.random.default_rng(20261123)
    logits, labels = simulate(3000, rng)
    probs = softmax(logits)
    names = np.array(CLASSES)[labels]

    mc = pd.DataFrame({"label": names, **{f"p_{c}": probs[:, j] for j, c in enumerate(CLASSES)}})
    # 7 significant digits: rows sum to 1 within 1e-6 and tiny probabilities stay non-zero
    mc.to_csv(HERE / "multiclass_probs.csv", index=False, float_format="%.7g")

    lg = pd.DataFrame({"label": names, **{f"logit_{c}": logits[:, j] for j, c in enumerate(CLASSES)}})
    lg.to_parquet(HERE / "multiclass_logits.parquet", index=False)

    pred = probs.argmax(axis=1)
    tl = pd.DataFrame({"label": names, "pred_label": np.array(CLASSES)[pred], "confidence": probs.max(axis=1)})
    tl.to_csv(HERE / "top_label.csv", index=False, float_format="%.7g")

    # binary: "is it a cat?" with one score column
    bl, by = simulate(2000, rng)
    p_cat = 1.0 / (1.0 + np.exp(-(bl[:, 0] - np.log(np.exp(bl[:, 1:]).sum(axis=1)))))
    pd.DataFrame({"label": (by == 0).astype(int), "p_cat": p_cat}).to_csv(HERE / "binary.csv", index=False, float_format="%.7g")

    # multilabel: four independent tags, each an overconfident sigmoid
    n = 2000
    tags = ["outdoor", "person", "vehicle", "animal"]
    base = np.array([0.4, 0.35, 0.15, 0.05])
    ml = {}
    for t, b in zip(tags, base):
        z = rng.normal(np.log(b / (1 - b)), 1.5, size=n)
        y = rng.random(n) < 1.0 / (1.0 + np.exp(-z))
        ml[f"y_{t}"] = y.astype(int)
        ml[f"p_{t}"] = 1.0 / (1.0 + np.exp(-1.8 * z))
    pd.DataFrame(ml).to_csv(HERE / "multilabel.csv", index=False, float_format="%.7g")

    # the previous release of the model, on the same 3,000 items (for --baseline):
    # noisier logits, less overconfident
    prev = softmax(logits / OVERCONFIDENCE * 1.6 + rng.normal(0.0, 0.8, size=logits.shape))
    pd.DataFrame({"label": names, **{f"p_{c}": prev[:, j] for j, c in enumerate(CLASSES)}}).to_csv(
        HERE / "previous_model.csv", index=False, float_format="%.7g")


if __name__ == "__main__":
    main()
