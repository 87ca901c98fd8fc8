"""Text in plots: CJK, emoji and '$' in class names draw without a warning or a crash; what cannot be
drawn is said once, in calib's words; no other library's warning reaches stderr."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from calibcli.audit import build_audit
from calibcli.loading import LoadOptions, load_predictions
from calibcli.plotdata import classes_data, confidence_data, reliability_data
from calibcli.render.plots import Fonts, font_note, installed_fonts, render_all
from tests.cli_helpers import run

NAMES = ("猫", "🐶", "café")


def write_multiclass(path, names=NAMES, n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, len(names))) * 2
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, len(names) - 1)
    lines = ["label," + ",".join("p_" + c for c in names)]
    lines += [names[y[i]] + "," + ",".join(f"{v:.6f}" for v in p[i]) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_unicode_class_names_leave_stderr_clean_in_a_strict_process(tmp_path):
    """``python -W error``: any warning (numpy, matplotlib glyphs) would be an exception, so exit 3."""
    data = write_multiclass(tmp_path / "pets.csv")
    proc = subprocess.run([sys.executable, "-W", "error", "-m", "calibcli", "--no-config", "audit", str(data),
                           "--plots", str(tmp_path / "plots"), "-q"],
                          capture_output=True, text=True, encoding="utf-8", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # -q: nothing at all, not matplotlib's "Glyph ... missing", not numpy's RuntimeWarning
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["classes.png", "confidence.png", "reliability.png"]


def test_unicode_class_names_in_process_record_no_warning(tmp_path):
    data = write_multiclass(tmp_path / "pets.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run(["--no-config", "audit", data, "--plots", tmp_path / "plots"])
    assert res.exit_code == 0, res.stderr
    assert [str(w.message) for w in caught] == []
    assert "Warning" not in res.stderr and "findfont" not in res.stderr and "Glyph" not in res.stderr
    fonts = installed_fonts()
    if fonts.missing("".join(NAMES)):  # said once, in calib's words, naming the characters
        notes = [line for line in res.stderr.splitlines() if line.startswith("note: no installed font")]
        assert len(notes) == 1, res.stderr
        for ch in fonts.missing("".join(NAMES)):
            assert f"U+{ord(ch):04X}" in notes[0]
    assert "é" not in "".join(fonts.missing("café"))  # DejaVu Sans has it: drawn as is


def test_dollar_signs_in_class_names_are_not_mathtext(tmp_path):
    """'$\\frac$' would be parsed as mathtext and crash the drawing; it is drawn literally."""
    data = write_multiclass(tmp_path / "money.csv", names=("$\\frac$", "b$x$", "c"))
    rep = build_audit(load_predictions([str(data)], LoadOptions()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pngs = render_all(reliability_data(rep), classes_data(rep), confidence_data(rep))
    assert set(pngs) == {"reliability.png", "classes.png", "confidence.png"}


def test_binary_emoji_positive_class_in_titles_and_axis_labels(tmp_path):
    data = tmp_path / "b.csv"
    data.write_text("label,p_🐶\n🐶,0.9\nno,0.2\n🐶,0.7\nno,0.4\n🐶,0.6\nno,0.1\n", encoding="utf-8")
    rep = build_audit(load_predictions([str(data)], LoadOptions()))
    figures = (reliability_data(rep), classes_data(rep), confidence_data(rep))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_all(*figures)
    note = font_note(*figures)
    assert (note is None) == (not installed_fonts().missing("🐶"))


def test_drawable_text():
    fonts = Fonts(("DejaVu Sans",), frozenset(map(ord, "abc é\n")))
    assert fonts.drawable("a\nb") == "a\nb"
    assert fonts.drawable("a🐶b") == "a<U+1F436>b"
    assert fonts.drawable("a$b") == "a\\$b"
    assert fonts.drawable("a\tb") == "a b"  # control characters: a space
    assert fonts.drawable("a\u200db\ufe0f") == "ab"  # invisible joiners and variation selectors: dropped
    assert fonts.missing("abc🐶🐶猫\u200d") == ["🐶", "猫"]


def test_font_families_are_installed_ones_with_dejavu_first():
    fonts = installed_fonts()
    assert fonts.families[0] == "DejaVu Sans"
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    assert set(fonts.families) <= names  # never a family matplotlib would log as "not found"
    assert ord("A") in fonts.coverage and ord("é") in fonts.coverage


@pytest.mark.parametrize("names", [NAMES, ("$\\frac$", "b", "c")])
def test_png_bytes_stay_deterministic(tmp_path, names):
    data = write_multiclass(tmp_path / "f.csv", names=names)
    rep = build_audit(load_predictions([str(data)], LoadOptions()))
    a = render_all(reliability_data(rep), classes_data(rep), confidence_data(rep))
    b = render_all(reliability_data(rep), classes_data(rep), confidence_data(rep))
    assert a == b
