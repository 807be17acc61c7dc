"""Rankers on a numpy.memmap and an h5py dataset: the picks of the array in memory, read a block
at a time, validated block-wise, and without holding the whole array in memory."""

import sys
import tracemalloc

import numpy as np
import pytest

from sknovel import Demud, RandomRanker, SVDRanker
from sknovel.rankers._base import data_fingerprint

from .reference import low_rank

h5py = pytest.importorskip("h5py")

pytestmark = pytest.mark.filterwarnings("ignore:n_components=.*leaves no residual")

RANKERS = {
    "demud": lambda: Demud(3, n_selections=25),
    "demud_full": lambda: Demud(3, n_selections=25, svd_method="full"),
    "demud_mean": lambda: Demud(3, n_selections=25, init="mean"),
    "demud_row": lambda: Demud(3, n_selections=25, init=7),
    "demud_all": lambda: Demud(2, svd_method="incremental"),  # compactions, every row ranked
    "svd": lambda: SVDRanker(3),
    "svd_top": lambda: SVDRanker(3, n_selections=10),
    "svd_randomized": lambda: SVDRanker(3, svd_solver="randomized", random_state=0),
    "random": lambda: RandomRanker(n_selections=20, random_state=0),
}


def as_memmap(X, path, mode="r"):
    writer = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    writer[:] = X
    writer.flush()
    del writer
    return np.memmap(path, dtype=X.dtype, mode=mode, shape=X.shape)


@pytest.fixture
def h5file(tmp_path):
    with h5py.File(tmp_path / "features.h5", "w") as handle:
        yield handle


def sources(X, tmp_path, h5file):
    """The same values as a memmap and as an h5py dataset chunked unlike the blocks."""
    return {
        "memmap": as_memmap(X, tmp_path / "features.dat"),
        "h5py": h5file.create_dataset("X", data=X, chunks=(37, X.shape[1])),
    }


def assert_same_ranker(fitted, reference, X, source, *, rtol):
    np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
    np.testing.assert_allclose(fitted.scores_, reference.scores_, rtol=rtol, atol=1e-12)
    assert fitted.is_fitted_on(source)
    assert fitted.is_fitted_on(X)  # the same fingerprint as the values in memory
    np.testing.assert_array_equal(fitted.rank(source), reference.rank(X))
    if not hasattr(reference, "components_"):
        return
    np.testing.assert_allclose(fitted.components_, reference.components_, rtol=rtol, atol=rtol)
    ours, theirs = fitted.explain(source), reference.explain(X)
    np.testing.assert_array_equal(ours.selections, theirs.selections)
    np.testing.assert_allclose(ours.residuals, theirs.residuals, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(
        fitted.score_samples(source), reference.score_samples(X), rtol=rtol, atol=1e-9
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(RANKERS))
def test_same_picks_as_in_memory(name, dtype, tmp_path, h5file):
    X = low_rank(dtype=dtype)
    reference = RANKERS[name]().fit(X)
    # the randomized solver computes its products in float32 for float32 data
    rtol = 1e-4 if (name == "svd_randomized" and dtype == np.float32) else 1e-7
    for source in sources(X, tmp_path, h5file).values():
        fitted = RANKERS[name]().fit(source)
        assert_same_ranker(fitted, reference, X, source, rtol=rtol)


@pytest.mark.parametrize(
    "shape", [(1100, 256), (40, 7000)], ids=["covariance_pca", "gram_pca"]
)  # both above the size of the exact SVD: the block-wise PCA paths
def test_same_picks_through_the_blockwise_pca(shape, tmp_path, h5file):
    X = low_rank(*shape, seed=1)
    stored = sources(X, tmp_path, h5file).values()
    for make in (lambda: Demud(5, n_selections=15), lambda: SVDRanker(5, n_selections=15)):
        reference = make().fit(X)
        for source in stored:
            assert_same_ranker(make().fit(source), reference, X, source, rtol=1e-7)


def test_partial_fit_and_warm_start_from_a_memmap(tmp_path):
    archive, new = low_rank(300, seed=2), low_rank(120, seed=3)
    reference = Demud(3).partial_fit(archive)
    fitted = Demud(3).partial_fit(as_memmap(archive, tmp_path / "archive.dat"))
    np.testing.assert_allclose(fitted.components_, reference.components_, atol=1e-10)
    new_source = as_memmap(new, tmp_path / "new.dat")
    np.testing.assert_array_equal(
        fitted.rank(new_source, n_selections=30), reference.rank(new, n_selections=30)
    )


def test_integer_memmap_is_ranked_as_float64(tmp_path):
    X = np.random.default_rng(4).integers(0, 9, size=(150, 6)).astype(np.int16)
    fitted = Demud(2, n_selections=20).fit(as_memmap(X, tmp_path / "int.dat"))
    np.testing.assert_array_equal(fitted.ranking_, Demud(2, n_selections=20).fit(X).ranking_)
    assert fitted.expected_.dtype == np.float64


def test_fingerprint_of_a_memmap_is_that_of_its_values(tmp_path):
    X = low_rank(500, seed=5)
    source = as_memmap(X, tmp_path / "x.dat", mode="r+")
    ranker = Demud(2, n_selections=5).fit(source)
    assert ranker.is_fitted_on(X.copy())
    source[321, 4] = np.nextafter(source[321, 4], np.inf)  # one value edited on disk
    assert not ranker.is_fitted_on(source)
    with pytest.raises(ValueError, match="not the data this ranker was fitted on"):
        ranker.explain(source)


@pytest.mark.parametrize("kind", ["memmap", "h5py"])
@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_values_are_found_block_wise(kind, bad, what, tmp_path, h5file):
    X = low_rank(3000, seed=6)
    X[2345, 3] = bad  # in the third block of 1024 rows
    source = sources(X, tmp_path, h5file)[kind]
    for ranker in (Demud(2), SVDRanker(2), RandomRanker()):
        with pytest.raises(ValueError, match=rf"Invalid X for .*contains {what} \(row 2345, col"):
            ranker.fit(source)


def test_bad_shapes_and_dtypes_name_x(tmp_path, h5file):
    with pytest.raises(ValueError, match="Invalid X for Demud: Expected a 2-D array"):
        Demud().fit(as_memmap(np.zeros(10), tmp_path / "one_d.dat"))
    with pytest.raises(TypeError, match="Invalid X for SVDRanker: X has dtype complex128"):
        SVDRanker().fit(h5file.create_dataset("c", data=np.ones((5, 2), dtype=complex)))
    with pytest.raises(ValueError, match="Invalid X for Demud: Found array with 1 sample"):
        Demud().fit(as_memmap(np.ones((1, 3)), tmp_path / "one_row.dat"))
    fitted = Demud(2, n_selections=3).fit(low_rank(40, 5))
    with pytest.raises(ValueError, match="Invalid X for Demud: X has 6 features, but Demud"):
        fitted.rank(as_memmap(low_rank(40, 6), tmp_path / "six.dat"))


def _memory_peak(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_h5py_dataset_is_never_read_whole(h5file):
    # h5py copies what it reads into new arrays, so a whole read would show in the peak.
    X = low_rank(40_000, 32, seed=7)  # 10 MB
    source = h5file.create_dataset("X", data=X, chunks=(1000, 32))
    for ranker in (Demud(4, n_selections=10), SVDRanker(4, n_selections=10), RandomRanker()):
        peak = _memory_peak(lambda ranker=ranker: ranker.fit(source))
        assert peak < 0.4 * X.nbytes, (type(ranker).__name__, peak)


def _resident_file_pages_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    pytest.skip("no RssFile in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_memmap_is_not_kept_resident(tmp_path):
    # Reading a mapped file maps its pages into the process (RssFile); the reader gives each
    # block's pages back, so a pass over a file costs a few blocks of resident memory.
    X = low_rank(100_000, 64, seed=8)  # 51 MB
    source = as_memmap(X, tmp_path / "big.dat")
    before = _resident_file_pages_kib()
    Demud(4, n_selections=8).fit(source)
    grown = _resident_file_pages_kib() - before
    assert grown * 1024 < 0.25 * X.nbytes, grown


def test_fingerprint_matches_blocks_of_any_layout(tmp_path):
    X = low_rank(5000, 7, seed=9)
    source = as_memmap(X, tmp_path / "x.dat")
    ranker = SVDRanker(2, n_selections=3).fit(source)
    assert ranker._fingerprint == data_fingerprint(X)
