"""Rankers on row-chunked Dask arrays: the picks of the array in memory, for any chunking, with
the threaded scheduler and on a LocalCluster of two worker processes (one of them killed
mid-ranking)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sknovel import Demud, RandomRanker, SVDRanker

from .reference import low_rank

da = pytest.importorskip("dask.array", reason="the Dask tests need dask[array]")

pytestmark = [
    pytest.mark.filterwarnings("ignore:n_components=.*leaves no residual"),
    # the scheduler's HTTP server moves to a free port when another cluster holds 8787
    pytest.mark.filterwarnings("ignore:Port .* is already in use"),
    pytest.mark.filterwarnings("ignore:Sending large graph"),
]

RANKERS = {
    "demud": lambda: Demud(3, n_selections=25),
    "demud_full": lambda: Demud(3, n_selections=25, svd_method="full"),
    "demud_mean": lambda: Demud(3, n_selections=25, init="mean"),
    "demud_row": lambda: Demud(3, n_selections=25, init=11),
    "demud_long": lambda: Demud(2, n_selections=60),  # the basis is compacted every 4 picks
    "svd": lambda: SVDRanker(3),
    "svd_top": lambda: SVDRanker(3, n_selections=10),
    "svd_randomized": lambda: SVDRanker(3, svd_solver="randomized", random_state=0),
    "random": lambda: RandomRanker(n_selections=20, random_state=0),
}


def assert_same_ranker(fitted, reference, X, source, *, rtol=1e-7):
    np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
    np.testing.assert_allclose(fitted.scores_, reference.scores_, rtol=rtol, atol=1e-12)
    assert fitted.is_fitted_on(source)
    np.testing.assert_array_equal(fitted.rank(source), reference.rank(X))
    if not hasattr(reference, "components_"):
        return
    np.testing.assert_allclose(fitted.components_, reference.components_, rtol=rtol, atol=rtol)
    ours, theirs = fitted.explain(source), reference.explain(X)
    np.testing.assert_array_equal(ours.selections, theirs.selections)
    np.testing.assert_allclose(ours.residuals, theirs.residuals, rtol=rtol, atol=rtol)
    scores = fitted.score_samples(source)
    assert isinstance(scores, da.Array)  # left on the cluster; computed on demand
    np.testing.assert_allclose(scores.compute(), reference.score_samples(X), rtol=rtol, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(RANKERS))
def test_same_picks_as_in_memory(name, dtype):
    X = low_rank(dtype=dtype)
    reference = RANKERS[name]().fit(X)
    rtol = 1e-4 if (name == "svd_randomized" and dtype == np.float32) else 1e-7
    for chunks in [(80, 12), ((1, 100, 39, 100), (5, 7))]:  # even; uneven and split columns
        source = da.from_array(X, chunks=chunks)
        assert_same_ranker(RANKERS[name]().fit(source), reference, X, source, rtol=rtol)


@settings(max_examples=12, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 119), max_size=6, unique=True),
    dtype=st.sampled_from([np.float64, np.float32]),
    svd_method=st.sampled_from(["incremental", "full"]),
    init=st.sampled_from(["svd", "mean", 3]),
)
def test_any_row_chunking_gives_the_same_ranking(cuts, dtype, svd_method, init):
    X = low_rank(120, 9, seed=1, dtype=dtype)
    bounds = [0, *sorted(cuts), len(X)]
    chunks = (tuple(np.diff(bounds)), (9,))
    make = lambda: Demud(3, n_selections=40, svd_method=svd_method, init=init)  # noqa: E731
    fitted = make().fit(da.from_array(X, chunks=chunks))
    reference = make().fit(X)
    np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
    np.testing.assert_allclose(fitted.scores_, reference.scores_, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize(
    "shape", [(1100, 256), (40, 7000)], ids=["covariance_pca", "gram_pca"]
)  # both above the size of the exact SVD: the distributed PCA paths
def test_same_picks_through_the_distributed_pca(shape):
    X = low_rank(*shape, seed=2)
    source = da.from_array(X, chunks=(max(shape[0] // 4, 1), -1))
    for make in (lambda: Demud(5, n_selections=15), lambda: SVDRanker(5, n_selections=15)):
        assert_same_ranker(make().fit(source), make().fit(X), X, source)


def test_ties_in_a_static_ranking_across_chunks():
    # Integer data: many exactly tied scores, spread over every chunk; the lowest index wins.
    X = np.random.default_rng(3).integers(0, 3, size=(200, 4)).astype(float)
    source = da.from_array(X, chunks=(23, 4))
    for n_selections in (1, 17, 200):
        reference = SVDRanker(1, n_selections=n_selections).fit(X)
        fitted = SVDRanker(1, n_selections=n_selections).fit(source)
        np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
    reference = Demud(2, n_selections=60).fit(X)
    np.testing.assert_array_equal(
        Demud(2, n_selections=60).fit(source).ranking_, reference.ranking_
    )


def test_fingerprint_sees_values_and_chunks():
    X = low_rank(300, seed=4)
    ranker = Demud(2, n_selections=5).fit(da.from_array(X, chunks=(50, 12)))
    assert ranker.is_fitted_on(da.from_array(X.copy(), chunks=(50, 12)))
    edited = X.copy()
    edited[123, 4] = np.nextafter(edited[123, 4], np.inf)
    assert not ranker.is_fitted_on(da.from_array(edited, chunks=(50, 12)))
    # the same values chunked otherwise count as other data: explain says so
    with pytest.raises(ValueError, match="not the data this ranker was fitted on"):
        ranker.explain(da.from_array(X, chunks=(60, 12)))


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (-np.inf, "infinity")])
def test_non_finite_values_are_found_on_the_chunks(bad, what):
    X = low_rank(300, seed=5)
    X[211, 2] = bad
    for ranker in (Demud(2), SVDRanker(2), RandomRanker()):
        with pytest.raises(ValueError, match=rf"Invalid X for .*contains {what} \(row 211, col"):
            ranker.fit(da.from_array(X, chunks=(50, 12)))


def test_bad_dask_arrays_name_x():
    with pytest.raises(ValueError, match="Invalid X for Demud: Expected a 2-D array"):
        Demud().fit(da.ones(10, chunks=5))
    unknown = da.from_array(low_rank(60), chunks=(20, 12))
    unknown = unknown[unknown[:, 0] > -np.inf]
    with pytest.raises(ValueError, match="Invalid X for SVDRanker: .*compute_chunk_sizes"):
        SVDRanker().fit(unknown)
    with pytest.raises(TypeError, match="Invalid X for Demud: X has dtype complex128"):
        Demud().fit(da.ones((10, 3), dtype=complex, chunks=5))
    fitted = Demud(2, n_selections=3).fit(low_rank(40, 5))
    with pytest.raises(ValueError, match="X has 6 features, but Demud is expecting 5"):
        fitted.rank(da.from_array(low_rank(40, 6), chunks=10))


def test_rankers_work_without_dask():
    # sys.modules[name] = None makes "import name" fail, as if dask were not installed.
    code = textwrap.dedent(
        """
        import sys
        for name in ("dask", "dask.array", "distributed"):
            sys.modules[name] = None
        import numpy as np
        from sknovel import Demud, SVDRanker
        X = np.random.default_rng(0).normal(size=(50, 4))
        print(Demud(2, n_selections=3).fit(X).ranking_, SVDRanker(2).fit(X).ranking_[:3])
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- a LocalCluster of two worker processes --------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _rows_held_by_chunk_groups(dask_worker):
    """{actor key: rows} of the DEMUD chunk groups this worker holds (run on the worker)."""
    return {
        str(key): actor.n_rows()
        for key, actor in dask_worker.state.actors.items()
        if str(key).startswith("_ChunkGroup")
    }


class _ThirdPick:
    """Looks at (or breaks) the cluster when Demud reports its third pick.

    Installed with :meth:`watch` as the pick callback Demud's fit runs with (the one its
    progress bar uses), so that the check happens mid-ranking.
    """

    def __init__(self, client, kill=False):
        self.client, self.kill = client, kill
        self.states_held = self.then = None

    def watch(self, monkeypatch):
        import contextlib

        from sknovel.rankers import _demud

        @contextlib.contextmanager
        def progress(description, n_selections, verbose):
            yield self

        monkeypatch.setattr(_demud, "pick_progress", progress)
        return self

    def __call__(self, n_picked, n_selections, score):
        if n_picked != 3:
            return
        # {worker: {chunk group: rows whose scores and coordinates it holds}}
        self.states_held = self.client.run(_rows_held_by_chunk_groups)
        if self.then is not None:
            self.then()
        if self.kill:
            held = self.client.has_what()
            busiest = max(held, key=lambda address: len(held[address]))
            pid = self.client.run(os.getpid, workers=[busiest])[busiest]
            os.kill(pid, signal.SIGKILL)  # its chunks and per-row states are lost


def test_same_picks_on_a_local_cluster(client, monkeypatch):
    X = low_rank(2000, 24, seed=6)
    source = da.from_array(X, chunks=(250, 24))
    for make in (
        lambda: Demud(4, n_selections=12),
        lambda: Demud(4, n_selections=6, svd_method="full", init="mean"),
        lambda: SVDRanker(4, n_selections=30),
    ):
        fitted, reference = make().fit(source), make().fit(X)
        np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
        np.testing.assert_allclose(fitted.scores_, reference.scores_, rtol=1e-7)
    # the chunk groups of a run are freed after it (the scheduler is told asynchronously)
    _wait_until_no_chunk_groups(client)
    # mid-ranking, every row's state is held on the workers, by one chunk group on each
    # worker that holds chunks of X
    observer = _ThirdPick(client).watch(monkeypatch)
    Demud(4, n_selections=4).fit(source)
    assert observer.states_held is not None, "the third pick was not reported"
    held = observer.states_held.values()
    assert all(len(groups) <= 1 for groups in held), observer.states_held
    assert sum(sum(groups.values()) for groups in held) == len(X), observer.states_held
    _wait_until_no_chunk_groups(client)


def _wait_until_no_chunk_groups(client, timeout=30):
    deadline = time.monotonic() + timeout
    while any(client.run(_rows_held_by_chunk_groups).values()):
        assert time.monotonic() < deadline, client.run(_rows_held_by_chunk_groups)
        time.sleep(0.05)


def test_chunk_groups_lost_mid_ranking_are_rebuilt_with_the_same_ranking(client, monkeypatch):
    # Every chunk group is dropped from its worker at the third pick (as when a worker dies):
    # the next pick rebuilds them from the start of the run and the updates since.
    from distributed import Future

    from sknovel.rankers import _dask

    rebuilt = []
    rebuild = _dask._WorkerStates._rebuild
    monkeypatch.setattr(
        _dask._WorkerStates,
        "_rebuild",
        lambda states, positions: rebuilt.append(len(positions)) or rebuild(states, positions),
    )
    X = low_rank(2000, 24, seed=8)
    source = da.from_array(X, chunks=(250, 24))
    for svd_method in ("incremental", "full"):
        make = lambda method=svd_method: Demud(2, n_selections=12, svd_method=method)  # noqa: E731
        reference = make().fit(X)
        dropper = _ThirdPick(client).watch(monkeypatch)
        dropper.then = lambda watcher=dropper: client.cancel(
            [Future(key, client) for held in watcher.states_held.values() for key in held]
        )
        rebuilt.clear()
        fitted = make().fit(source)
        assert rebuilt and sum(rebuilt) == sum(map(len, dropper.states_held.values()))
        np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
        np.testing.assert_allclose(fitted.scores_, reference.scores_, rtol=1e-7)
    _wait_until_no_chunk_groups(client)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills a worker process")
def test_a_worker_killed_mid_ranking_never_gives_a_wrong_ranking(client, monkeypatch):
    X = low_rank(2000, 24, seed=7)
    source = da.from_array(X, chunks=(250, 24))
    reference = Demud(4, n_selections=10).fit(X)
    killer = _ThirdPick(client, kill=True).watch(monkeypatch)
    try:
        fitted = Demud(4, n_selections=10).fit(source)
    except Exception as error:  # allowed: a clear error from Dask (e.g. KilledWorker)
        assert type(error).__module__.startswith(("distributed", "dask")), repr(error)
    else:  # expected: Dask recomputed the lost states from their lineage
        np.testing.assert_array_equal(fitted.ranking_, reference.ranking_)
        np.testing.assert_allclose(fitted.scores_, reference.scores_, rtol=1e-7)
    assert killer.states_held is not None, "no worker was killed: the third pick was not reported"
    client.wait_for_workers(2, timeout=60)
