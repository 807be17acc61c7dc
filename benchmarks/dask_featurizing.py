"""Featurizing N image files with 2 Dask worker processes vs 1 process: the speed-up.

Target (issue 13): >= 1.7x for 10 000 images on 2 cores. The images are the Imagenette sample
of ``shared/data`` (1 500 colour images of 64 px, cycled, every other cycle mirrored) written as
PNG files into a temporary folder. Each featurizer is timed

* in one process: ``featurizer.transform(paths)``, torch on one thread;
* on a ``LocalCluster`` of 2 worker processes with one thread each (torch on one thread in
  each), started by ``sknovel.features.dask_client("processes", n_workers=2)``:
  ``featurizer.transform(bag).compute()`` with ``bag = dask.bag.from_sequence(paths,
  partition_size=min(4 * batch_size, n // 16))``.

Both are timed warm (wall clock, and CPU seconds of every process involved): the network is
loaded (in this process, and on every worker by a small warm-up job) before the clock starts;
the cluster's start-up and warm-up are printed apart. The two are timed in turn `--repeats`
times (default 3) with the cluster up throughout, and the table shows the fastest of each
(the machines this runs on are shared: one pass may run at two thirds of another's speed)
and the speed-up of the fastest times, with every round's own speed-up beside it.
The features of the two runs are compared (CNN: up to float32 rounding).

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/dask_featurizing.py            # 10 000 images
    PYTHONPATH=. python benchmarks/dask_featurizing.py --n 500    # quick
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenette_64px.npz"


def log(message):
    print(message, file=sys.stderr, flush=True)


def machine():
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def stolen_seconds():
    """CPU seconds the hypervisor has given other guests (steal, all cores; None if unknown)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def write_images(folder, n, data):
    images = np.load(data, allow_pickle=False)["images"]
    paths = []
    for i in range(n):
        image = images[i % len(images)]
        if (i // len(images)) % 2:
            image = image[:, ::-1]
        path = folder / f"{i:06d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


def warm_one_process(featurizer, paths):
    import torch

    torch.set_num_threads(1)
    featurizer.fit(paths[:1])
    featurizer.transform(paths[: featurizer.batch_size])


def one_process(featurizer, paths):
    cpu, start = time.process_time(), time.perf_counter()
    features = featurizer.transform(paths)
    return time.perf_counter() - start, time.process_time() - cpu, features


def warm_cluster(featurizer, paths, partition_size):
    """Seconds the workers take to load the network and run two partitions."""
    import dask.bag as db

    featurizer.fit(paths[:1])
    # Two full partitions: each worker loads the network and meets the batch shapes once.
    warm = db.from_sequence(paths[: 2 * partition_size], partition_size=partition_size)
    start = time.perf_counter()
    featurizer.transform(warm).compute()
    return time.perf_counter() - start


def on_cluster(client, featurizer, paths, partition_size):
    import dask.bag as db

    bag = db.from_sequence(paths, partition_size=partition_size)
    cpu_before = sum(client.run(time.process_time).values()) + time.process_time()
    start = time.perf_counter()
    features = featurizer.transform(bag).compute()
    seconds = time.perf_counter() - start
    cpu = sum(client.run(time.process_time).values()) + time.process_time() - cpu_before
    return seconds, cpu, features


def set_torch_threads():
    import torch

    torch.set_num_threads(1)
    return torch.get_num_threads()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="images (default 10 000)")
    parser.add_argument("--crop-size", type=int, default=64, help="CNN input side (default 64)")
    parser.add_argument("--arch", default="efficientnet_lite0")
    parser.add_argument("--only", choices=["cnn", "pixels"], help="one featurizer only")
    parser.add_argument(
        "--partition-size",
        type=int,
        help="images per task (default: 4 batches, at most n / 16 so both workers stay busy)",
    )
    parser.add_argument("--data", default=str(DATA), help="an .npz with uint8 'images'")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of both timings (default 3)")
    args = parser.parse_args()

    from sknovel.features import CNNFeaturizer, PixelFeaturizer, dask_client

    featurizers = {
        "cnn": lambda: CNNFeaturizer(args.arch, crop_size=args.crop_size),
        "pixels": lambda: PixelFeaturizer(size=(32, 32)),
    }
    if args.only:
        featurizers = {args.only: featurizers[args.only]}
    print(machine())
    print(f"before: {load()}")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        paths = write_images(Path(folder), args.n, args.data)
        log(f"wrote {len(paths)} PNG files in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        with dask_client("processes", n_workers=2) as client:
            threads = client.run(set_torch_threads)
            log(f"cluster up in {time.perf_counter() - start:.1f} s; torch threads {threads}")
            print(f"during: {load()}")
            rows, stolen_before = [], stolen_seconds()
            for name, make in featurizers.items():
                alone, spread = make(), make()
                partition_size = args.partition_size or min(
                    4 * spread.batch_size, max(1, args.n // 16)
                )
                warm_one_process(alone, paths)
                warm_up = warm_cluster(spread, paths, partition_size)
                rounds = []
                for round_ in range(args.repeats):
                    log(f"{name}, round {round_ + 1}/{args.repeats}: one process ...")
                    one, one_cpu, expected = one_process(alone, paths)
                    log(f"{name}, round {round_ + 1}/{args.repeats}: 2 workers ...")
                    seconds, cpu, features = on_cluster(client, spread, paths, partition_size)
                    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
                    rounds.append((one, seconds, one_cpu, cpu))
                rows.append((name, rounds, warm_up, partition_size))
    print(f"after: {load()}")
    stolen_after = stolen_seconds()
    if stolen_before is not None and stolen_after is not None:
        print(
            f"CPU time taken by other guests of the host (steal) during the timings: "
            f"{stolen_after - stolen_before:.1f} s"
        )
    print(f"\n{args.n} images; CNN: {args.arch} at {args.crop_size} px, real weights")
    print(
        f"{'featurizer':<10} {'1 process':>10} {'2 workers':>10} {'speed-up':>9} "
        f"{'img/s (2w)':>11} {'CPU 1p':>8} {'CPU 2w':>8} {'warm-up':>8} {'partition':>9}  "
        "each round's speed-up"
    )
    for name, rounds, warm_up, partition_size in rows:
        one, one_cpu = min((r[0], r[2]) for r in rounds)
        seconds, cpu = min((r[1], r[3]) for r in rounds)
        each = " ".join(f"{r[0] / r[1]:.2f}x" for r in rounds)
        print(
            f"{name:<10} {one:>9.1f}s {seconds:>9.1f}s {one / seconds:>8.2f}x "
            f"{args.n / seconds:>11.0f} {one_cpu:>7.1f}s {cpu:>7.1f}s {warm_up:>7.1f}s "
            f"{partition_size:>9}  {each}"
        )
    print(
        f"Fastest of {args.repeats} rounds each (CPU: of that round). "
        "speed-up: wall-clock seconds, 1 process / 2 workers. CPU: CPU seconds spent (all "
        "threads; for 2 workers, both workers and this process, which holds the scheduler and "
        "client). On a loaded machine the wall-clock ratio measures the load as much as the "
        "code; the CPU columns show the work Dask adds."
    )


if __name__ == "__main__":
    main()
