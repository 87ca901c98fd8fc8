"""NumPy ``.npz`` prediction files: arrays of labels and of logits or probabilities
(as saved from Keras or PyTorch) turned into the usual columns."""

from __future__ import annotations

from calibcli.errors import InputError
from calibcli.sources.sniffing import byte_desc, enc_name

# NumPy .npz: which arrays hold what (see README "Input formats")
NPZ_LABELS = ("labels", "label", "y_true", "y", "targets", "target")
NPZ_PROBS = ("probs", "probabilities", "y_prob", "y_proba", "proba")
NPZ_LOGITS = ("logits",)
NPZ_CLASSES = ("classes", "class_names")


def _pick(arrays: dict, names: tuple[str, ...], what: str, source: str) -> str | None:
    lower = {k.lower(): k for k in arrays}
    found = [lower[n] for n in names if n in lower]
    if len(found) > 1:
        raise InputError(f"{source}: several arrays could hold the {what} ({', '.join(found)}). "
                         f"Keep one of them, named {names[0]}.")
    return found[0] if found else None


def npz_to_table(arrays: dict, source: str, encoding: str = "utf-8"):
    """The columns calib reads, from the arrays of a NumPy ``.npz`` file.

    Array names (case-insensitive): labels in ``labels`` (or ``label``, ``y_true``,
    ``y``, ``targets``, ``target``); scores in ``logits`` (giving ``logit_<class>``
    columns) and/or ``probs`` (or ``probabilities``, ``y_prob``, ``y_proba``,
    ``proba``; giving ``p_<class>``); optional class names in ``classes`` (or
    ``class_names``). Scores have shape (n,) (binary: the score of the positive class)
    or (n, K). Labels have shape (n,) (class indices or names) or (n, K) with 0/1
    entries: multilabel ``y_<class>`` columns, plus a ``label`` column of class
    indices when every row has exactly one 1 (one-hot multiclass labels, as Keras
    saves them). Other 1-D arrays of length n become columns of their own name (e.g.
    ``ids`` for ``--id-col ids``).

    Examples
    --------
    >>> import numpy as np
    >>> t = npz_to_table({"labels": np.array([0, 1]), "logits": np.array([[1.0, 0.0], [0.0, 2.0]])}, "f.npz")
    >>> t.column_names
    ['label', 'logit_0', 'logit_1']
    """
    import numpy as np
    import pyarrow as pa

    label_key = _pick(arrays, NPZ_LABELS, "labels", source)
    prob_key = _pick(arrays, NPZ_PROBS, "probabilities", source)
    logit_key = _pick(arrays, NPZ_LOGITS, "logits", source)
    class_key = _pick(arrays, NPZ_CLASSES, "class names", source)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items()) or "none"
    if label_key is None or (prob_key is None and logit_key is None):
        raise InputError(
            f"{source}: a NumPy .npz file needs an array of labels (named labels, y_true or y) and one of scores "
            f"(named logits, or probs / y_prob for probabilities); its arrays are: {shapes}. "
            "Save it as np.savez(path, labels=y, logits=z) (or probs=p)."
        )
    labels = np.asarray(arrays[label_key])
    n = labels.shape[0] if labels.ndim else 0
    if labels.ndim not in (1, 2) or n == 0:
        raise InputError(f"{source}: the labels array '{label_key}' has shape {tuple(labels.shape)}; "
                         "it needs one entry per row (n,) or one 0/1 column per label (n, K).")
    scores = {}
    k = None
    for key in (logit_key, prob_key):
        if key is None:
            continue
        a = np.asarray(arrays[key])
        if a.ndim not in (1, 2) or a.shape[0] != n:
            raise InputError(f"{source}: the scores array '{key}' has shape {tuple(a.shape)} but the labels '{label_key}' "
                             f"have {n} rows; scores need shape ({n},) or ({n}, K).")
        if a.dtype.kind not in "fiub":
            raise InputError(f"{source}: the scores array '{key}' holds {a.dtype} values; save numbers (floats).")
        a = a.reshape(n, -1) if a.ndim == 2 else a[:, None]
        if k is not None and a.shape[1] != k:
            raise InputError(f"{source}: the arrays '{logit_key}' and '{prob_key}' have different numbers of columns.")
        k = a.shape[1]
        scores[key] = a
    if class_key is not None:
        names = [_text(v, encoding, source, class_key) for v in np.asarray(arrays[class_key]).reshape(-1).tolist()]
    else:
        names = [str(i) for i in range(k)] if k > 1 else ["1"]
    if k == 1 and len(names) == 2:
        names = names[1:]  # binary classes (negative, positive): one score column is the positive class's
    if len(names) != k:
        raise InputError(f"{source}: the class names array '{class_key}' has {len(names)} entries but the scores have "
                         f"{k} column{'s' if k != 1 else ''}.")
    if len(set(names)) != len(names):
        raise InputError(f"{source}: the class names array '{class_key}' repeats names; give each class once.")
    cols: dict[str, pa.Array] = {}
    if labels.ndim == 1:
        cols["label"] = _label_array(labels, encoding, source, label_key)
    else:
        if labels.shape[1] != k:
            raise InputError(f"{source}: the labels array '{label_key}' has {labels.shape[1]} columns but the scores have {k}; "
                             "2-D labels need one 0/1 column per class.")
        one_hot = bool(np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all())
        if one_hot:
            idx = labels.argmax(axis=1)
            cols["label"] = pa.array(idx) if class_key is None else pa.array([names[i] for i in idx], type=pa.string())
        for j, c in enumerate(names):
            cols[f"y_{c}"] = pa.array(labels[:, j])
    for key, prefix in ((logit_key, "logit_"), (prob_key, "p_")):
        if key in scores:
            a = scores[key]
            if a.dtype == np.float16:
                a = a.astype(np.float32)
            for j, c in enumerate(names):
                cols[f"{prefix}{c}"] = pa.array(np.ascontiguousarray(a[:, j]))
    used = {label_key, prob_key, logit_key, class_key}
    for key, v in arrays.items():
        a = np.asarray(v)
        if key not in used and a.ndim == 1 and a.shape[0] == n and key not in cols:
            cols[key] = _label_array(a, encoding, source, key)
    return pa.table(cols)


def _text(v, encoding: str, source: str, key: str) -> str:
    if not isinstance(v, bytes):
        return str(v)
    try:
        return v.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: the array '{key}' holds bytes that are not valid {enc_name(encoding)} text ({byte_desc(exc)}). "
            "Save text as str arrays (np.array(names, dtype=str)), or pass the encoding with --encoding."
        ) from None


def _label_array(a, encoding: str, source: str, key: str):
    import pyarrow as pa

    if a.dtype.kind in "SU":
        return pa.array([_text(v, encoding, source, key) for v in a.tolist()], type=pa.string())
    if a.dtype.kind == "f" and a.dtype.itemsize == 2:
        a = a.astype("float32")
    return pa.array(a)


def read_npz(src, display: str, encoding: str = "utf-8"):
    """The table of a NumPy ``.npz`` file (``src``: a path or a seekable binary file object).

    Arrays holding Python objects (pickled) are refused, never loaded.
    """
    import numpy as np

    from calibcli.sources.sniffing import printable

    try:
        with np.load(src, allow_pickle=False) as npz:
            arrays = {}
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError:
                    raise InputError(
                        f"{display}: the array '{key}' holds Python objects (pickled), which calib never loads. "
                        "Save plain arrays: integers or np.array(labels, dtype=str) for labels, floats for scores."
                    ) from None
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{display}: cannot read the file as NumPy .npz ({printable(str(exc))}). "
                         "It may be truncated; save it again with np.savez.") from None
    return npz_to_table(arrays, display, encoding)
