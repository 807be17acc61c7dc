"""Measure DEMUD's discovery for each K and SVD method, to choose the defaults by numbers.

For each of the four labelled sets of ``shared/data`` (MSL v1 Mars images and Imagenette with
CNN features; MNIST and Fashion-MNIST test images with pixel features), in a *balanced* and an
*unbalanced* variant, rank the items with ``Demud(n_components=K, svd_method=m)`` for
K in {5, 10, 20, 50, 100} and m in {"incremental", "full"}, and report nAUC at t = 30, 100
and 300 (``sknovel.metrics.discovery_nauc``), beside the exact expected nAUC of random
selection and the static SVD ranking.

The variants (numpy seed ``SEED``; ``--seeds`` averages over several draws):

* **balanced**: the same number of items from every class (MNIST, Fashion-MNIST: 100 of each
  of the 10 classes; Imagenette: all 150 of each; MSL: 30 of each of the 13 classes that
  have at least 30 images).
* **unbalanced** (the paper's setting, where the rarest classes have one or two items):
  classes are ordered by size, largest first (ties in a seeded random order); the class of
  rank i (0-based, k classes) keeps ``min(n_i, max(1, round(n0 * n0 ** (-i / (k - 1)))))``
  items, a geometric fall from ``n0`` (the cap: 500 for MNIST/Fashion-MNIST, the largest
  class otherwise) to 1. With 10 classes of 1 000 this gives 500, 251, 126, 63, 32, 16, 8,
  4, 2, 1.

CNN features: ``CNNFeaturizer()`` at its defaults (EfficientNet-Lite0, ``pool`` layer,
1280 numbers, 224 px input), what ``sknovel discover`` uses. They take several minutes on
two cores and are cached in ``--cache`` (default ``/tmp/sknovel-defaults``), so reruns are
quick. Pixel features for MNIST and Fashion-MNIST: 784 numbers in [0, 1]; their CNN
features would need 10 000 images upsampled from 28 px, and pixels are what the paper
ranked for digits.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/defaults_table.py [--seeds 3] [--rst docs/defaults_table.rst]

``--features-only`` computes and caches the CNN features and stops.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sknovel import Demud, SVDRanker
from sknovel.datasets import find_data_file
from sknovel.metrics import discovery_nauc, expected_random_discovery_curve, oracle_discovery_curve

SEED = 20240610
K_VALUES = (5, 10, 20, 50, 100)
METHODS = ("incremental", "full")
T_VALUES = (30, 100, 300)
SETS = {
    # name: (file, features, balanced per class, minimum class size kept, unbalanced cap)
    "MSL": ("msl_v1_96px.npz", "cnn", 30, 30, None),
    "Imagenette": ("imagenette_64px.npz", "cnn", 150, 150, None),
    "MNIST": ("mnist_test.npz", "pixels", 100, 100, 500),
    "Fashion-MNIST": ("fashion_mnist_test.npz", "pixels", 100, 100, 500),
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def load(file_name):
    path = find_data_file(file_name, start=Path(__file__).resolve().parent)
    if path is None:
        raise FileNotFoundError(
            f"{file_name} not found: put it in shared/data/ above the repository "
            "or in the folder $SKNOVEL_DATA names."
        )
    with np.load(path, allow_pickle=False) as data:
        return data["images"], data["labels"]


def features(name, images, cache):
    """The feature matrix of a set, CNN features cached as .npy in `cache`."""
    kind = SETS[name][1]
    if kind == "pixels":
        return images.reshape(len(images), -1).astype(np.float32) / 255.0
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{name}_efficientnet_lite0_pool_224.npy"
    if path.is_file():
        X = np.load(path)
        if X.shape[0] == len(images):
            return X
    from sknovel.features import CNNFeaturizer

    start = time.perf_counter()
    X = CNNFeaturizer(batch_size=64, verbose=1).fit_transform(images)
    log(f"{name}: CNN features of {len(images)} images in {time.perf_counter() - start:.0f} s")
    np.save(path, X)
    return X


def balanced(labels, per_class, min_size, rng):
    """Rows of `per_class` items drawn from each class with at least `min_size` items."""
    classes, counts = np.unique(labels, return_counts=True)
    rows = [
        rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
        for c, n in zip(classes, counts)
        if n >= min_size
    ]
    return np.sort(np.concatenate(rows))


def unbalanced_sizes(counts, cap, rng):
    """Geometric class sizes from the cap down to 1, largest class first (see module doc)."""
    k = len(counts)
    order = rng.permutation(k)
    order = order[np.argsort(-counts[order], kind="stable")]
    n0 = min(cap, counts.max()) if cap else counts.max()
    sizes = np.zeros(k, dtype=int)
    for rank, c in enumerate(order):
        target = max(1, round(n0 * n0 ** (-rank / (k - 1))))
        sizes[c] = min(counts[c], target)
    return sizes


def unbalanced(labels, cap, rng):
    classes, counts = np.unique(labels, return_counts=True)
    sizes = unbalanced_sizes(counts, cap, rng)
    rows = [
        rng.choice(np.flatnonzero(labels == c), size, replace=False)
        for c, size in zip(classes, sizes)
    ]
    return np.sort(np.concatenate(rows))


def variants(name, labels, seed):
    _, _, per_class, min_size, cap = SETS[name]
    rng = np.random.default_rng(seed)
    return {
        "balanced": balanced(labels, per_class, min_size, rng),
        "unbalanced": unbalanced(labels, cap, rng),
    }


def naucs(y, ranking, t_values):
    return [discovery_nauc(y, ranking, t=t) for t in t_values]


def random_naucs(y, t_values):
    expected = expected_random_discovery_curve(y, t=max(t_values))
    oracle = oracle_discovery_curve(y, t=max(t_values))
    return [100 * expected[:t].sum() / oracle[:t].sum() for t in t_values]


def measure(X, y, t_values):
    """nAUCs of every (K, method), static SVD (K=10) and exact random, on one variant."""
    t_max = max(t_values)
    rows = {"exact random": random_naucs(y, t_values)}
    svd = SVDRanker(n_components=10, n_selections=t_max).fit(X)
    rows["static SVD, K=10"] = naucs(y, svd.ranking_, t_values)
    for K in K_VALUES:
        for method in METHODS:
            demud = Demud(n_components=K, n_selections=t_max, svd_method=method).fit(X)
            rows[(K, method)] = naucs(y, demud.ranking_, t_values)
    return rows


def run(seeds, cache):
    """results[(set, variant)] = (n_items, n_classes, {row: mean nAUCs over the seeds})."""
    results = {}
    for name, (file_name, *_) in SETS.items():
        images, labels = load(file_name)
        X_all = features(name, images, cache)
        for variant in ("balanced", "unbalanced"):
            per_seed = []
            for seed in range(SEED, SEED + seeds):
                rows = variants(name, labels, seed)[variant]
                X, y = X_all[rows], labels[rows]
                t_values = [t for t in T_VALUES if t <= len(y)]
                start = time.perf_counter()
                per_seed.append(measure(X, y, t_values))
                log(
                    f"{name} {variant} seed {seed}: {len(y)} items, {len(np.unique(y))} classes,"
                    f" {time.perf_counter() - start:.0f} s"
                )
            mean = {row: np.mean([r[row] for r in per_seed], axis=0) for row in per_seed[0]}
            results[(name, variant)] = (len(y), len(np.unique(y)), t_values, mean)
    return results


def row_label(row):
    return f"DEMUD K={row[0]}, {row[1]}" if isinstance(row, tuple) else row


def summary(results, variant=None):
    """Mean nAUC of each DEMUD setting over every (set, variant, t), and its mean rank.

    With `variant` ("balanced" or "unbalanced"), over the columns of that variant only.
    """
    settings = [(K, m) for K in K_VALUES for m in METHODS]
    columns = [
        np.array([results[key][3][s][i] for s in settings])
        for key in results
        if variant is None or key[1] == variant
        for i in range(len(results[key][2]))
    ]
    scores = np.array(columns)  # (n_columns, n_settings)
    ranks = np.argsort(np.argsort(-scores, axis=1), axis=1) + 1
    return {s: (scores[:, j].mean(), ranks[:, j].mean()) for j, s in enumerate(settings)}


def print_table(results, out=sys.stdout):
    for (name, variant), (n, k, t_values, rows) in results.items():
        print(f"\n{name}, {variant}: {n} items, {k} classes", file=out)
        print(f"{'setting':32s}" + "".join(f"  t={t:<5d}" for t in t_values), file=out)
        for row, values in rows.items():
            print(f"{row_label(row):32s}" + "".join(f"  {v:7.1f}" for v in values), file=out)
    for variant in (None, "unbalanced", "balanced"):
        which = "all columns" if variant is None else f"the {variant} variants"
        print(f"\nDEMUD settings over {which}: mean nAUC, mean rank (1 = best)", file=out)
        ranked = sorted(summary(results, variant).items(), key=lambda kv: kv[1][1])
        for (K, m), (score, rank) in ranked:
            print(f"  K={K:<4d} {m:12s} {score:6.1f}  {rank:5.2f}", file=out)


def rst(results, seeds):
    """The tables as reStructuredText: one list-table per set, and the summary."""
    out = [
        ".. This file is written by benchmarks/defaults_table.py; do not edit it by hand.",
        "",
    ]
    for (name, variant), (n, k, t_values, rows) in results.items():
        out += [
            f".. list-table:: {name}, {variant}: {n} items, {k} classes"
            + (f" (mean of {seeds} draws)" if seeds > 1 else ""),
            "   :header-rows: 1",
            "",
            "   * - setting",
        ]
        out += [f"     - nAUC t={t}" for t in t_values]
        for row, values in rows.items():
            out.append(f"   * - {row_label(row)}")
            out += [f"     - {v:.1f}" for v in values]
        out.append("")
    for variant in (None, "unbalanced", "balanced"):
        which = "all the columns above" if variant is None else f"the {variant} variants"
        out += [
            f".. list-table:: DEMUD settings over {which}",
            "   :header-rows: 1",
            "",
            "   * - K",
            "     - svd_method",
            "     - mean nAUC",
            "     - mean rank (1 = best of 10)",
        ]
        ranked = sorted(summary(results, variant).items(), key=lambda kv: kv[1][1])
        for (K, m), (score, rank) in ranked:
            out += [f"   * - {K}", f"     - {m}", f"     - {score:.1f}", f"     - {rank:.2f}"]
        out.append("")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="draws of each variant to average")
    parser.add_argument("--cache", default="/tmp/sknovel-defaults", help="CNN feature cache")
    parser.add_argument("--rst", type=Path, help="also write the tables as an .rst include")
    parser.add_argument("--features-only", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}.")
    if args.features_only:
        for name, (file_name, kind, *_) in SETS.items():
            if kind == "cnn":
                features(name, load(file_name)[0], args.cache)
        return
    start = time.perf_counter()
    results = run(args.seeds, args.cache)
    print_table(results)
    if args.rst:
        args.rst.write_text(rst(results, args.seeds))
    log(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
