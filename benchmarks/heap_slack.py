"""CNN featurizing with and without sknovel's heap slack, in one run: the speed-up.

:func:`sknovel.utils.heap.heap_slack` keeps freed memory in glibc's heap while torch works
(see the "Scaling up" page). Each round runs one child process per setting -- the default,
and ``SKNOVEL_HEAP_SLACK=0`` -- in turn; each child featurizes, warm (network loaded, one
untimed pass), with ``CNNFeaturizer`` (EfficientNet-Lite0, real weights):

* the 288 Mars demo images (96 px) at the default 224-px input, batches of 32;
* the first 640 Imagenette images of ``shared/data`` at a 64-px input (skipped without it).

It prints, per job and setting, the fastest of `--repeats` rounds (wall seconds, and the
system CPU seconds and minor page faults of that pass), and the speed-up of the fastest
times. Linux with glibc only (elsewhere the slack does nothing).

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/heap_slack.py [--repeats 3]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from sknovel.utils.heap import ENVIRONMENT_VARIABLE

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenette_64px.npz"


def _timed_pass(featurizer, images):
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    featurizer.transform(images)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "system_seconds": after.ru_stime - before.ru_stime,
        "page_faults": after.ru_minflt - before.ru_minflt,
    }


def child():
    """Time the jobs in this process and print them as JSON."""
    import numpy as np

    from sknovel.datasets import load_mars_demo
    from sknovel.features import CNNFeaturizer

    jobs = {"demo, 224 px": (load_mars_demo().images, None)}
    if DATA.exists():
        jobs["imagenette, 64 px"] = (np.load(DATA)["images"][:640], 64)
    results = {}
    for name, (images, crop_size) in jobs.items():
        featurizer = CNNFeaturizer(crop_size=crop_size, batch_size=32).fit(images[:4])
        featurizer.transform(images[:64])  # load the network, warm up
        results[name] = _timed_pass(featurizer, images)
    print(json.dumps(results))


def run_child(slack):
    environment = {**os.environ, ENVIRONMENT_VARIABLE: "1" if slack else "0"}
    done = subprocess.run(
        [sys.executable, __file__, "--child"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of both (default 3)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child()
        return
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        sys.exit("heap_slack acts on glibc (Linux) only; nothing to measure here.")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, ", end="")
    print(f"Python {platform.python_version()}; load average {os.getloadavg()}")
    best = {}
    for round_ in range(1, args.repeats + 1):
        for slack in (False, True):
            print(f"round {round_}/{args.repeats}, slack {'on' if slack else 'off'} ...")
            for job, result in run_child(slack).items():
                kept = best.setdefault((job, slack), result)
                if result["seconds"] < kept["seconds"]:
                    best[job, slack] = result
    print(f"\nfastest of {args.repeats} rounds (system s and page faults of that pass)")
    print(f"{'job':20} {'slack off':>24} {'slack on':>24} {'speed-up':>9}")
    for job in dict.fromkeys(job for job, _ in best):
        off, on = best[job, False], best[job, True]
        cells = [
            f"{r['seconds']:6.2f} s {r['system_seconds']:5.2f} {r['page_faults']:>8}"
            for r in (off, on)
        ]
        print(f"{job:20} {cells[0]:>24} {cells[1]:>24} {off['seconds'] / on['seconds']:8.2f}x")


if __name__ == "__main__":
    main()
