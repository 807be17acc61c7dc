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


def test_too_many_selections(tmp_path):
    with pytest.raises(SystemExit, match="--n-selections=5000 exceeds"):
        main(["discover", "--demo", "--output", str(tmp_path), "--n-selections", "5000"])
