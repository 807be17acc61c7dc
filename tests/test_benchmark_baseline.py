"""The benchmarks' re-projecting baselines pick exactly what Demud(svd_method="full") picks.

The speed ratios in benchmarks/ are only meaningful if both sides compute the same thing.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sknovel import Demud

BASELINE = Path(__file__).resolve().parents[1] / "benchmarks" / "reprojecting_demud.py"


@pytest.fixture(scope="module")
def baselines():
    spec = importlib.util.spec_from_file_location("reprojecting_demud", BASELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["reprojecting_demud", "original_steps_demud"])
@pytest.mark.parametrize("seed", range(3))
def test_baseline_agrees_with_full_demud(baselines, name, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 3)) @ rng.normal(size=(3, 16)) + 0.3 * rng.normal(size=(120, 16))
    X[7] = X[3]  # a duplicate row: ties go to the lower index in both
    ranking, scores = getattr(baselines, name)(X, 4, 30)
    demud = Demud(4, n_selections=30, svd_method="full").fit(X)
    np.testing.assert_array_equal(demud.ranking_, ranking)
    np.testing.assert_allclose(demud.scores_, scores, rtol=1e-9)
