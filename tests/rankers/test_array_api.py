"""The rankers on Array API arrays (torch tensors, array-api-strict) with array_api_dispatch on.

Picks must equal numpy's on the same values. CPU tensors are ranked as numpy arrays on their
memory; every test with dispatch also runs them through the namespace code that CUDA tensors
take (the ``dispatch`` fixture's two paths), whose per-pick work must stay in the array's
namespace (the tracker's scores are arrays of that namespace). Learned attributes and
returned arrays are in X's namespace (scikit-learn's convention); without dispatch a tensor
is converted to numpy as before.
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

from sknovel.rankers import _array_api  # noqa: E402
from sknovel.rankers._array_api import ArrayAPIRows, _ArrayAPITracker  # noqa: E402


@pytest.fixture(params=["numpy_view", "namespace"])
def dispatch(request, monkeypatch):
    """scikit-learn's Array API dispatch on (it insists on SCIPY_ARRAY_API=1).

    CPU tensors go through numpy views of their memory (``"numpy_view"``, the default), or
    through the torch namespace code that CUDA tensors run (``"namespace"``).
    """
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    monkeypatch.setattr(_array_api, "_VIEW_CPU_TENSORS", request.param == "numpy_view")
    with sklearn.config_context(array_api_dispatch=True):
        yield request.param


ATTRIBUTES = ("ranking_", "scores_", "expected_", "mean_", "components_", "singular_values_")


def assert_torch_like(fitted, reference):
    """Every learned array of `reference` (numpy) is a CPU tensor of `fitted`, same dtype."""
    for name in ATTRIBUTES:
        if hasattr(reference, name):
            value, expected = getattr(fitted, name), getattr(reference, name)
            assert isinstance(value, torch.Tensor), (name, type(value))
            assert value.device.type == "cpu", name
            assert value.numpy().dtype == expected.dtype, name


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
        np.testing.assert_allclose(fitted.components_, expected.components_, atol=1e-10)
    assert_torch_like(fitted, expected)  # attributes in X's namespace, as in scikit-learn


@pytest.mark.parametrize("estimator", ESTIMATORS[:3] + ESTIMATORS[4:5], ids=_ids)
def test_float32_tensor_picks_equal_numpy(dispatch, estimator):
    X = _data(5, dtype=np.float32)
    expected = clone(estimator).fit(X)
    fitted = clone(estimator).fit(torch.from_numpy(X.copy()))
    np.testing.assert_array_equal(fitted.ranking_, expected.ranking_)
    assert fitted.expected_.dtype == torch.float32
    assert_torch_like(fitted, expected)


def test_large_arrays_use_the_block_pca_and_still_agree(dispatch):
    # 700 x 400 > 2**18 entries: the covariance path of pca_model, on host blocks.
    X = _data(11, n_samples=700, n_features=400)
    estimator = Demud(n_components=5, n_selections=15)
    expected = clone(estimator).fit(X)
    fitted = clone(estimator).fit(torch.from_numpy(X.copy()))
    np.testing.assert_array_equal(fitted.ranking_, expected.ranking_)


def test_cpu_tensors_are_ranked_on_their_own_memory(dispatch):
    X = torch.from_numpy(_data(0))
    rows = Demud(n_components=3)._validate(X, reset=True)
    if dispatch == "numpy_view":  # numpy on the tensor's memory: nothing was copied
        assert isinstance(rows, np.ndarray) and np.shares_memory(rows, X.numpy())
    else:
        assert isinstance(rows, ArrayAPIRows) and rows.array is X
    # tensors numpy cannot view (bfloat16) and float16 take the namespace path, as float64
    half = Demud(n_components=3)._validate(X.to(torch.bfloat16), reset=True)
    assert isinstance(half, ArrayAPIRows) and half.dtype == np.float64


def test_per_pick_work_stays_in_the_tensor_namespace(dispatch):
    if dispatch == "numpy_view":
        pytest.skip("CPU tensors are ranked as numpy arrays on this path")
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
        expected = clone(estimator).fit(X)
        fitted = clone(estimator).fit(xps.asarray(X))
        for name in ATTRIBUTES:  # in the input's namespace, with numpy's values
            value = getattr(fitted, name)
            assert type(value) is type(xps.asarray(X)), name
            np.testing.assert_allclose(np.asarray(value), getattr(expected, name), atol=1e-10)
        ranked = fitted.rank(xps.asarray(X[:50]), n_selections=5)
        assert type(ranked) is type(xps.asarray(X))
        np.testing.assert_array_equal(np.asarray(ranked), expected.rank(X[:50], n_selections=5))


def test_explain_rank_and_score_samples_on_tensors(dispatch):
    X = _data(6)
    tensor = torch.from_numpy(X.copy())
    demud = Demud(n_components=3, n_selections=12).fit(tensor)
    reference = Demud(n_components=3, n_selections=12).fit(X)
    assert demud.is_fitted_on(tensor) and demud.is_fitted_on(X)
    assert not demud.is_fitted_on(tensor.flip(0))
    explanation = demud.explain(tensor)
    for key, value in reference.explain(X).items():
        assert isinstance(explanation[key], torch.Tensor), key
        np.testing.assert_allclose(explanation[key], value, atol=1e-12)
    ranked = demud.rank(tensor[:60], n_selections=8)
    assert isinstance(ranked, torch.Tensor)
    np.testing.assert_array_equal(ranked, reference.rank(X[:60], n_selections=8))
    bunch = demud.rank(tensor[:60], n_selections=8, return_explanation=True)
    assert all(isinstance(value, torch.Tensor) for value in bunch.values())
    scores = demud.score_samples(tensor[:5])
    assert isinstance(scores, torch.Tensor)
    np.testing.assert_allclose(scores, reference.score_samples(X[:5]))
    models = demud.selection_models(tensor, [0, 5])
    for ours, theirs in zip(models, reference.selection_models(X, [0, 5])):
        assert isinstance(ours.components, torch.Tensor)
        np.testing.assert_allclose(ours.mean, theirs.mean, atol=1e-12)
        np.testing.assert_allclose(ours.components, theirs.components, atol=1e-12)
    # numpy data in, numpy out: the namespace follows each call's X
    assert isinstance(demud.rank(X[:60], n_selections=8), np.ndarray)
    archive = Demud(n_components=3).partial_fit(tensor[:80])
    assert isinstance(archive.components_, torch.Tensor)
    np.testing.assert_array_equal(
        archive.rank(tensor[80:], n_selections=10),
        Demud(n_components=3).partial_fit(X[:80]).rank(X[80:], n_selections=10),
    )
    random = RandomRanker(n_selections=7, random_state=0).fit(tensor)
    assert isinstance(random.ranking_, torch.Tensor) and isinstance(random.scores_, torch.Tensor)


def test_a_report_and_the_scorers_read_tensor_attributes(dispatch):
    from sknovel.metrics import make_discovery_scorer
    from sknovel.report import DiscoveryReport

    X = _data(12, n_samples=60, n_features=16)
    labels = np.repeat([0, 1, 2], 20)
    images = X.reshape(60, 4, 4) - X.min()
    images /= images.max()
    tensor = torch.from_numpy(X.copy())
    make = lambda ranker: clone(ranker).fit(tensor)  # noqa: E731
    rankers = {
        "DEMUD": make(Demud(n_components=3, n_selections=10)),
        "SVD": make(SVDRanker(n_components=3, n_selections=10)),
        "Random": make(RandomRanker(n_selections=10, random_state=0)),
    }
    expected = {name: clone(ranker).fit(X).ranking_ for name, ranker in rankers.items()}
    report = DiscoveryReport(rankers, images, labels=labels)
    picks = report.pick_records(0, 10)
    assert [pick.index for pick in picks] == expected["DEMUD"].tolist()
    assert all(isinstance(pick.score, float) for pick in picks)
    table = report.summary_table()
    assert [row.method for row in table.rows][:3] == ["DEMUD", "SVD", "Random"]
    assert "<svg" in report.curve_svg()
    scorer = make_discovery_scorer(t=10)
    assert scorer(rankers["DEMUD"], tensor, labels) == scorer(
        Demud(n_components=3, n_selections=10).fit(X), X, labels
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
    # the namespace path names the row; the numpy path gives scikit-learn's message
    where = r" \(row 5, column 3\)" if dispatch == "namespace" else ""
    with pytest.raises(ValueError, match=rf"Invalid X for Demud: .*NaN{where}"):
        Demud().fit(broken)
    with pytest.raises(ValueError, match="Invalid X for Demud: .*(Expected a 2-D|dim 3)"):
        Demud().fit(torch.zeros((3, 4, 5), dtype=torch.float64))
    with pytest.raises(TypeError, match="complex64"):
        Demud().fit(torch.zeros((3, 4), dtype=torch.complex64))
    with pytest.raises(ValueError, match="at least 2|minimum of 2"):
        Demud().fit(X[:1])
    fitted = Demud(n_components=3, n_selections=5).fit(X)
    with pytest.raises(ValueError, match="7 features"):
        fitted.rank(torch.zeros((5, 7), dtype=torch.float64))


SKLEARN_CHECKED = [
    Demud(n_components=3),
    Demud(n_components=3, svd_method="full", init="mean"),
    SVDRanker(n_components=3),
    SVDRanker(n_components=3, svd_solver="randomized", random_state=0),
    RandomRanker(random_state=0),
]


@pytest.mark.parametrize("estimator", SKLEARN_CHECKED, ids=_ids)
@pytest.mark.parametrize(
    "namespace, device, dtype",
    [
        ("torch", "cpu", "float64"),
        ("torch", "cpu", "float32"),
        ("array_api_strict", "CPU_DEVICE", "float64"),
        ("array_api_strict", "device1", "float64"),  # a device numpy cannot read directly
        ("array_api_strict", "device1", "float32"),
    ],
)
def test_scikit_learn_array_api_checks(dispatch, estimator, namespace, device, dtype):
    # scikit-learn's own check: attributes and method outputs in X's namespace, on X's
    # device, with numpy's shapes, dtypes and values (run here rather than through
    # tests/test_common.py, where it needs SCIPY_ARRAY_API=1 and tries CUDA wherever torch
    # was built with it, with or without a GPU)
    pytest.importorskip(namespace)
    from sklearn.utils.estimator_checks import check_array_api_input

    check_array_api_input(
        type(estimator).__name__,
        estimator,
        namespace,
        device_name=device,
        dtype_name=dtype,
        check_values=True,
    )


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
        assert fitted.ranking_.device.type == "cuda"  # attributes on X's device
        np.testing.assert_array_equal(fitted.ranking_.cpu(), expected)
