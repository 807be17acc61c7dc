"""``sknovel discover`` on bad input: one line naming the problem, checked before the work.

Every user error exits non-zero with exactly one line ``sknovel: error: ...`` on stderr and no
traceback, before any featurizing or ranking, and writes nothing. The report never replaces an
earlier one without ``--overwrite``, class names are label-indexed, and user strings (file and
class names) are shown literally in the terminal, the report and the pictures.
"""

import csv
import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sknovel import cli
from sknovel.cli import main
from sknovel.report import _stages

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

ROOT = Path(__file__).resolve().parents[1]


def write_folder(root, classes=("red", "green"), n_per_class=4, size=10):
    """Small random PNGs in one sub-folder per class; return the folder."""
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def fails(argv, capsys, match, status=2):
    """Run the command; check it failed with one line on stderr that matches `match`."""
    assert main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sknovel: error: ")
    assert "Traceback" not in captured.err + captured.out
    assert match in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if anything is featurized or ranked: checks must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("featurized or ranked before the arguments were checked")

    monkeypatch.setattr(_stages, "featurize", refuse)
    monkeypatch.setattr(_stages, "rank", refuse)


# --- the input ------------------------------------------------------------------------------


def test_missing_folder(tmp_path, capsys, no_work):
    argv = ["discover", "--images", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]
    fails(argv, capsys, "no such folder")
    assert not (tmp_path / "o").exists()


def test_empty_folder(tmp_path, capsys, no_work):
    (tmp_path / "empty").mkdir()
    argv = ["discover", "--images", str(tmp_path / "empty"), "--output", str(tmp_path / "o")]
    fails(argv, capsys, "No image files")
    assert not (tmp_path / "o").exists()


def test_folder_of_unreadable_files(tmp_path, capsys, no_work):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"not an image")
    argv = ["discover", "--images", str(tmp_path / "bad"), "--output", str(tmp_path / "o")]
    fails(argv, capsys, "no readable image files")


def test_flat_folder_with_labels_from_folders(tmp_path, capsys, no_work):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(folder / "a.png")
    argv = ["discover", "--images", str(folder), "--labels-from-folders"]
    line = fails(argv + ["--output", str(tmp_path / "o")], capsys, "lie directly in")
    # says what to do with options that exist, and no library parameter name
    assert "labels_from_subfolders" not in line and "--labels-from-folders" in line


def test_labels_from_folders_needs_images(tmp_path, capsys, no_work):
    fails(
        ["discover", "--demo", "--labels-from-folders", "--output", str(tmp_path / "o")],
        capsys,
        "--labels-from-folders needs --images",
    )


def test_cnn_features_without_torch_say_what_to_install(tmp_path, capsys, monkeypatch, no_work):
    find_spec = importlib.util.find_spec

    def without_torch(name, *args, **kwargs):
        return None if name.split(".")[0] == "torch" else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_torch)
    folder = write_folder(tmp_path / "images")
    argv = ["discover", "--images", str(folder), "--features", "cnn"]
    line = fails(argv + ["--output", str(tmp_path / "o")], capsys, "--features cnn needs torch")
    assert 'pip install "sknovel[torch]"' in line
    assert cli.resolve_features("auto", images_input=True, files=True) == "pixels"


def test_missing_data_file(tmp_path, capsys, no_work):
    argv = ["discover", "--data", str(tmp_path / "none.npz"), "--output", str(tmp_path / "o")]
    fails(argv, capsys, "no such file")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"just some text\n", "not a readable .npz file"),
        (b"PK\x03\x04" + b"\x00" * 40, "not a readable .npz file"),
    ],
    ids=["text", "broken zip"],
)
def test_non_npz_data(tmp_path, capsys, no_work, content, match):
    path = tmp_path / "set.npz"
    path.write_bytes(content)
    fails(["discover", "--data", str(path), "--output", str(tmp_path / "o")], capsys, match)


def test_corrupt_npz(tmp_path, capsys, no_work):
    path = write_npz(tmp_path / "set.npz", X=np.ones((40, 30)), y=np.arange(40) % 3)
    data = bytearray(path.read_bytes())
    data[200:260] = b"\xff" * 60  # inside the first member's bytes
    path.write_bytes(bytes(data))
    fails(["discover", "--data", str(path), "--output", str(tmp_path / "o")], capsys, "--data")


def test_npy_file_is_not_an_npz(tmp_path, capsys, no_work):
    path = tmp_path / "X.npy"
    np.save(path, np.ones((5, 3)))
    fails(["discover", "--data", str(path), "--output", str(tmp_path / "o")], capsys, ".npy")


def test_npz_without_the_arrays(tmp_path, capsys, no_work):
    path = write_npz(tmp_path / "set.npz", features=np.ones((5, 3)))
    fails(["discover", "--data", str(path), "--output", str(tmp_path / "o")], capsys, "'labels'")


def test_object_labels(tmp_path, capsys, no_work):
    path = tmp_path / "set.npz"
    np.savez(path, X=np.ones((4, 3)), y=np.array([1, "a", None, 2.5], dtype=object))
    fails(
        ["discover", "--data", str(path), "--output", str(tmp_path / "o")],
        capsys,
        "object-dtype",
    )


def test_two_dimensional_labels(tmp_path, capsys, no_work):
    path = write_npz(tmp_path / "set.npz", X=np.ones((6, 3)), y=np.zeros((6, 2), dtype=int))
    fails(["discover", "--data", str(path), "--output", str(tmp_path / "o")], capsys, "1-D")


@pytest.mark.parametrize("n_labels", [39, 41, 80])
def test_labels_whose_length_differs_from_the_items(tmp_path, capsys, no_work, n_labels):
    rng = np.random.default_rng(0)
    path = write_npz(
        tmp_path / "set.npz", X=rng.random((40, 5)), y=rng.integers(0, 3, size=n_labels)
    )
    argv = ["discover", "--data", str(path), "--output", str(tmp_path / "o")]
    # (options that the command before the fix needed for such a small set)
    argv += ["--n-selections", "10", "--n-components", "3"]
    fails(argv, capsys, f"{n_labels} labels for 40 items")


def test_class_names_shorter_than_the_classes(tmp_path, capsys, no_work):
    rng = np.random.default_rng(0)
    path = write_npz(
        tmp_path / "set.npz",
        X=rng.random((30, 5)),
        y=np.arange(30) % 4,
        class_names=np.array(["a", "b", "c"]),
    )
    argv = ["discover", "--data", str(path), "--output", str(tmp_path / "o")]
    argv += ["--n-selections", "10", "--n-components", "3"]
    fails(argv, capsys, "has 3 names but the labels run from 0 to 3")


def test_a_single_item(tmp_path, capsys, no_work):
    path = write_npz(tmp_path / "set.npz", X=np.ones((1, 3)), y=np.array([0]))
    argv = ["discover", "--data", str(path), "--output", str(tmp_path / "o")]
    fails(argv, capsys, "ranking needs at least 2")


def test_auto_features_of_an_image_array_are_pixels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = write_npz(tmp_path / "set.npz", images=rng.random((6, 5, 5)), labels=np.arange(6) % 2)
    assert main(["discover", "--data", str(path), "--output", str(tmp_path / "o")]) == 0
    assert "pixels features: 25 per image" in capsys.readouterr().out


def test_nan_features(tmp_path, capsys, no_work):
    X = np.ones((10, 3))
    X[3, 1] = np.nan
    path = write_npz(tmp_path / "set.npz", X=X, y=np.arange(10) % 2)
    argv = ["discover", "--data", str(path), "--output", str(tmp_path / "o")]
    fails(argv + ["--n-selections", "5", "--n-components", "2"], capsys, "NaN")


# --- the options ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-3"])
def test_n_selections_below_one(tmp_path, capsys, no_work, value):
    argv = ["discover", "--demo", "--n-selections", value, "--output", str(tmp_path / "o")]
    fails(argv, capsys, "--n-selections must be at least 1")


def test_too_many_selections(tmp_path, capsys, no_work):
    argv = [
        "discover",
        "--demo",
        "digits",
        "--n-selections",
        "5000",
        "--output",
        str(tmp_path / "o"),
    ]
    fails(argv, capsys, "--n-selections=5000 exceeds the 1797 items")


def test_negative_explain(tmp_path, capsys, no_work):
    argv = ["discover", "--demo", "--explain", "-1", "--output", str(tmp_path / "o")]
    fails(argv, capsys, "--explain must be 0")


def test_n_components_above_the_features(tmp_path, capsys, no_work):
    rng = np.random.default_rng(0)
    path = write_npz(tmp_path / "set.npz", X=rng.random((50, 4)), y=np.arange(50) % 3)
    argv = ["discover", "--data", str(path), "--n-components", "10"]
    fails(argv + ["--output", str(tmp_path / "o")], capsys, "exceeds the 4 features")


def test_n_components_above_the_items(tmp_path, capsys, no_work):
    folder = write_folder(tmp_path / "images", n_per_class=2)
    argv = ["discover", "--images", str(folder), "--features", "pixels", "--n-components", "9"]
    fails(argv + ["--output", str(tmp_path / "o")], capsys, "exceeds the 4 items")


def test_not_an_integer_is_one_line(tmp_path, capsys, no_work):
    argv = ["discover", "--demo", "--n-selections", "ten", "--output", str(tmp_path / "o")]
    fails(argv, capsys, "invalid int value")


def test_no_command_is_one_line(capsys):
    fails([], capsys, "required")


# --- defaults that fit the data -------------------------------------------------------------


def test_ten_images_work_with_the_defaults(tmp_path, capsys):
    """n_selections defaults to min(100, items) and n_components to min(10, items, features)."""
    folder = write_folder(tmp_path / "images", classes=("a", "b"), n_per_class=5)
    out = tmp_path / "out"
    argv = ["discover", "--images", str(folder), "--labels-from-folders", "--features", "pixels"]
    assert main(argv + ["--output", str(out), "--explain", "2"]) == 0
    with open(out / "rankings.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["method"] == "DEMUD"]
    assert len(rows) == 10


def test_tiny_data_with_the_defaults(tmp_path):
    rng = np.random.default_rng(0)
    path = write_npz(tmp_path / "set.npz", X=rng.random((3, 2)), y=np.array([0, 1, 1]))
    assert main(["discover", "--data", str(path), "--output", str(tmp_path / "o"), "--quiet"]) == 0


# --- the output folder ----------------------------------------------------------------------


def test_output_that_is_a_file(tmp_path, capsys, no_work):
    (tmp_path / "o").write_text("mine")
    fails(["discover", "--demo", "--output", str(tmp_path / "o")], capsys, "is a file")
    assert (tmp_path / "o").read_text() == "mine"


def test_output_below_a_file(tmp_path, capsys, no_work):
    (tmp_path / "f").write_text("mine")
    fails(["discover", "--demo", "--output", str(tmp_path / "f" / "o")], capsys, "is a file")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_unwritable_output(capsys, no_work):
    fails(["discover", "--demo", "--output", "/proc/sknovel-report"], capsys, "not writable")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_output_in_a_read_only_folder(tmp_path, capsys, no_work):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        fails(["discover", "--demo", "--output", str(locked / "o")], capsys, "not writable")
    finally:
        locked.chmod(0o700)


def test_output_inside_the_images(tmp_path, capsys, no_work):
    folder = write_folder(tmp_path / "images")
    argv = ["discover", "--images", str(folder), "--features", "pixels"]
    fails(argv + ["--output", str(folder / "report")], capsys, "lies inside --images")
    # the same folder, spelt differently
    fails(argv + ["--output", str(folder / "red" / ".." / ".")], capsys, "lies inside")
    assert not (folder / "report").exists()


@pytest.mark.parametrize(
    "name", ["report.html", "rankings.csv", "explanations.png", "discovery_curve.svg", "picks"]
)
def test_an_earlier_report_is_not_overwritten(tmp_path, capsys, no_work, name):
    out = tmp_path / "o"
    out.mkdir()
    (out / name).write_text("earlier")
    fails(["discover", "--demo", "--output", str(out)], capsys, "--overwrite")
    assert (out / name).read_text() == "earlier"


def test_a_folder_with_other_files_is_not_written_into(tmp_path, capsys, no_work):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    fails(["discover", "--demo", "--output", str(out)], capsys, "is not empty")
    assert os.listdir(out) == ["notes.txt"]


def test_overwrite_replaces_the_earlier_report(tmp_path, capsys):
    folder = write_folder(tmp_path / "images")
    out = tmp_path / "o"
    out.mkdir()
    for name in ("report.html", "discovery_curves.png", "notes.txt"):
        (out / name).write_text("earlier")
    # no labels: this run draws no discovery curves, so the earlier picture must go
    argv = ["discover", "--images", str(folder), "--features", "pixels", "--explain", "0"]
    assert main(argv + ["--output", str(out), "--quiet", "--overwrite"]) == 0
    assert "Discovery report" in (out / "report.html").read_text()
    assert not (out / "discovery_curves.png").exists()
    assert (out / "notes.txt").read_text() == "earlier"  # not the report's: left alone


def test_the_output_folder_is_made_only_when_the_checks_pass(tmp_path, capsys, no_work):
    out = tmp_path / "a" / "b"
    argv = ["discover", "--demo", "--n-selections", "0", "--output", str(out)]
    fails(argv, capsys, "--n-selections")
    assert not (tmp_path / "a").exists()


# --- class names ----------------------------------------------------------------------------


def test_class_names_are_label_indexed_with_an_empty_class(tmp_path, capsys):
    """Labels {0, 1, 3} with 4 names: label 3 is names[3], not names[2] (class 2 is empty)."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 3], [12, 6, 2])
    X = rng.normal(size=(20, 6)) + 4.0 * y[:, None]
    names = np.array(["zero", "one", "two", "three"])
    path = write_npz(tmp_path / "set.npz", X=X, y=y, class_names=names)
    out = tmp_path / "out"
    argv = ["discover", "--data", str(path), "--output", str(out), "--n-selections", "20"]
    argv += ["--n-components", "3"]
    assert main(argv + ["--quiet"]) == 0
    with open(out / "rankings.csv") as handle:
        rows = list(csv.DictReader(handle))
    by_label = {(row["label"], row["class_name"]) for row in rows}
    assert by_label == {("0", "zero"), ("1", "one"), ("3", "three")}
    report = (out / "report.html").read_text()
    assert "three" in report and "<td>two</td>" not in report


def test_class_names_in_the_rows_of_the_explained_picks(tmp_path):
    # (was: in the matplotlib explanation panels, which the report's rows replace)
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 3], [12, 6, 2])
    images = (rng.random((20, 6, 6)) * 0.2 + 0.25 * y[:, None, None]).clip(0, 1)
    names = np.array(["zero", "one", "two", "three"])
    path = write_npz(tmp_path / "set.npz", images=images, labels=y, class_names=names)
    argv = ["discover", "--data", str(path), "--features", "pixels", "--explain", "20"]
    argv += ["--n-selections", "20", "--n-components", "3"]
    assert main(argv + ["--output", str(tmp_path / "out"), "--quiet"]) == 0
    report = (tmp_path / "out" / "report.html").read_text()
    shown = set(re.findall(r"<div>class: (\w+)</div>", report))
    assert shown == {"zero", "one", "three"}
    assert report.count('<tr class="pick"') == 20


# --- skipped files and names shown literally ------------------------------------------------


def test_skipped_files_are_listed_in_the_report_and_names_shown_literally(tmp_path, capsys):
    folder = write_folder(tmp_path / "images", classes=("a$\\x$", "b"))
    escape_name = "\x1b[31mred.png"
    (folder / "b" / escape_name).write_bytes(b"not an image")
    (folder / "b" / "<b>bold&.png").write_bytes(b"")
    out = tmp_path / "out"
    argv = ["discover", "--images", str(folder), "--labels-from-folders", "--features", "pixels"]
    assert main(argv + ["--output", str(out), "--explain", "8"]) == 0
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out + printed.err
    assert "\\x1b[31mred.png" in printed.out
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in report
    assert "Skipped files" in report
    assert html.escape("\\x1b[31mred.png") in report
    assert "&lt;b&gt;bold&amp;.png" in report and "<b>bold" not in report
    assert "a$\\x$" in report  # the class name, literally, in the picks table
    assert (out / "picks" / "pick-001-where.png").exists()
    assert (out / "discovery_curve.svg").exists()


def test_non_utf8_file_names_are_written_and_shown(tmp_path, capsys):
    folder = write_folder(tmp_path / "images", classes=("a", "b"), n_per_class=3)
    name = os.fsdecode(b"caf\xe9.png")
    Image.fromarray(np.zeros((10, 10, 3), dtype=np.uint8)).save(folder / "a" / name)
    out = tmp_path / "out"
    argv = ["discover", "--images", str(folder), "--features", "pixels", "--explain", "0"]
    assert main(argv + ["--output", str(out)]) == 0
    with open(out / "rankings.csv", newline="", errors="surrogateescape") as handle:
        items = {row["item"] for row in csv.DictReader(handle)}
    assert str(folder / "a" / name) in items
    (out / "report.html").read_text(encoding="utf-8")  # valid UTF-8


# --- no traceback reaches the terminal ------------------------------------------------------


def run_command(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sknovel.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


@pytest.mark.parametrize(
    "args, match",
    [
        (["discover", "--demo", "--n-selections", "0"], "--n-selections must be at least 1"),
        (["discover", "--data", "missing.npz"], "no such file"),
        (["discover", "--images", "."], "lies inside --images"),
    ],
)
def test_the_command_prints_one_line_without_traceback(tmp_path, args, match):
    result = run_command(*args, "--output", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("sknovel: error: ") and match in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "o").exists()


def test_traceback_flag_shows_where(tmp_path):
    result = run_command("discover", "--demo", "--n-selections", "0", "--traceback", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_no_message_names_an_option_the_command_lacks(capsys):
    """Advice such as size=(height, width) names no option of the command: none may appear."""
    import ast
    import re

    with pytest.raises(SystemExit):
        main(["discover", "--help"])
    options = set(re.findall(r"--[a-z][a-z-]*", capsys.readouterr().out))
    tree = ast.parse(Path(cli.__file__).read_text())
    strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    for text in strings:
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", text):
            assert option in options, f"{option} in {text!r}"
        assert "size=" not in text
