"""Measure the rankers' scaling ratios of issue 13 in one run, and print them.

a. memmap: ``Demud`` over a float32 file of N x d (default 2 000 000 x 512, 4 GB, written to
   a temporary folder), in a child process: seconds per pick (picks T0+1..T of one fit,
   T=300, T0=20, K=20) / seconds of one streaming pass ``X @ v`` (float32) over the file in
   the row blocks a pick reads (256 rows at d = 512); target <= 1.5. And the child's peak
   RSS (``ru_maxrss``, which counts the file's pages while they are mapped); target <= 1 GB.
b. Dask: ``Demud`` on a row-chunked dask array on a ``LocalCluster`` of 2 worker processes
   (1 thread each) vs. the same data as an in-memory numpy array: seconds per pick on the
   cluster minus seconds per pick in memory; target <= 20 ms. The threaded scheduler is
   measured beside it. On a loaded machine two worker processes may get more CPU than one, so
   the same is measured on 4 000 rows (``--cluster-small-samples``), where a pick is almost
   only its round trip: the scheduler's cost of a pick. The rankings are compared too.
c. Array API (``--array-api``): ``Demud`` on a torch tensor with scikit-learn's
   ``array_api_dispatch`` on (default 200 000 x 512 float64 on the CPU; ``--array-api-device
   cuda`` on a GPU) vs. the same values as a numpy array: seconds per pick (picks T0+1..T,
   timed inside one fit; numpy and torch fits alternate, the fastest of 3 each), ratio target
   <= 1.2. Rankings compared.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/scale_rankers.py                  # the sizes of the issue
    PYTHONPATH=. python benchmarks/scale_rankers.py --quick          # a run of a minute or two
    PYTHONPATH=. python benchmarks/scale_rankers.py --skip-memmap --cluster-samples 50000
    PYTHONPATH=. python benchmarks/scale_rankers.py --skip-memmap --skip-cluster --array-api

Both data sets are generated a block at a time (low-rank Gaussian clusters plus noise, rare
clusters rarer), so neither is ever whole in this process's memory.
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGET_PICK_OVER_PASS = 1.5
TARGET_PEAK_RSS_BYTES = 1 << 30
TARGET_OVERHEAD_SECONDS = 0.020
TARGET_TORCH_OVER_NUMPY = 1.2
GENERATOR_BLOCK = 20_000


def make_block(block, n_features, *, seed=0, n_clusters=8, rank=10, noise=0.3):
    """Rows ``block * GENERATOR_BLOCK`` onwards of the benchmark data (float32, fixed seed)."""
    model = np.random.default_rng(seed)
    centres = model.standard_normal((n_clusters, n_features), dtype=np.float32)
    bases = model.standard_normal((n_clusters, rank, n_features), dtype=np.float32)
    bases /= np.sqrt(rank)
    shares = 0.5 ** np.arange(n_clusters)
    rng = np.random.default_rng([seed, block])
    labels = rng.choice(n_clusters, size=GENERATOR_BLOCK, p=shares / shares.sum())
    rows = noise * rng.standard_normal((GENERATOR_BLOCK, n_features), dtype=np.float32)
    for cluster in range(n_clusters):
        members = np.flatnonzero(labels == cluster)
        latent = rng.standard_normal((len(members), rank), dtype=np.float32)
        rows[members] += latent @ bases[cluster] + centres[cluster]
    return rows


def make_rows(start, stop, n_features):
    """Rows ``start:stop`` of the benchmark data."""
    first, last = start // GENERATOR_BLOCK, (stop - 1) // GENERATOR_BLOCK
    rows = np.concatenate([make_block(b, n_features) for b in range(first, last + 1)])
    offset = first * GENERATOR_BLOCK
    return rows[start - offset : stop - offset]


def log(message):
    print(message, file=sys.stderr, flush=True)


def machine():
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_average_1_5_15": [float(x) for x in load],
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


# --- a. memmap ---------------------------------------------------------------------------


def write_file(path, n_samples, n_features):
    """The float32 file of N x d rows, written block by block (reused when it exists)."""
    size = n_samples * n_features * 4
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    log(f"[a] writing {size / 1e9:.1f} GB to {path} ...")
    out = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_samples, n_features))
    for start in range(0, n_samples, GENERATOR_BLOCK):
        stop = min(start + GENERATOR_BLOCK, n_samples)
        out[start:stop] = make_rows(start, stop, n_features)
        out.flush()
        out._mmap.madvise(__import__("mmap").MADV_DONTNEED)  # keep this process small
    del out


def memmap_child(args):
    """Run in a child process: the pass, the picks and the peak RSS, printed as JSON."""
    from sknovel import Demud
    from sknovel.rankers._blocks import RowBlockArray
    from sknovel.rankers._selection import _CONVERSION_BYTES

    X = np.memmap(args.path, dtype=np.float32, mode="r", shape=(args.n_samples, args.n_features))
    vector = np.random.default_rng(0).standard_normal(args.n_features).astype(np.float32)

    # The blocks a pick reads float32 rows in (converted into a float64 buffer of 1 MB).
    block_rows = max(16, _CONVERSION_BYTES // (8 * args.n_features))

    def one_pass():  # X @ v in float32 over the file in the same row blocks, pages released
        rows = RowBlockArray(X, np.float32)
        out = np.empty(args.n_samples, dtype=np.float32)
        start = time.perf_counter()
        for first in range(0, args.n_samples, block_rows):
            block = rows[first : first + block_rows]
            np.dot(block, vector, out=out[first : first + len(block)])
        return time.perf_counter() - start

    one_pass()  # first touch: reading the file into the page cache is not a pass
    passes = [one_pass() for _ in range(3)]
    start = time.perf_counter()
    with pick_times() as stamps:
        demud = Demud(
            n_components=args.n_components, n_selections=args.n_selections, init="svd"
        ).fit(X)
    fit_seconds = time.perf_counter() - start
    passes += [one_pass() for _ in range(2)]
    warmup = args.warmup_selections
    per_pick = (stamps[args.n_selections] - stamps[warmup]) / (args.n_selections - warmup)
    result = {
        "pass_seconds": float(np.median(passes)),
        "pass_seconds_all": passes,
        "seconds_per_pick": per_pick,
        "fit_seconds": fit_seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "first_picks": demud.ranking_[:10].tolist(),
    }
    print(json.dumps(result))


def memmap_run(args):
    path = args.path or os.path.join(tempfile.gettempdir(), "sknovel_scale_rankers.f32")
    write_file(path, args.n_samples, args.n_features)
    log(f"[a] Demud T={args.n_selections} over the memmap, in a child process ...")
    command = [
        sys.executable,
        __file__,
        "--memmap-child",
        "--path",
        path,
        "--n-samples",
        str(args.n_samples),
        "--n-features",
        str(args.n_features),
        "--n-components",
        str(args.n_components),
        "--n-selections",
        str(args.n_selections),
        "--warmup-selections",
        str(args.warmup_selections),
    ]
    child = subprocess.run(command, capture_output=True, text=True, check=False)
    if child.returncode:
        raise RuntimeError(f"the memmap child failed:\n{child.stderr}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["file_bytes"] = args.n_samples * args.n_features * 4
    if not args.keep_file and args.path is None:
        os.remove(path)
    return result


@contextlib.contextmanager
def pick_times():
    """``{n_picked: time.perf_counter()}`` of every pick of the Demud fits inside the block.

    Installed as the pick callback Demud's fit runs with (the one its progress bar uses).
    """
    from sknovel.rankers import _demud

    stamps, original = {}, _demud.pick_progress

    @contextlib.contextmanager
    def stamping(description, n_selections, verbose):
        yield lambda n_picked, n_selections, score: stamps.__setitem__(
            n_picked, time.perf_counter()
        )

    _demud.pick_progress = stamping
    try:
        yield stamps
    finally:
        _demud.pick_progress = original


# --- b. LocalCluster ---------------------------------------------------------------------


def per_pick_seconds(X, args, repeats=3):
    """Seconds per pick T0+1..T, timed inside each fit; the fastest of `repeats` fits.

    Timing inside one fit (not fit(T) - fit(T0)) leaves out the start-up, whose variance on
    a shared machine is larger than a pick.
    """
    from sknovel import Demud

    best, ranking = np.inf, None
    last, first = args.cluster_selections, args.cluster_warmup
    for _ in range(repeats):
        with pick_times() as stamps:
            fitted = Demud(n_components=args.n_components, n_selections=last).fit(X)
        best = min(best, (stamps[last] - stamps[first]) / (last - first))
        ranking = fitted.ranking_
    return best, ranking


def lazy_rows(n, d, n_chunks):
    """The first `n` rows of the benchmark data as a dask array of `n_chunks` row chunks,
    generated where the chunks are computed."""
    import dask
    import dask.array as da

    chunk = -(-n // n_chunks)
    return da.concatenate(
        [
            da.from_delayed(
                dask.delayed(make_rows)(start, min(start + chunk, n), d),
                shape=(min(start + chunk, n) - start, d),
                dtype=np.float32,
            )
            for start in range(0, n, chunk)
        ]
    )


def cluster_run(args):
    from dask.distributed import Client, LocalCluster

    n, d, small = args.cluster_samples, args.n_features, args.cluster_small_samples
    lazy, lazy_small = (lazy_rows(size, d, args.cluster_chunks) for size in (n, small))
    X = make_rows(0, n, d)
    log(f"[b] in memory: Demud T={args.cluster_selections} on {n} x {d} float32 ...")
    memory, memory_ranking = per_pick_seconds(X, args)
    small_memory, small_ranking = per_pick_seconds(X[:small], args)
    log("[b] threaded scheduler ...")
    threaded, threaded_ranking = per_pick_seconds(lazy.persist(), args)
    log("[b] LocalCluster of 2 worker processes ...")
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster),
    ):
        persisted = lazy.persist()  # generated on the workers; nothing sent from here
        cluster_seconds, cluster_ranking = per_pick_seconds(persisted, args)
        del persisted
        small_cluster, small_cluster_ranking = per_pick_seconds(lazy_small.persist(), args)
    return {
        "samples": n,
        "chunks": len(lazy.chunks[0]),
        "memory_seconds_per_pick": memory,
        "threaded_seconds_per_pick": threaded,
        "cluster_seconds_per_pick": cluster_seconds,
        "cluster_overhead_seconds": cluster_seconds - memory,
        "threaded_overhead_seconds": threaded - memory,
        "same_ranking_threaded": bool(np.array_equal(threaded_ranking, memory_ranking)),
        "same_ranking_cluster": bool(np.array_equal(cluster_ranking, memory_ranking)),
        "small_samples": small,
        "small_memory_seconds_per_pick": small_memory,
        "small_cluster_seconds_per_pick": small_cluster,
        "small_cluster_overhead_seconds": small_cluster - small_memory,
        "same_ranking_small": bool(np.array_equal(small_cluster_ranking, small_ranking)),
    }


# --- c. Array API ------------------------------------------------------------------------


def timed_picks(X, n_components, last, first, repeats=3):
    """Seconds per pick first+1..last of ``Demud.fit(X)`` (fastest of `repeats`), ranking."""
    from sknovel import Demud

    best, ranking = np.inf, None
    for _ in range(repeats):
        with pick_times() as stamps:
            ranking = Demud(n_components=n_components, n_selections=last).fit(X).ranking_
        best = min(best, (stamps[last] - stamps[first]) / (last - first))
    return best, ranking


def array_api_run(args, repeats=3):
    """Demud per pick on a torch tensor (dispatch on) vs. the same numpy array.

    The numpy and torch fits alternate, so that both see the same load on a shared machine;
    each keeps its fastest fit.
    """
    import sklearn
    import torch

    n, d = args.array_api_samples, args.n_features
    last, first = args.array_api_selections, args.array_api_warmup
    X = make_rows(0, n, d).astype(np.float64)
    tensor = torch.from_numpy(X).to(args.array_api_device)
    log(f"[c] numpy and torch on {args.array_api_device} (array_api_dispatch=True), alternating")
    numpy_seconds = torch_seconds = np.inf
    for _ in range(repeats):
        seconds, numpy_ranking = timed_picks(X, args.n_components, last, first, repeats=1)
        numpy_seconds = min(numpy_seconds, seconds)
        with sklearn.config_context(array_api_dispatch=True):
            seconds, torch_ranking = timed_picks(tensor, args.n_components, last, first, repeats=1)
        torch_seconds = min(torch_seconds, seconds)
    numpy_pass, torch_pass = product_seconds(X, tensor)
    return {
        "samples": n,
        "device": args.array_api_device,
        "torch": torch.__version__,
        "numpy_seconds_per_pick": numpy_seconds,
        "torch_seconds_per_pick": torch_seconds,
        "same_ranking": bool(np.array_equal(host(torch_ranking), numpy_ranking)),
        "numpy_pass_seconds": numpy_pass,
        "torch_pass_seconds": torch_pass,
    }


def host(ranking):
    """A ranking as numpy (fitted on a tensor, ``ranking_`` is a tensor on its device)."""
    return ranking.cpu().numpy() if hasattr(ranking, "cpu") else np.asarray(ranking)


def product_seconds(X, tensor, repeats=20):
    """Seconds of one ``X @ v`` (the pass a pick makes) in numpy and in torch: the fastest."""
    import torch

    vector = np.random.default_rng(0).standard_normal(X.shape[1])
    on_device = torch.from_numpy(vector).to(tensor.device)
    timings = {"numpy": np.inf, "torch": np.inf}
    for _ in range(repeats):
        start = time.perf_counter()
        X @ vector
        timings["numpy"] = min(timings["numpy"], time.perf_counter() - start)
        start = time.perf_counter()
        (tensor @ on_device).sum().item()  # .item() waits for a GPU
        timings["torch"] = min(timings["torch"], time.perf_counter() - start)
    return timings["numpy"], timings["torch"]


# --- report ------------------------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "MISS"


def report_array_api(args, aa):
    ratio = aa["torch_seconds_per_pick"] / aa["numpy_seconds_per_pick"]
    print(
        f"c. Array API: torch {aa['torch']} tensor on {aa['device']} vs numpy, "
        f"{aa['samples']} x {args.n_features} float64, K={args.n_components}, "
        f"picks {args.array_api_warmup + 1}..{args.array_api_selections}"
    )
    print(
        f"   seconds per pick: numpy {aa['numpy_seconds_per_pick'] * 1e3:.1f} ms, torch "
        f"{aa['torch_seconds_per_pick'] * 1e3:.1f} ms, ratio {ratio:.2f}  (target <= "
        f"{TARGET_TORCH_OVER_NUMPY}) {verdict(ratio <= TARGET_TORCH_OVER_NUMPY)};  "
        f"same ranking: {aa['same_ranking']}"
    )
    print(
        f"   one X @ v alone: numpy {aa['numpy_pass_seconds'] * 1e3:.1f} ms, torch "
        f"{aa['torch_pass_seconds'] * 1e3:.1f} ms, ratio "
        f"{aa['torch_pass_seconds'] / aa['numpy_pass_seconds']:.2f} (the BLAS kernels' own)"
    )


def report(info, args, mm, cl):
    print(f"sknovel scale ratios, {info['date']} on {info['host']} ({info['cpu']})")
    print(
        f"  usable cores {info['usable_cores']}, load average (1/5/15 min) "
        f"{info['load_average_1_5_15']}, numpy {info['numpy']}"
    )
    if mm is not None:
        ratio = mm["seconds_per_pick"] / mm["pass_seconds"]
        peak = mm["peak_rss_bytes"]
        print(
            f"a. memmap {args.n_samples} x {args.n_features} float32 "
            f"({mm['file_bytes'] / 1e9:.2f} GB), K={args.n_components}, "
            f"picks {args.warmup_selections + 1}..{args.n_selections}"
        )
        print(
            f"   seconds per pick {mm['seconds_per_pick']:.3f} / one X @ v pass "
            f"{mm['pass_seconds']:.3f} = {ratio:.2f}  (target <= {TARGET_PICK_OVER_PASS}) "
            f"{verdict(ratio <= TARGET_PICK_OVER_PASS)}"
        )
        print(
            f"   peak RSS {peak / 2**20:.0f} MiB  (target <= 1024 MiB) "
            f"{verdict(peak <= TARGET_PEAK_RSS_BYTES)};  whole fit {mm['fit_seconds']:.1f} s"
        )
    if cl is not None:
        overhead = cl["cluster_overhead_seconds"]
        print(
            f"b. Dask, {cl['samples']} x {args.n_features} float32 in {cl['chunks']} chunks, "
            f"K={args.n_components}, picks {args.cluster_warmup + 1}..{args.cluster_selections}"
        )
        print(
            f"   seconds per pick: in memory {cl['memory_seconds_per_pick'] * 1e3:.1f} ms, "
            f"threaded {cl['threaded_seconds_per_pick'] * 1e3:.1f} ms, "
            f"LocalCluster (2 processes) {cl['cluster_seconds_per_pick'] * 1e3:.1f} ms"
        )
        print(
            f"   LocalCluster overhead per pick {overhead * 1e3:.1f} ms  (target <= 20 ms) "
            f"{verdict(overhead <= TARGET_OVERHEAD_SECONDS)};  same ranking as in memory: "
            f"threaded {cl['same_ranking_threaded']}, cluster {cl['same_ranking_cluster']}"
        )
        small = cl["small_cluster_overhead_seconds"]
        print(
            f"   the round trip alone, {cl['small_samples']} x {args.n_features} in "
            f"{cl['chunks']} chunks: in memory {cl['small_memory_seconds_per_pick'] * 1e3:.1f} "
            f"ms, LocalCluster {cl['small_cluster_seconds_per_pick'] * 1e3:.1f} ms, overhead "
            f"{small * 1e3:.1f} ms  (target <= 20 ms) {verdict(small <= TARGET_OVERHEAD_SECONDS)}"
            f";  same ranking: {cl['same_ranking_small']}"
        )


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a minute or two")
    parser.add_argument("--n-samples", type=int, default=2_000_000)
    parser.add_argument("--n-features", type=int, default=512)
    parser.add_argument("--n-components", type=int, default=20)
    parser.add_argument("--n-selections", type=int, default=300)
    parser.add_argument("--warmup-selections", type=int, default=20)
    parser.add_argument("--path", help="the float32 file (default: in the temporary folder)")
    parser.add_argument("--keep-file", action="store_true", help="keep the file for a rerun")
    parser.add_argument("--cluster-samples", type=int, default=200_000)
    parser.add_argument("--cluster-chunks", type=int, default=8)
    parser.add_argument(
        "--cluster-small-samples",
        type=int,
        default=4000,
        help="rows of the second cluster run, where a pick is almost only its round trip",
    )
    parser.add_argument("--cluster-selections", type=int, default=100)
    parser.add_argument("--cluster-warmup", type=int, default=20)
    parser.add_argument("--skip-memmap", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--array-api", action="store_true", help="c. torch vs numpy per pick")
    parser.add_argument("--array-api-samples", type=int, default=200_000)
    parser.add_argument("--array-api-selections", type=int, default=100)
    parser.add_argument("--array-api-warmup", type=int, default=20)
    parser.add_argument("--array-api-device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--memmap-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_selections = min(args.n_samples, 200_000), 60
        args.cluster_samples, args.cluster_selections = min(args.cluster_samples, 40_000), 60
        args.array_api_samples, args.array_api_selections = min(args.array_api_samples, 40_000), 60
    return args


def main(argv=None):
    args = parse(argv)
    if args.memmap_child:
        return memmap_child(args)
    if args.array_api:
        # scikit-learn's dispatch insists on SciPy's Array API mode, set before SciPy loads.
        os.environ.setdefault("SCIPY_ARRAY_API", "1")
    info = machine()
    mm = None if args.skip_memmap else memmap_run(args)
    cl = None if args.skip_cluster else cluster_run(args)
    aa = array_api_run(args) if args.array_api else None
    info["load_average_after"] = machine()["load_average_1_5_15"]
    report(info, args, mm, cl)
    if aa is not None:
        report_array_api(args, aa)
    print(f"   load average after the run: {info['load_average_after']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {"machine": info, "args": vars(args), "memmap": mm, "cluster": cl, "array_api": aa},
                out,
            )


if __name__ == "__main__":
    main()
