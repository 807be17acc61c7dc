"""The rankers on Array API arrays (torch tensors, array-api-strict) with array_api_dispatch on.

Picks must equal numpy's on the same values; the per-pick work must stay in the array's
namespace (the tracker's scores are arrays of that namespace); without dispatch a tensor is
converted to numpy as before.
"""

import subprocess
import sys

import numpy as np
import pytest
import sklearn
from sklearn.base import clone

from sknovel import Demud, RandomRanker, SVDRanker

torch = pytest.importorskip("torch", reason="torch is needed for the Array API tests")
pytest.importorskip("array_api_compat", reason="array-api-compat is needed for dispatch")

from sknovel.rankers._array_api import ArrayAPIRows, _ArrayAPITracker  # noqa: E402


@pytest.fixture
def dispatch(monkeypatch):
    """scikit-learn's Array API dispatch on (it insists on SCIPY_ARRAY_API=1)."""
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    with sklearn.config_context(array_api_dispatch=True):
        yield


def _data(seed, n_samples=150, n_features=24, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)) * rng.uniform(0.1, 3.0, n_features)
    X[: n_samples // 10] += 4 * rng.standard_normal(n_features)  # a small novel class
    return X.astype(dtype)


ESTIMATORS = [
    Demud(n_components=3, n_selections=40),  # capacity 7: the basis is compacted
    Demud(n_components=3, n_selections=25, svd_method="full"),
    Demud(n_components=4, n_selections=25, init="mean"),
    Demud(n_components=4, n_selections=10, init=7),
    SVDRanker(n_components=4, n_selections=40),
    SVDRanker(n_components=4, n_selections=40, svd_solver="randomized", random_state=0),
    RandomRanker(n_selections=20, random_state=3),
]


def _ids(estimator):
    return repr(estimator).replace(" ", "")


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float64_tensor_picks_equal_numpy(dispatch, estimator, seed):
    X = _data(seed)
    expected = clone(estimator).fit(X)
    fitted = clone(estimator).fit(torch.from_numpy(X.copy()))
    np.testing.assert_array_equal(fitted.ranking_, expected.ranking_)
    np.testing.assert_allclose(fitted.scores_, expected.scores_, rtol=1e-9)
    if hasattr(expected, "components_"):
        np.testing.assert_allclose(fitted.expected_, expected.expected_, rtol=1e-8, atol=1e-10)
        assert isinstance(fitted.components_, np.ndarray)  # attributes are numpy


@pytest.mark.parametrize("estimator", ESTIMATORS[:3] + ESTIMATORS[4:5], ids=_ids)
def test_float32_tensor_picks_equal_numpy(dispatch, estimator):
    X = _data(5, dtype=np.float32)
    expected = clone(estimator).fit(X)
    fitted = clone(estimator).fit(torch.from_numpy(X.copy()))
    np.testing.assert_array_equal(fitted.ranking_, expected.ranking_)
    assert fitted.expected_.dtype == np.float32


def test_large_arrays_use_the_block_pca_and_still_agree(dispatch):
    # 700 x 400 > 2**18 entries: the covariance path of pca_model, on host blocks.
    X = _data(11, n_samples=700, n_features=400)
    estimator = Demud(n_components=5, n_selections=15)
    expected = clone(estimator).fit(X)
    fitted = clone(estimator).fit(torch.from_numpy(X.copy()))
    np.testing.assert_array_equal(fitted.ranking_, expected.ranking_)


def test_per_pick_work_stays_in_the_tensor_namespace(dispatch):
    X = torch.from_numpy(_data(0))
    demud = Demud(n_components=3)
    rows = demud._validate(X, reset=True)
    assert isinstance(rows, ArrayAPIRows)
    model = rows.pca_model(3)
    tracker = rows.tracker(model, 3, [0], "incremental")
    assert isinstance(tracker, _ArrayAPITracker)
    assert isinstance(tracker.scores, torch.Tensor)
    assert isinstance(tracker.coordinates, torch.Tensor)
    assert tracker.scores[0] == -np.inf


def test_without_dispatch_a_tensor_is_converted_as_before():
    X = _data(3)
    demud = Demud(n_components=3, n_selections=10)
    assert isinstance(demud._validate(torch.from_numpy(X), reset=True), np.ndarray)
    np.testing.assert_array_equal(
        clone(demud).fit(torch.from_numpy(X)).ranking_, clone(demud).fit(X).ranking_
    )


def test_numpy_input_keeps_the_numpy_path_under_dispatch(dispatch):
    assert isinstance(Demud()._validate(_data(0), reset=True), np.ndarray)


def test_array_api_strict_arrays(dispatch):
    xps = pytest.importorskip("array_api_strict")
    X = _data(4)
    for estimator in (Demud(n_components=3, n_selections=30), SVDRanker(n_components=3)):
        expected = clone(estimator).fit(X).ranking_
        np.testing.assert_array_equal(clone(estimator).fit(xps.asarray(X)).ranking_, expected)


def test_explain_rank_and_score_samples_on_tensors(dispatch):
    X = _data(6)
    tensor = torch.from_numpy(X.copy())
    demud = Demud(n_components=3, n_selections=12).fit(tensor)
    reference = Demud(n_components=3, n_selections=12).fit(X)
    assert demud.is_fitted_on(tensor) and demud.is_fitted_on(X)
    assert not demud.is_fitted_on(tensor.flip(0))
    np.testing.assert_allclose(demud.explain(tensor).residuals, reference.explain(X).residuals)
    np.testing.assert_array_equal(
        demud.rank(tensor[:60], n_selections=8), reference.rank(X[:60], n_selections=8)
    )
    np.testing.assert_allclose(demud.score_samples(tensor[:5]), reference.score_samples(X[:5]))
    archive = Demud(n_components=3).partial_fit(tensor[:80])
    np.testing.assert_array_equal(
        archive.rank(tensor[80:], n_selections=10),
        Demud(n_components=3).partial_fit(X[:80]).rank(X[80:], n_selections=10),
    )


def test_extreme_magnitudes_are_scaled_as_in_numpy(dispatch):
    X = _data(8) * 1e150
    for estimator in (Demud(n_components=3, n_selections=20), SVDRanker(n_components=3)):
        expected = clone(estimator).fit(X)
        fitted = clone(estimator).fit(torch.from_numpy(X.copy()))
        np.testing.assert_array_equal(fitted.ranking_, expected.ranking_)


def test_integer_tensors_are_converted_to_float64(dispatch):
    X = np.round(_data(9) * 10).astype(np.int64)
    estimator = Demud(n_components=3, n_selections=15)
    np.testing.assert_array_equal(
        clone(estimator).fit(torch.from_numpy(X)).ranking_, clone(estimator).fit(X).ranking_
    )


def test_bad_tensors_are_refused_clearly(dispatch):
    X = torch.from_numpy(_data(0))
    broken = X.clone()
    broken[5, 3] = float("nan")
    with pytest.raises(ValueError, match=r"Invalid X for Demud: .*NaN \(row 5, column 3\)"):
        Demud().fit(broken)
    with pytest.raises(ValueError, match="Expected a 2-D array"):
        Demud().fit(torch.zeros((3, 4, 5), dtype=torch.float64))
    with pytest.raises(TypeError, match="complex64"):
        Demud().fit(torch.zeros((3, 4), dtype=torch.complex64))
    with pytest.raises(ValueError, match="at least 2|minimum of 2"):
        Demud().fit(X[:1])
    fitted = Demud(n_components=3, n_selections=5).fit(X)
    with pytest.raises(ValueError, match="7 features"):
        fitted.rank(torch.zeros((5, 7), dtype=torch.float64))


def test_numpy_runs_import_no_array_api_module():
    code = (
        "import sys, numpy as np\n"
        "from sknovel import Demud\n"
        "Demud(n_components=2, n_selections=3).fit(np.random.rand(20, 5))\n"
        "print('sknovel.rankers._array_api' in sys.modules, 'array_api_compat' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensor_picks_equal_numpy(dispatch):
    X = _data(0)
    for estimator in ESTIMATORS:
        expected = clone(estimator).fit(X).ranking_
        fitted = clone(estimator).fit(torch.from_numpy(X.copy()).cuda())
        np.testing.assert_array_equal(fitted.ranking_, expected)
