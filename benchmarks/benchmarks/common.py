"""Data and timing helpers shared by the asv suite and ``run_ratios.py``."""

import functools
import time
from dataclasses import dataclass

import numpy as np

#: Sizes of the asv suite: big enough that a pick is dominated by passes over X, small
#: enough that ``asv run --quick`` takes a few minutes on two cores.
N_SAMPLES = 20_000
N_FEATURES = 512
N_COMPONENTS = 50
N_SELECTIONS = 100
#: Picks of the short run whose time is subtracted to leave the cost of the selection loop.
N_WARMUP_SELECTIONS = 20


def make_data(
    n_samples, n_features, *, dtype="float64", n_clusters=8, rank=10, noise=0.3, random_state=0
):
    """Low-rank Gaussian clusters plus isotropic noise, and each row's cluster label.

    Cluster c holds a share of the rows proportional to 2^-c, so the last clusters are rare
    (what DEMUD is for). A row of cluster c is ``centre_c + z @ B_c + noise * eps`` with
    z ~ N(0, I_rank), B_c (rank, n_features) Gaussian scaled to unit variance per feature,
    and eps ~ N(0, I). The rows are generated in float32 (halving the cost of the largest
    arrays) and converted once when float64 is asked for, so both dtypes hold the same values.
    """
    rng = np.random.default_rng(random_state)
    shares = 0.5 ** np.arange(n_clusters)
    labels = rng.choice(n_clusters, size=n_samples, p=shares / shares.sum())
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    X *= noise
    for cluster in range(n_clusters):
        rows = np.flatnonzero(labels == cluster)
        centre = rng.standard_normal(n_features, dtype=np.float32)
        basis = rng.standard_normal((rank, n_features), dtype=np.float32) / np.sqrt(rank)
        latent = rng.standard_normal((len(rows), rank), dtype=np.float32)
        X[rows] += latent @ basis + centre
    if np.dtype(dtype) != X.dtype:
        X = X.astype(dtype)
    return X, labels


@functools.lru_cache(maxsize=2)
def cached_data(n_samples, n_features, dtype):
    """`make_data` kept for the life of the process, read-only so no benchmark alters it."""
    X, labels = make_data(n_samples, n_features, dtype=dtype)
    X.flags.writeable = False
    labels.flags.writeable = False
    return X, labels


def fit_seconds(estimator, X):
    """Wall-clock seconds of one ``estimator.fit(X)``."""
    start = time.perf_counter()
    estimator.fit(X)
    return time.perf_counter() - start


@dataclass
class PickTiming:
    """What `measure_picks` measured."""

    seconds_per_pick: float
    matvec_seconds: float
    fitted: object  # the first long run, for its ranking

    @property
    def pick_over_matvec(self):
        return self.seconds_per_pick / self.matvec_seconds


def measure_picks(make_estimator, X, n_selections, n_warmup_selections, repeats=1):
    """Seconds per pick of the selection loop, without the one-time start-up cost.

    ``make_estimator(t)`` returns an unfitted ranker that selects t items. The start-up
    (validation, the PCA of all of X for the first pick, setting up the scores) is the same
    for both runs, so ``(fit(T) - fit(T0)) / (T - T0)`` is the cost of picks T0 + 1 .. T.
    One pass ``X @ v`` is timed before each pair of fits, to compare a pick with.

    With `repeats` > 1 the pass and the two fits alternate and each keeps its fastest time:
    on a shared VM the speed of memory drifts by a factor of two or more within minutes, and
    this way a slow spell hits no measurement more than once and both sides of the ratio
    are measured in the machine's best state.
    """
    long_times, short_times, matvec_times, fitted = [], [], [], None
    for _ in range(repeats):
        matvec_times.append(matvec_seconds(X))
        estimator = make_estimator(n_selections)
        long_times.append(fit_seconds(estimator, X))
        fitted = estimator if fitted is None else fitted
        short_times.append(fit_seconds(make_estimator(n_warmup_selections), X))
    per_pick = (min(long_times) - min(short_times)) / (n_selections - n_warmup_selections)
    return PickTiming(per_pick, min(matvec_times), fitted)


def matvec_seconds(X, repeats=7, random_state=0):
    """Median seconds of one pass ``X @ v`` over X, with v in X's dtype."""
    vector = np.random.default_rng(random_state).standard_normal(X.shape[1]).astype(X.dtype)
    X @ vector  # first touch: page faults and thread start-up are not a pass over X
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        X @ vector
        times.append(time.perf_counter() - start)
    return float(np.median(times))
