"""Measure the CNNFeaturizer targets in one run and print them as ratios.

a. Throughput of ``CNNFeaturizer`` over a bare ``torch.no_grad()`` forward of the same network
   and batch size on the same images already decoded and preprocessed (target >= 0.9), for
   AlexNet and EfficientNet-Lite0, from arrays (at the resize size, so no interpolation; and
   at 64 px, upsampled) and from PNG file paths (decoding included).
b. A grid search over three layers (fc6, fc7, fc8 of AlexNet) over one bare forward pass over
   the same images (target <= 1.3): the featurizers share one ``ActivationStore`` with
   ``cache_layers="all"``, so the network runs once.
c. Peak memory while featurizing 10 000 file paths minus that for 1 000 paths, over the size
   of the 10 000 images decoded at the network input (memory bounded by the batch size: the
   difference is the output, not the images).

Throughput does not depend on the weight values, so AlexNet runs with random weights (no
ImageNet AlexNet file installs offline); Lite0 with its real weights.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/featurizer_ratios.py [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from sknovel.features import ActivationStore, CNNFeaturizer, _cnn
from sknovel.features._networks import ARCHITECTURES

BATCH_SIZE = 32


def log(message):
    print(message, file=sys.stderr, flush=True)


def interleaved(repeats, first, second):
    """Best-of-`repeats` seconds of two functions, timed alternately so load drifts hit both."""
    times = ([], [])
    for _ in range(repeats):
        for function, record in zip((first, second), times):
            start = time.perf_counter()
            function()
            record.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def bare_forward(featurizer, images):
    """A function running a plain no_grad forward over the already preprocessed batches."""
    architecture = ARCHITECTURES[featurizer.arch]
    batches = [
        batch.contiguous()
        for batch in _cnn._network_inputs(
            images, BATCH_SIZE, featurizer.input_shape_[0], architecture, torch.device("cpu")
        )
    ]
    network = _cnn._network(featurizer._network_key, torch.device("cpu"))

    def run():
        with torch.no_grad():
            for batch in batches:
                network(batch)

    return run


def throughput(arch, weights, n_images, repeats, folder):
    rng = np.random.default_rng(0)
    resize = round(224 * ARCHITECTURES[arch].resize_size / 224)
    at_resize = (rng.random((n_images, resize, resize, 3)) * 255).astype(np.uint8)
    small = (rng.random((n_images, 64, 64, 3)) * 255).astype(np.uint8)
    paths = []
    for i, image in enumerate(small):
        paths.append(os.path.join(folder, f"{arch}-{i}.png"))
        Image.fromarray(image).save(paths[-1])
    rows = []
    for name, images in [
        (f"arrays {resize}px", at_resize),
        ("arrays 64px", small),
        ("PNG paths 64px", paths),
    ]:
        featurizer = CNNFeaturizer(arch, weights=weights, random_state=0, batch_size=BATCH_SIZE)
        featurizer.fit(images[:1])
        bare, ours = interleaved(
            repeats, bare_forward(featurizer, images), lambda f=featurizer, x=images: f.transform(x)
        )
        rows.append(
            dict(
                arch=arch,
                input=name,
                n_images=n_images,
                bare_images_per_s=n_images / bare,
                ours_images_per_s=n_images / ours,
                ratio=bare / ours,
            )
        )
        log(
            f"  {arch:18s} {name:16s} bare {n_images / bare:6.1f} img/s  ours "
            f"{n_images / ours:6.1f} img/s  ratio {bare / ours:.3f}"
        )
    return rows


def grid_search_ratio(n_images, repeats):
    images = (np.random.default_rng(1).random((n_images, 256, 256, 3)) * 255).astype(np.uint8)
    featurizer = CNNFeaturizer("alexnet", weights="random", random_state=0)
    bare_run = bare_forward(featurizer.fit(images[:1]), images)

    def three_layers():
        store = ActivationStore()  # a new, empty store for every repeat
        for layer in ["fc6", "fc7", "fc8"]:
            CNNFeaturizer(
                "alexnet", layer, weights="random", random_state=0, memory=store, cache_layers="all"
            ).fit_transform(images)

    bare, ours = interleaved(repeats, bare_run, three_layers)
    log(f"  grid search over fc6/fc7/fc8: {ours:.2f} s vs one bare pass {bare:.2f} s")
    return dict(n_images=n_images, three_layers_s=ours, bare_pass_s=bare, ratio=ours / bare)


_PEAK_SCRIPT = """
import resource, sys, glob
from sknovel.features import CNNFeaturizer
paths = sorted(glob.glob(sys.argv[1] + '/*.png'))[: int(sys.argv[2])]
CNNFeaturizer(crop_size=64, batch_size=32).fit(paths).transform(paths)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak_memory_ratio(n_large, n_small, folder):
    rng = np.random.default_rng(2)
    for i in range(n_large):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(
            os.path.join(folder, f"m{i:05d}.png")
        )
    peaks = {}
    for n in (n_small, n_large):
        output = subprocess.run(
            [sys.executable, "-c", _PEAK_SCRIPT, folder, str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[n] = int(output.stdout.strip().splitlines()[-1])
    decoded = n_large * 3 * 64 * 64 * 4
    growth = peaks[n_large] - peaks[n_small]
    log(
        f"  peak RSS {n_small} paths {peaks[n_small] / 2**20:.0f} MiB, {n_large} paths "
        f"{peaks[n_large] / 2**20:.0f} MiB; all decoded at the input would be "
        f"{decoded / 2**20:.0f} MiB"
    )
    return dict(
        n_paths=n_large, growth_bytes=growth, all_decoded_bytes=decoded, ratio=growth / decoded
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    n_images, repeats = (64, 1) if args.quick else (128, 3)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH_SIZE}")
    with tempfile.TemporaryDirectory() as folder:
        results = dict(
            throughput=throughput("alexnet", "random", n_images, repeats, folder)
            + throughput("efficientnet_lite0", "DEFAULT", n_images, repeats, folder),
            grid_search=grid_search_ratio(n_images, repeats),
            peak_memory=peak_memory_ratio(
                2_000 if args.quick else 10_000, 1_000 if not args.quick else 200, folder
            ),
        )
    print("\nCNNFeaturizer ratios (targets: throughput >= 0.9, grid <= 1.3, memory << 1)")
    for row in results["throughput"]:
        print(f"  throughput {row['arch']:18s} {row['input']:16s} {row['ratio']:.3f}")
    print(f"  three-layer grid search / one forward pass  {results['grid_search']['ratio']:.3f}")
    print(f"  peak-memory growth / all images decoded      {results['peak_memory']['ratio']:.3f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
