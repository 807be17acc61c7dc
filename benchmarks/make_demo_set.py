"""Build the data files that sknovel ships in ``sknovel/datasets/data/`` (not part of the wheel).

``mars_demo.npz`` (``sknovel.datasets.load_mars_demo``): a few hundred Mars Science
Laboratory images from ``shared/data/msl_v1_96px.npz`` (MSL v1, Stanboli & Wagstaff,
DOI 10.5281/zenodo.1049137, CC BY-SA 4.0), unbalanced as in the paper's setting: the classes
are ordered by their size in MSL v1, largest first (ties in a random order), and the class
of rank i (0-based, of k = 24) keeps ``min(n_i, max(1, round(N0 * N0 ** (-i / (k - 1)))))``
images drawn at random: a geometric fall from ``N0 = 45`` images to 1, so several large
classes and a tail of classes with one to three images. Images are 96 x 96 RGB, as in the
source file; rows are shuffled.

``mnist_sample.npz`` (``sknovel.datasets.load_mnist_sample``): the first ``MNIST_N`` images
of the MNIST test set (``shared/data/mnist_test.npz``), in their original order.

Both draws use numpy seed ``SEED``; rerunning the script rewrites identical files::

    python benchmarks/make_demo_set.py
"""

from pathlib import Path

import numpy as np

from sknovel.datasets import find_data_file

SEED = 20240611
N0 = 45
MNIST_N = 5000
OUT = Path(__file__).resolve().parents[1] / "sknovel" / "datasets" / "data"


def _load(name):
    path = find_data_file(name, start=Path(__file__).resolve().parent)
    if path is None:
        raise FileNotFoundError(f"{name} not found in shared/data/ above the repository.")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def class_sizes(counts, n0, rng):
    """Geometric class sizes from `n0` down to 1 over the classes ordered by size."""
    present = np.flatnonzero(counts)
    order = rng.permutation(present)
    order = order[np.argsort(-counts[order], kind="stable")]
    sizes = np.zeros_like(counts)
    for rank, c in enumerate(order):
        target = max(1, round(n0 * n0 ** (-rank / (len(order) - 1))))
        sizes[c] = min(counts[c], target)
    return sizes


def mars_demo(rng):
    msl = _load("msl_v1_96px.npz")
    labels = msl["labels"]
    sizes = class_sizes(np.bincount(labels, minlength=len(msl["class_names"])), N0, rng)
    rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), size, replace=False)
            for c, size in enumerate(sizes)
            if size
        ]
    )
    rows = rng.permutation(rows)
    kept = np.flatnonzero(sizes)  # MSL class indices present, in their original order
    target = np.searchsorted(kept, labels[rows]).astype(np.int64)
    return dict(
        images=msl["images"][rows],
        target=target,
        target_names=msl["class_names"][kept].astype(str),
        source_ids=msl["source_ids"][rows].astype(str),
        sol=msl["sol"][rows].astype(np.int64),
    )


def mnist_sample():
    mnist = _load("mnist_test.npz")
    return dict(
        images=mnist["images"][:MNIST_N],
        target=mnist["labels"][:MNIST_N].astype(np.int64),
        target_names=mnist["class_names"].astype(str),
        source_ids=mnist["source_ids"][:MNIST_N].astype(str),
    )


def main():
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, arrays in [("mars_demo.npz", mars_demo(rng)), ("mnist_sample.npz", mnist_sample())]:
        np.savez_compressed(OUT / name, **arrays)
        counts = np.bincount(arrays["target"], minlength=len(arrays["target_names"]))
        print(f"{name}: {len(arrays['target'])} images, {(OUT / name).stat().st_size / 1e6:.2f} MB")
        print("  " + ", ".join(f"{n}: {c}" for n, c in zip(arrays["target_names"], counts)))


if __name__ == "__main__":
    main()
