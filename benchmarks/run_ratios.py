"""Measure the cost ratios the DEMUD design sets targets for, in one run, and print them.

a. Seconds per pick of ``Demud(svd_method="incremental")`` over seconds of one pass ``X @ v``
   (N=200 000, d=512, K=50, T=300; float32 and float64). Target <= 1.5.
b. Seconds per pick of Demud incremental, Demud full and two re-projecting baselines
   (N=20 000, d=512, K=50, T=100, float64), the speed-ups, and whether they pick the same
   items. Target: incremental >= 100x faster than the baseline that does the original
   program's per-pick array work; the lean re-projecting baseline is reported beside it.
c. Peak memory while ranking over the size of X, from tracemalloc (N=200 000, d=512,
   T=300). Target <= 1.3.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/run_ratios.py [--quick] [--json ratios.json]
"""

import argparse
import datetime
import gc
import json
import os
import platform
import sys
import tracemalloc

import numpy as np
from benchmarks.common import make_data, measure_picks
from reprojecting_demud import original_steps_demud, reprojecting_demud

from sknovel import Demud

SIZES = {
    "full": dict(large_n=200_000, large_t=300, small_n=20_000, small_t=100, warmup_t=20),
    # Checks that the script runs (one fit of each length, one BLAS thread: on a busy machine
    # two OpenBLAS threads that wait for each other made it minutes long); the ratios are not
    # meaningful at these sizes.
    "quick": dict(large_n=5_000, large_t=20, small_n=1_000, small_t=20, warmup_t=10),
}
N_FEATURES = 512
N_COMPONENTS = 50

TARGET_PICK_OVER_MATVEC = 1.5
TARGET_SPEEDUP = 100.0
TARGET_PEAK_OVER_X = 1.3
#: Seconds per pick of the original DEMUD program at N=20 000, d=512, K=50 on the
#: development machine (docs/design DEMUD.md, "Cost"); printed for reference only.
ORIGINAL_SECONDS_PER_PICK = 0.45


class ReprojectingDemud:
    """A baseline function behind a ``fit`` so that it is timed like the estimators."""

    def __init__(self, n_components, n_selections, function=reprojecting_demud):
        self.n_components = n_components
        self.n_selections = n_selections
        self.function = function

    def fit(self, X):
        self.ranking_, self.scores_ = self.function(X, self.n_components, self.n_selections)
        return self


def demud(svd_method):
    """A factory ``t -> Demud selecting t items`` for `measure_picks`."""
    return lambda t: Demud(
        n_components=N_COMPONENTS, n_selections=t, svd_method=svd_method, init="svd"
    )


def log(message):
    print(message, file=sys.stderr, flush=True)


def machine():
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": None,
    }
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            ]
        info["cpu"] = models[0] if models else info["cpu"]
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {
                key: pool.get(key)
                for key in ("internal_api", "version", "architecture", "num_threads")
            }
            for pool in threadpool_info()
            if pool["user_api"] == "blas"
        ]
    except ImportError:
        pass
    return info


def peak_over_size(estimator, X):
    """(X + peak memory traced while fitting) / size of X."""
    gc.collect()
    tracemalloc.start()
    try:
        estimator.fit(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return 1.0 + peak / X.nbytes, peak


def large_runs(sizes, repeats):
    """Parts a and c on the large array, float32 then float64 (the same values)."""
    n, t, t0 = sizes["large_n"], sizes["large_t"], sizes["warmup_t"]
    log(f"generating X ({n} x {N_FEATURES}) ...")
    X32, _ = make_data(n, N_FEATURES, dtype="float32")
    results = {}
    for dtype in ("float32", "float64"):
        X = X32 if dtype == "float32" else X32.astype(np.float64)
        log(f"[a] {dtype}: X @ v and Demud incremental T={t} and T0={t0}, {repeats} times ...")
        timing = measure_picks(demud("incremental"), X, t, t0, repeats)
        log(f"[c] {dtype}: peak memory of Demud incremental T={t} ...")
        peak_ratio, peak = peak_over_size(demud("incremental")(t), X)
        results[dtype] = dict(
            n_samples=n,
            n_selections=t,
            n_warmup_selections=t0,
            x_bytes=X.nbytes,
            matvec_seconds=timing.matvec_seconds,
            seconds_per_pick=timing.seconds_per_pick,
            pick_over_matvec=timing.pick_over_matvec,
            peak_traced_bytes=peak,
            peak_over_x=peak_ratio,
        )
        del X
    return results


def baseline_runs(sizes, repeats):
    """Part b: per-pick seconds of the three methods and agreement of their picks."""
    n, t, t0 = sizes["small_n"], sizes["small_t"], sizes["warmup_t"]
    X, _ = make_data(n, N_FEATURES, dtype="float64")
    methods = {
        "incremental": demud("incremental"),
        "full": demud("full"),
        "lean": lambda t: ReprojectingDemud(N_COMPONENTS, t),
        "baseline": lambda t: ReprojectingDemud(N_COMPONENTS, t, original_steps_demud),
    }
    per_pick, ranking, matvec = {}, {}, []
    for name, make in methods.items():
        log(f"[b] {name}: T={t} and T0={t0} at N={n}, {repeats} times ...")
        timing = measure_picks(make, X, t, t0, repeats)
        per_pick[name], ranking[name] = timing.seconds_per_pick, timing.fitted.ranking_
        matvec.append(timing.matvec_seconds)
    k1 = N_COMPONENTS + 1
    first_k1 = all(
        np.array_equal(ranking[name][:k1], ranking["full"][:k1])
        for name in ("incremental", "lean", "baseline")
    )
    return dict(
        n_samples=n,
        n_selections=t,
        n_warmup_selections=t0,
        matvec_seconds=min(matvec),
        seconds_per_pick=per_pick,
        speedup_incremental=per_pick["baseline"] / per_pick["incremental"],
        speedup_full=per_pick["baseline"] / per_pick["full"],
        speedup_incremental_over_lean=per_pick["lean"] / per_pick["incremental"],
        first_k_plus_1_identical=bool(first_k1) if t >= k1 else None,
        baseline_agrees_with_full=int(np.sum(ranking["baseline"] == ranking["full"])),
        lean_agrees_with_full=int(np.sum(ranking["lean"] == ranking["full"])),
        incremental_agrees_with_full=int(np.sum(ranking["incremental"] == ranking["full"])),
    )


def verdict(ok):
    return "yes" if ok else "NO"


def report(info, large, small, repeats):
    blas = (
        ", ".join(
            f"{pool['internal_api']} {pool['version']} "
            f"({pool['architecture']}, {pool['num_threads']} threads)"
            for pool in info["blas"] or []
        )
        or "unknown"
    )
    print(f"date     {info['date']}")
    print(
        f"machine  {info['host']}: {info['cpu']}, {info['cores']} cores "
        f"({info['usable_cores']} usable)"
    )
    print(f"software Python {info['python']}, numpy {info['numpy']}, BLAS {blas}")
    print(
        f"timing   per pick = (fit(T) - fit(T0)) / (T - T0), each fit the fastest of {repeats}; "
        f"X @ v: median of 7,\n         sampled before each pair of fits, fastest sample"
    )
    print()
    t = next(iter(large.values()))
    print(
        f"a. Demud incremental, seconds per pick / seconds of one X @ v "
        f"(N={t['n_samples']}, d={N_FEATURES}, K={N_COMPONENTS}, "
        f"picks {t['n_warmup_selections'] + 1}..{t['n_selections']})"
    )
    print(
        f"   {'dtype':8} {'X @ v [ms]':>11} {'per pick [ms]':>14} {'ratio':>7} "
        f"{'target':>7} {'met':>4}"
    )
    for dtype, r in large.items():
        ok = r["pick_over_matvec"] <= TARGET_PICK_OVER_MATVEC
        print(
            f"   {dtype:8} {1e3 * r['matvec_seconds']:11.2f} {1e3 * r['seconds_per_pick']:14.2f} "
            f"{r['pick_over_matvec']:7.2f} {'<= ' + str(TARGET_PICK_OVER_MATVEC):>7} "
            f"{verdict(ok):>4}"
        )
    print()
    s = small
    print(
        f"b. Seconds per pick against re-projecting baselines (N={s['n_samples']}, "
        f"d={N_FEATURES}, K={N_COMPONENTS}, float64, picks "
        f"{s['n_warmup_selections'] + 1}..{s['n_selections']}; one X @ v = "
        f"{1e3 * s['matvec_seconds']:.2f} ms)"
    )
    print(f"   {'method':32} {'per pick [ms]':>14} {'/ X @ v':>8} {'baseline / this':>16}")
    for name, label in (
        ("baseline", "baseline (original's steps)"),
        ("lean", "lean re-projecting"),
        ("full", "Demud full"),
        ("incremental", "Demud incremental"),
    ):
        seconds = s["seconds_per_pick"][name]
        print(
            f"   {label:32} {1e3 * seconds:14.2f} {seconds / s['matvec_seconds']:8.1f} "
            f"{s['seconds_per_pick']['baseline'] / seconds:15.1f}x"
        )
    ok = s["speedup_incremental"] >= TARGET_SPEEDUP
    print(
        f"   target: incremental >= {TARGET_SPEEDUP:.0f}x faster than the baseline with the "
        f"original's steps: {s['speedup_incremental']:.1f}x, met: {verdict(ok)}"
    )
    print(
        f"   (lean re-projecting / incremental = {s['speedup_incremental_over_lean']:.1f}x: "
        f"no re-projecting program can do much better than the lean one)"
    )
    print(
        f"   (the original program's {ORIGINAL_SECONDS_PER_PICK} s per pick from DEMUD.md / "
        f"incremental = {ORIGINAL_SECONDS_PER_PICK / s['seconds_per_pick']['incremental']:.0f}x)"
    )
    identical = s["first_k_plus_1_identical"]
    print(
        f"   first K+1 = {N_COMPONENTS + 1} picks identical (full, incremental, both baselines): "
        f"{'n/a (T < K+1)' if identical is None else verdict(identical)}"
    )
    print(
        f"   baseline picks equal to Demud full, position by position: "
        f"{s['baseline_agrees_with_full']} / {s['n_selections']} (lean: "
        f"{s['lean_agrees_with_full']} / {s['n_selections']})"
    )
    print(
        f"   incremental picks equal to Demud full, position by position: "
        f"{s['incremental_agrees_with_full']} / {s['n_selections']} "
        f"(identical up to K+1 by design, a truncated approximation after)"
    )
    print()
    print(
        f"c. Peak memory of Demud incremental fit / size of X (tracemalloc; "
        f"N={t['n_samples']}, d={N_FEATURES}, K={N_COMPONENTS}, T={t['n_selections']})"
    )
    print(
        f"   {'dtype':8} {'X [MB]':>8} {'peak traced [MB]':>17} {'peak / X':>9} "
        f"{'target':>7} {'met':>4}"
    )
    for dtype, r in large.items():
        ok = r["peak_over_x"] <= TARGET_PEAK_OVER_X
        print(
            f"   {dtype:8} {r['x_bytes'] / 1e6:8.1f} {r['peak_traced_bytes'] / 1e6:17.1f} "
            f"{r['peak_over_x']:9.3f} {'<= ' + str(TARGET_PEAK_OVER_X):>7} {verdict(ok):>4}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (N=5 000 / 1 000, T=20, one repeat, one BLAS thread), to check the "
        "script runs",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the measurements as JSON")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="fits of each length, alternating; the fastest counts (default 3; 1 with --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}.")
    sizes = SIZES["quick" if args.quick else "full"]
    if args.quick:
        from threadpoolctl import threadpool_limits

        blas_limits = threadpool_limits(limits=1, user_api="blas")  # noqa: F841  (kept alive)
    info = machine()
    large = large_runs(sizes, args.repeats)
    small = baseline_runs(sizes, args.repeats)
    report(info, large, small, args.repeats)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                dict(
                    machine=info,
                    quick=args.quick,
                    sizes=sizes,
                    repeats=args.repeats,
                    per_pick_and_memory=large,
                    against_baseline=small,
                    targets=dict(
                        pick_over_matvec=TARGET_PICK_OVER_MATVEC,
                        speedup_incremental=TARGET_SPEEDUP,
                        peak_over_x=TARGET_PEAK_OVER_X,
                    ),
                ),
                out,
                indent=2,
            )


if __name__ == "__main__":
    main()
