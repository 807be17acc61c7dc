"""Checks on the real labelled image sets in ../shared/data (skipped where it is absent)."""

from pathlib import Path

import numpy as np
import pytest

from sknovel import Demud
from sknovel.metrics import discovery_curve, expected_random_discovery_curve

from .rankers.reference import reference_demud

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = pytest.mark.data


def load(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data sets live beside the project in CI")
    with np.load(path, allow_pickle=False) as data:
        return data["images"], data["labels"]


def test_full_demud_matches_reference_on_mnist_pixels():
    images, labels = load("mnist_test.npz")
    X = images[:150].reshape(150, -1) / 255.0
    demud = Demud(5, n_selections=25, svd_method="full").fit(X)
    ranking, scores, _ = reference_demud(X, 5, 25)
    np.testing.assert_array_equal(demud.ranking_, ranking)
    np.testing.assert_allclose(demud.scores_, scores, rtol=1e-9)


def test_incremental_equals_full_for_k_plus_one_picks_on_mars_images():
    images, _ = load("msl_v1_96px.npz")
    X = images[::3, ::4, ::4].reshape(len(images[::3]), -1).astype(np.float32) / 255
    incremental = Demud(20, n_selections=21).fit(X)
    full = Demud(20, n_selections=21, svd_method="full").fit(X)
    np.testing.assert_array_equal(incremental.ranking_, full.ranking_)


def test_exact_random_curve_on_imbalanced_mars_labels():
    _, labels = load("msl_v1_96px.npz")  # 24 classes, from 3 to 200 images each
    expected = expected_random_discovery_curve(labels, t=200)
    rng = np.random.default_rng(0)
    curves = np.array(
        [discovery_curve(labels, rng.permutation(len(labels))[:200]) for _ in range(2000)]
    )
    standard_error = curves.std(axis=0) / np.sqrt(len(curves))
    assert np.all(np.abs(curves.mean(axis=0) - expected) <= 5 * standard_error + 1e-12)
