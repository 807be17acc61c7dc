"""asv benchmarks of the rankers beyond memory: a memmap read in row blocks, a Dask array.

The sizes of issue 13 (a 4 GB file, a LocalCluster of two processes) take too long for a
suite; ``benchmarks/scale_rankers.py`` measures those. Here the asv data (N=20 000, d=512,
K=50) are ranked from a float32 file and from a row-chunked Dask array (threaded scheduler),
beside the same fits in memory in ``rankers.py``.
"""

import os
import tempfile
import time

import numpy as np

from sknovel import Demud

from .common import (
    N_COMPONENTS,
    N_FEATURES,
    N_SAMPLES,
    N_SELECTIONS,
    N_WARMUP_SELECTIONS,
    cached_data,
)


class Benchmark:
    """Settings shared by the suites: one fit per sample, wall-clock time."""

    number = 1
    repeat = (3, 5, 60.0)
    warmup_time = 0.0
    timeout = 600.0


def _demud(n_selections):
    return Demud(n_components=N_COMPONENTS, n_selections=n_selections, init="svd")


def _seconds_per_pick(X):
    """(fit(T) - fit(T0)) / (T - T0): the cost of a pick without the start-up."""
    times = []
    for n_selections in (N_SELECTIONS, N_WARMUP_SELECTIONS):
        start = time.perf_counter()
        _demud(n_selections).fit(X)
        times.append(time.perf_counter() - start)
    return (times[0] - times[1]) / (N_SELECTIONS - N_WARMUP_SELECTIONS)


class MemmapSuite(Benchmark):
    """``Demud.fit`` on a float32 memmap of the asv data (read a block at a time)."""

    def setup(self):
        X, _ = cached_data(N_SAMPLES, N_FEATURES, "float32")
        self.folder = tempfile.mkdtemp(prefix="sknovel-asv-")
        path = os.path.join(self.folder, "X.f32")
        writer = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
        writer[:] = X
        writer.flush()
        del writer
        self.X = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)

    def teardown(self):
        path = self.X.filename
        del self.X
        os.remove(path)
        os.rmdir(self.folder)

    def time_fit(self):
        _demud(N_SELECTIONS).fit(self.X)

    def peakmem_fit(self):
        _demud(N_SELECTIONS).fit(self.X)

    def track_seconds_per_pick_over_pass(self):
        """Seconds per pick over seconds of one float32 pass ``X @ v`` over the file."""
        from sknovel.rankers._blocks import RowBlockArray

        rows = RowBlockArray(self.X, np.float32)
        vector = np.ones(N_FEATURES, dtype=np.float32)
        passes = []
        for _ in range(5):
            start = time.perf_counter()
            for first in range(0, N_SAMPLES, 256):
                rows[first : first + 256] @ vector
            passes.append(time.perf_counter() - start)
        return _seconds_per_pick(self.X) / float(np.median(passes))

    track_seconds_per_pick_over_pass.unit = "ratio"


class DaskThreadedSuite(Benchmark):
    """``Demud.fit`` on a Dask array of the asv data in 8 row chunks, threaded scheduler."""

    def setup(self):
        try:
            import dask.array as da
        except ImportError as error:  # asv skips a benchmark whose setup raises this
            raise NotImplementedError("dask is not installed") from error
        X, _ = cached_data(N_SAMPLES, N_FEATURES, "float32")
        self.in_memory = X
        self.X = da.from_array(X, chunks=(N_SAMPLES // 8, N_FEATURES)).persist()

    def time_fit(self):
        _demud(N_SELECTIONS).fit(self.X)

    def track_overhead_ms_per_pick(self):
        """Milliseconds a pick costs on the Dask array beyond the same pick in memory."""
        return 1e3 * (_seconds_per_pick(self.X) - _seconds_per_pick(self.in_memory))

    track_overhead_ms_per_pick.unit = "ms"
