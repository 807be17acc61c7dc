"""The ``sknovel discover`` command writes a complete report."""

import csv

import numpy as np
import pytest

from sknovel.cli import main

pytest.importorskip("matplotlib")


def test_demo_writes_report(tmp_path, capsys):
    assert main(["discover", "--demo", "--output", str(tmp_path), "--n-selections", "40"]) == 0
    assert (tmp_path / "discovery_curves.png").stat().st_size > 10_000
    assert "discovery_curves.png" in (tmp_path / "report.html").read_text()
    with open(tmp_path / "rankings.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["method"] for row in rows} == {"DEMUD", "SVD", "Random"}
    assert len(rows) == 3 * 40
    assert "nAUC@10" in capsys.readouterr().out
    assert (tmp_path / "explanations.png").stat().st_size > 10_000
    assert "explanations.png" in (tmp_path / "report.html").read_text()


def test_data_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "set.npz"
    np.savez(
        path,
        images=rng.integers(0, 255, size=(30, 4, 4), dtype=np.uint8),
        labels=rng.integers(0, 3, size=30),
    )
    assert (
        main(
            [
                "discover",
                "--data",
                str(path),
                "--output",
                str(tmp_path / "out"),
                "--n-components",
                "3",
                "--n-selections",
                "10",
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "out" / "report.html").exists()


def test_too_many_selections(tmp_path, capsys):
    assert main(["discover", "--demo", "--output", str(tmp_path), "--n-selections", "5000"]) == 2
    assert "--n-selections=5000 exceeds" in capsys.readouterr().err


def write_folder(root, n_per_class=6, size=12):
    from PIL import Image

    rng = np.random.default_rng(1)
    for label, colour in [
        ("red", (200, 30, 30)),
        ("green", (30, 200, 30)),
        ("blue", (30, 30, 200)),
    ]:
        (root / label).mkdir(parents=True)
        for i in range(n_per_class if label != "blue" else 2):
            pixels = np.clip(rng.normal(colour, 20, size=(size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / label / f"{i}.png")
    (root / "red" / "broken.png").write_bytes(b"not an image")


@pytest.mark.parametrize("features", ["pixels", "cnn"])
def test_a_folder_of_images_with_labels_from_subfolders(tmp_path, capsys, features):
    if features == "cnn":
        pytest.importorskip("torch")
    write_folder(tmp_path / "images")
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--labels-from-folders"]
    argv += ["--features", features, "--output", str(out), "--n-components", "2"]
    assert main(argv + ["--n-selections", "8", "--explain", "3"]) == 0
    printed = capsys.readouterr().out
    assert "skipped unreadable file" in printed and "broken.png" in printed
    with open(out / "rankings.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["method"] == "DEMUD"]
    assert len(rows) == 8 and rows[0]["item"].endswith(".png")
    assert {row["class_name"] for row in rows} <= {"red", "green", "blue"}
    assert (out / "explanations.png").exists() and (out / "discovery_curves.png").exists()


def test_a_folder_without_labels(tmp_path):
    write_folder(tmp_path / "images")
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--features", "pixels"]
    assert main(argv + ["--output", str(out), "--n-selections", "5", "--quiet"]) == 0
    assert not (out / "discovery_curves.png").exists()
    assert "DEMUD's first picks" in (out / "report.html").read_text()


def test_invert_draws_expected_and_novel_parts_of_cnn_picks(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from sknovel import cli
    from sknovel.plotting import ExplanationDisplay

    drawn = {}
    plot = ExplanationDisplay.plot

    def record(display, *args, **kwargs):
        drawn["columns"] = [
            name
            for name in ("inverted", "expected", "novel", "heatmaps")
            if getattr(display, name) is not None
        ]
        drawn["shape"] = np.shape(display.novel)
        return plot(display, *args, **kwargs)

    monkeypatch.setattr(ExplanationDisplay, "plot", record)
    write_folder(tmp_path / "images")
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--features", "cnn", "--invert"]
    argv += ["--output", str(out), "--n-selections", "4", "--explain", "2", "--quiet"]
    assert cli.main(argv) == 0
    assert drawn["columns"] == ["inverted", "expected", "novel", "heatmaps"]
    assert drawn["shape"] == (2, 64, 64, 3)
    assert "--invert" in (out / "report.html").read_text()


def test_invert_on_a_folder_of_mixed_sizes_and_modes(tmp_path, monkeypatch):
    # Was "pass size=(height, width)" from the decoder's training, an option the CLI lacks.
    pytest.importorskip("torch")
    from PIL import Image

    from sknovel.explain import UCInverter
    from sknovel.plotting import ExplanationDisplay

    rng = np.random.default_rng(0)
    shapes = [(40, 30), (25, 50), (1, 1), (33, 33), (20, 60), (64, 17)]
    for i, (height, width) in enumerate(shapes * 2):
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        folder = tmp_path / "images" / ("grey" if i % 2 else "colour")
        folder.mkdir(parents=True, exist_ok=True)
        (image.convert("L") if i % 2 else image).save(folder / f"{i}.png")
    # The decoder's quality is not what is tested here: 2 epochs instead of 60.
    monkeypatch.setitem(UCInverter.__init__.__kwdefaults__, "epochs", 2)
    drawn = {}
    plot = ExplanationDisplay.plot

    def record(display, *args, **kwargs):
        drawn["shapes"] = [np.shape(display.inverted), np.shape(display.novel)]
        return plot(display, *args, **kwargs)

    monkeypatch.setattr(ExplanationDisplay, "plot", record)
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--labels-from-folders"]
    argv += ["--features", "cnn", "--invert", "--explain", "2", "--n-selections", "4"]
    assert main(argv + ["--output", str(out), "--quiet"]) == 0
    assert drawn["shapes"] == [(2, 64, 64, 3), (2, 64, 64, 3)]
    assert (out / "explanations.png").stat().st_size > 10_000
