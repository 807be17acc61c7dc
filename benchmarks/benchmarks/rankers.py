"""asv benchmarks of the rankers: fit time, peak memory, and the cost of a DEMUD pick."""

from sknovel import Demud, SVDRanker

from .common import (
    N_COMPONENTS,
    N_FEATURES,
    N_SAMPLES,
    N_SELECTIONS,
    N_WARMUP_SELECTIONS,
    cached_data,
    measure_picks,
)


class Benchmark:
    """Settings shared by the suites: one fit per sample, wall-clock time."""

    number = 1
    repeat = (3, 5, 60.0)
    warmup_time = 0.0
    timeout = 600.0


class DemudSuite(Benchmark):
    """``Demud.fit`` on low-rank Gaussian clusters (N=20 000, d=512, K=50, T=100)."""

    params = (["incremental", "full"], ["float64", "float32"])
    param_names = ["svd_method", "dtype"]

    def setup(self, svd_method, dtype):
        self.X, _ = cached_data(N_SAMPLES, N_FEATURES, dtype)
        self.estimator = self._estimator(svd_method, N_SELECTIONS)

    @staticmethod
    def _estimator(svd_method, n_selections):
        return Demud(
            n_components=N_COMPONENTS, n_selections=n_selections, svd_method=svd_method, init="svd"
        )

    def time_fit(self, svd_method, dtype):
        self.estimator.fit(self.X)

    def peakmem_fit(self, svd_method, dtype):
        self.estimator.fit(self.X)

    def track_seconds_per_pick_over_matvec(self, svd_method, dtype):
        """Seconds per pick of the selection loop over seconds of one pass ``X @ v``.

        Start-up is excluded: (fit(T=100) - fit(T0=20)) / 80. The design's goal for
        ``"incremental"`` is at most 1.5; ``"full"`` re-scores every item (O(n d K) a pick).
        """
        timing = measure_picks(
            lambda t: self._estimator(svd_method, t), self.X, N_SELECTIONS, N_WARMUP_SELECTIONS
        )
        return timing.pick_over_matvec

    track_seconds_per_pick_over_matvec.unit = "ratio"


class SVDRankerSuite(Benchmark):
    """``SVDRanker.fit`` (static baseline) on the same data, for scale."""

    params = (["full", "randomized"], ["float64", "float32"])
    param_names = ["svd_solver", "dtype"]

    def setup(self, svd_solver, dtype):
        self.X, _ = cached_data(N_SAMPLES, N_FEATURES, dtype)
        self.estimator = SVDRanker(
            n_components=N_COMPONENTS,
            n_selections=N_SELECTIONS,
            svd_solver=svd_solver,
            random_state=0,
        )

    def time_fit(self, svd_solver, dtype):
        self.estimator.fit(self.X)

    def peakmem_fit(self, svd_solver, dtype):
        self.estimator.fit(self.X)
