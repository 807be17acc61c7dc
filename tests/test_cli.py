"""The ``sknovel discover`` command writes a complete report."""

import csv
import re

import numpy as np
import pytest

from sknovel.cli import main

pytest.importorskip("matplotlib")


def test_digits_demo_writes_report(tmp_path, capsys):
    argv = ["discover", "--demo", "digits", "--output", str(tmp_path), "--n-selections", "40"]
    assert main(argv) == 0
    page = (tmp_path / "report.html").read_text()
    assert (tmp_path / "discovery_curve.svg").read_text().startswith("<svg")
    assert "<svg" in page  # the curve, inline on the first screen
    with open(tmp_path / "rankings.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["method"] for row in rows} == {"DEMUD", "SVD", "Random"}
    assert len(rows) == 3 * 40
    assert "nAUC@10" in capsys.readouterr().out
    assert page.count('<tr class="pick"') == 8  # --explain 8, the default
    for kind in ("thumbnail", "selection", "expected", "novel", "where"):
        assert f'src="picks/pick-001-{kind}.png"' in page
        assert (tmp_path / "picks" / f"pick-001-{kind}.png").stat().st_size > 0
    assert 'href="picks/pick-001.png"' in page


def test_mars_demo_is_the_default_demo(tmp_path, capsys):
    from sknovel.cli import missing_cnn_modules

    argv = ["discover", "--demo", "--output", str(tmp_path), "--n-selections", "30"]
    assert main(argv + ["--explain", "1"]) == 0
    captured = capsys.readouterr()
    page = (tmp_path / "report.html").read_text()
    assert "Mars Science Laboratory" in page and "CC BY-SA 4.0" in page
    assert page.count('<tr class="pick"') == 1
    assert (tmp_path / "picks" / "pick-001-where.png").exists()
    if missing_cnn_modules():
        assert "Pixel features" in captured.err and "Pixel features" in page
    else:
        assert "cnn features: " in captured.out and "CNNFeaturizer" in page


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
    argv = ["discover", "--demo", "digits", "--output", str(tmp_path), "--n-selections", "5000"]
    assert main(argv) == 2
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
    explain = "3" if features == "pixels" else "1"  # a CNN heatmap costs ~50 forward passes
    assert main(argv + ["--n-selections", "8", "--explain", explain]) == 0
    printed = capsys.readouterr().out
    assert "skipped unreadable file" in printed and "broken.png" in printed
    with open(out / "rankings.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["method"] == "DEMUD"]
    assert len(rows) == 8 and rows[0]["item"].endswith(".png")
    assert {row["class_name"] for row in rows} <= {"red", "green", "blue"}
    assert (out / "picks" / "pick-001-where.png").exists()
    assert (out / "discovery_curve.svg").exists()


def test_a_folder_without_labels(tmp_path):
    write_folder(tmp_path / "images")
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--features", "pixels"]
    assert main(argv + ["--output", str(out), "--n-selections", "5", "--quiet"]) == 0
    assert not (out / "discovery_curve.svg").exists()
    assert "DEMUD's first picks" in (out / "report.html").read_text()


def picture_shape(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image).shape


def test_invert_draws_expected_and_novel_parts_of_cnn_picks(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from sknovel.report import _stages

    # What is tested is which pictures the report gets, not the decoder: 2 epochs, not 60
    # (the report sets the decoder's epochs from the collection's size, by DECODER_EPOCHS).
    monkeypatch.setattr(_stages, "DECODER_EPOCHS", (2, 2))
    write_folder(tmp_path / "images")
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--features", "cnn", "--invert"]
    argv += ["--output", str(out), "--n-selections", "4", "--explain", "2", "--quiet"]
    assert main(argv) == 0
    page = (out / "report.html").read_text()
    for kind in ("inverted", "expected", "novel"):
        assert picture_shape(out / "picks" / f"pick-002-{kind}.png") == (64, 64, 3)
        assert f"picks/pick-002-{kind}.png" in page
    assert (out / "picks" / "pick-002-where.png").exists()
    assert "--invert" in page
    assert "training the decoder" in page  # its time, among the stages'
    # and how far to trust its pictures: identification among the collection's images
    assert re.search(r"2 epochs; decodes \d+% of the images nearest their own among \d+", page)


def test_invert_on_a_folder_of_mixed_sizes_and_modes(tmp_path, monkeypatch):
    # Was "pass size=(height, width)" from the decoder's training, an option the CLI lacks.
    pytest.importorskip("torch")
    from PIL import Image

    from sknovel.report import _stages

    rng = np.random.default_rng(0)
    shapes = [(40, 30), (25, 50), (1, 1), (33, 33), (20, 60), (64, 17)]
    for i, (height, width) in enumerate(shapes * 2):
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        folder = tmp_path / "images" / ("grey" if i % 2 else "colour")
        folder.mkdir(parents=True, exist_ok=True)
        (image.convert("L") if i % 2 else image).save(folder / f"{i}.png")
    # The decoder's quality is not what is tested here: 2 epochs instead of 60.
    monkeypatch.setattr(_stages, "DECODER_EPOCHS", (2, 2))
    out = tmp_path / "out"
    argv = ["discover", "--images", str(tmp_path / "images"), "--labels-from-folders"]
    argv += ["--features", "cnn", "--invert", "--explain", "2", "--n-selections", "4"]
    assert main(argv + ["--output", str(out), "--quiet"]) == 0
    for rank in (1, 2):
        for kind in ("inverted", "novel"):
            assert picture_shape(out / "picks" / f"pick-00{rank}-{kind}.png") == (64, 64, 3)


def rankings(folder):
    with open(folder / "rankings.csv") as handle:
        return [(row["method"], row["item"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_scheduler_ranks_a_folder_as_in_memory(tmp_path, capsys, scheduler):
    pytest.importorskip("distributed")
    write_folder(tmp_path / "images")
    argv = ["discover", "--images", str(tmp_path / "images"), "--labels-from-folders"]
    argv += ["--features", "pixels", "--n-components", "2", "--n-selections", "8"]
    argv += ["--explain", "2", "--quiet"]
    assert main(argv + ["--output", str(tmp_path / "here")]) == 0
    capsys.readouterr()
    out = tmp_path / "dask"
    assert main(argv[:-1] + ["--output", str(out), "--scheduler", scheduler]) == 0
    assert "broken.png" in capsys.readouterr().out  # checked on the workers, then listed
    assert rankings(out) == rankings(tmp_path / "here")
    page = (out / "report.html").read_text()
    assert "broken.png" in page and scheduler in page


@pytest.mark.parametrize(
    "options, message",
    [
        (["--demo", "digits"], "--scheduler needs --images"),
        (["--images", "{folder}", "--invert"], "cannot be combined with --scheduler"),
    ],
)
def test_scheduler_is_refused_where_it_cannot_work(tmp_path, capsys, options, message):
    write_folder(tmp_path / "images")
    options = [option.format(folder=tmp_path / "images") for option in options]
    argv = ["discover", *options, "--scheduler", "threads", "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
