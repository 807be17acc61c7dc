"""The ``sknovel`` command: rank a collection of images and write a report.

``sknovel discover --demo`` ranks scikit-learn's digits (1 797 real 8x8 handwritten digits that
ship with scikit-learn) with DEMUD, static SVD and random selection, and writes the discovery
curves (PNG), the rankings (CSV), explanation panels of DEMUD's first picks (PNG) and an HTML
report into ``--output``. ``--images FOLDER`` ranks your own images (labels from sub-folder
names with ``--labels-from-folders``; without labels there are no discovery curves).
"""

import argparse
import csv
import html
import sys
import time
from pathlib import Path

import numpy as np

from .metrics import discovery_nauc, expected_random_discovery_curve
from .metrics._discovery import _nauc_of_curve
from .rankers import Demud, RandomRanker, SVDRanker


def load_demo():
    """scikit-learn's digits as (images in [0, 1], y, class names, description)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    names = [str(name) for name in digits.target_names]
    description = "scikit-learn digits (1 797 images, 8x8, 10 classes)"
    return digits.images / 16.0, digits.target, names, description


def load_npz(path):
    """(images or X, y, class names, description) from an .npz file.

    The file holds ``images`` (n, H, W[, C]) or ``X`` (n, d), and ``labels`` or ``y``.
    """
    with np.load(path, allow_pickle=False) as data:
        key_x = "images" if "images" in data else "X"
        key_y = "labels" if "labels" in data else "y"
        if key_x not in data or key_y not in data:
            raise SystemExit(f"{path}: expected arrays 'images' (or 'X') and 'labels' (or 'y').")
        images, labels = data[key_x], data[key_y]
        names = [str(n) for n in data["class_names"]] if "class_names" in data else None
    if images.ndim == 2:
        images = images.astype(np.float64)
    if names is None:
        names = [str(label) for label in np.unique(labels)]
    return images, labels, names, f"{path} ({len(images)} items)"


def load_folder(folder, labels_from_folders, log):
    """(file paths, y or None, class names or None, description) of the images in a folder."""
    from .features import load_image_folder

    found = load_image_folder(folder, labels_from_subfolders=labels_from_folders, on_error="skip")
    for path in found.skipped:
        log(f"  skipped unreadable file {path}")
    if not found.paths:
        raise SystemExit(f"{folder}: no readable image files found.")
    description = f"{folder} ({len(found.paths)} images)"
    return found.paths, found.labels, found.class_names, description


def featurize(images, kind, log):
    """(featurizer or None, X): pixels or CNN features of the images (2-D input is used as is)."""
    if not isinstance(images, list) and np.asarray(images).ndim == 2:
        return None, np.asarray(images, dtype=np.float64)
    from .features import CNNFeaturizer, PixelFeaturizer

    if kind == "auto":
        try:
            import torch  # noqa: F401

            kind = "cnn" if isinstance(images, list) else "pixels"
        except ImportError:
            kind = "pixels"
    if kind == "cnn":
        featurizer = CNNFeaturizer(batch_size=64, verbose=1)
    else:
        featurizer = PixelFeaturizer(size=(64, 64) if isinstance(images, list) else None)
    start = time.perf_counter()
    X = featurizer.fit_transform(images).astype(np.float64)
    log(f"  {kind} features: {X.shape[1]} per image, {time.perf_counter() - start:.1f} s")
    return featurizer, X


def build_parser():
    """The argument parser of the ``sknovel`` command."""
    parser = argparse.ArgumentParser(prog="sknovel", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    discover = commands.add_parser("discover", help="rank a collection and write a report")
    source = discover.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="use scikit-learn's digits")
    source.add_argument("--data", type=Path, help=".npz file with images/X and labels/y")
    source.add_argument("--images", type=Path, help="folder of image files (searched recursively)")
    discover.add_argument(
        "--labels-from-folders",
        action="store_true",
        help="with --images: label each image by its top-level sub-folder",
    )
    discover.add_argument(
        "--features",
        choices=["auto", "pixels", "cnn"],
        default="auto",
        help="image representation (auto: CNN for --images when torch is installed, else pixels)",
    )
    discover.add_argument(
        "--explain",
        type=int,
        default=8,
        help="explain this many of DEMUD's first picks in pictures (default 8; 0: none)",
    )
    discover.add_argument(
        "--invert",
        action="store_true",
        help="with CNN features: also train an up-convolutional decoder on the collection "
        "(minutes per thousand images) and draw each explained pick, what was expected and "
        "what was new as images, as Lee, Wagstaff et al. (2018) do",
    )
    discover.add_argument(
        "--output",
        type=Path,
        default=Path("sknovel-demo"),
        help="folder for the report (default: ./sknovel-demo)",
    )
    discover.add_argument("--n-components", type=int, default=10, help="K (default 10)")
    discover.add_argument(
        "--n-selections",
        type=int,
        default=100,
        help="number of picks to make and plot (default 100)",
    )
    discover.add_argument("--random-state", type=int, default=0)
    discover.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def rank_all(X, n_components, n_selections, random_state, log):
    """Fit the three rankers; return {name: fitted ranker}."""
    rankers = {
        "DEMUD": Demud(n_components, n_selections=n_selections),
        "SVD": SVDRanker(n_components, n_selections=n_selections),
        "Random": RandomRanker(n_selections=n_selections, random_state=random_state),
    }
    for name, ranker in rankers.items():
        start = time.perf_counter()
        ranker.fit(X)
        log(f"  {name:<7} {n_selections} picks in {time.perf_counter() - start:.2f} s")
    return rankers


def write_rankings(path, rankers, y, class_names, item_names):
    """One CSV row per (method, rank): item index and name, label and score at selection."""
    labels = None if y is None else np.unique(y)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "rank", "index", "item", "label", "class_name", "score"])
        for name, ranker in rankers.items():
            for rank, (index, score) in enumerate(zip(ranker.ranking_, ranker.scores_), 1):
                label = class_name = ""
                if y is not None:
                    label = y[index]
                    class_name = class_names[int(np.searchsorted(labels, label))]
                item = item_names[index] if item_names is not None else int(index)
                writer.writerow([name, rank, int(index), item, label, class_name, f"{score:.6g}"])


def write_explanations(
    path, images, featurizer, demud, X, n_explain, y, class_names, inverter=None
):
    """Explanation panels of DEMUD's first picks: what was expected, what was new, where.

    With CNN features, what was expected and what was new are drawn only when a fitted
    `inverter` (a UCInverter over `featurizer`) is given.
    """
    import matplotlib.pyplot as plt

    from .features import PixelFeaturizer
    from .plotting import ExplanationDisplay

    positions = list(range(min(n_explain, len(demud.ranking_))))
    labels = None
    if y is not None:
        labels = np.asarray(class_names)[np.searchsorted(np.unique(y), y)]
    if isinstance(featurizer, PixelFeaturizer):
        # Pixels are their own features: x̂ and e are images, and the per-pixel squared
        # residual is each pixel's exact share of the pick's score.
        shape = (len(positions), *featurizer.input_shape_)
        explanation = demud.explain(X)
        residual = explanation.residuals[positions].reshape(shape)
        scale = 2 * max(np.abs(residual).max(), 1e-12)
        display = ExplanationDisplay(
            explanation.selections[positions].reshape(shape),
            expected=explanation.expected[positions].reshape(shape),
            novel=0.5 + residual / scale,
            heatmaps=(residual**2).sum(axis=-1),
            positions=positions,
            scores=demud.scores_[positions],
            labels=None if labels is None else labels[demud.ranking_[positions]],
        ).plot()
    else:
        from .explain import NoveltyMap

        display = ExplanationDisplay.from_explanation(
            images,
            demud,
            positions=positions,
            features=X,
            inverter=inverter,
            novelty_map=NoveltyMap(featurizer, demud),
            labels=labels,
        )
    display.figure_.savefig(path, dpi=110)
    plt.close(display.figure_)


def write_report(folder, description, table, n_selections, n_classes, picks, explained):
    """A one-page HTML report: discovery curves and nAUC (with labels), explanations, picks."""
    discovery = ""
    if table:
        rows = "\n".join(
            f"<tr><td>{html.escape(name)}</td><td>{early:.1f}</td><td>{nauc:.1f}</td>"
            f"<td>{found}</td></tr>"
            for name, early, nauc, found in table
        )
        discovery = f"""<h2>Discovery</h2>
<p>Each method picks {n_selections} items one after another; the curve counts the distinct
classes found. nAUC (Lee, Wagstaff et al. 2018, eq. 3) is 100 for the best possible order.</p>
<img src="discovery_curves.png" alt="discovery curves" width="640">
<table><tr><th>method</th><th>nAUC, first {n_classes} picks</th>
<th>nAUC, all {n_selections} picks</th><th>classes found</th></tr>
{rows}</table>"""
    explanations = ""
    if explained:
        explanations = """<h2>Why DEMUD picked them</h2>
<p>One row per pick: the image; for pixel features, and for CNN features with
<code>--invert</code> (decoded by an up-convolutional network trained on this collection),
what the model of the earlier picks expected and what was new; and where in the image the
novelty lies.</p>
<img src="explanations.png" alt="explanations of the first picks" width="640">"""
    pick_rows = "\n".join(
        f"<tr><td>{rank}</td><td>{html.escape(str(item))}</td><td>{html.escape(str(label))}</td>"
        f"<td>{score:.4g}</td></tr>"
        for rank, item, label, score in picks
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sknovel discovery report</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto}}
td,th{{padding:.2em 1em;text-align:left}}</style></head><body>
<h1>Discovery report</h1>
<p>Data: {html.escape(description)}.</p>
{discovery}
{explanations}
<h2>DEMUD's first picks</h2>
<table><tr><th>pick</th><th>item</th><th>label</th><th>score</th></tr>
{pick_rows}</table>
<p>All rankings, with each pick's score at selection time:
<a href="rankings.csv">rankings.csv</a>.</p>
</body></html>
"""
    (folder / "report.html").write_text(page)


def fit_inverter(images, featurizer, args, log):
    """A UCInverter trained on the collection (CNN features only), or None with a note why."""
    from .features import CNNFeaturizer

    if not isinstance(featurizer, CNNFeaturizer):
        log("  --invert: pixel features are images already; no decoder is needed.")
        return None
    from .explain import UCInverter

    log(f"  training a decoder from features to images on {len(images)} images ...")
    start = time.perf_counter()
    inverter = UCInverter(
        featurizer, image_size=64, random_state=args.random_state, verbose=int(not args.quiet)
    ).fit(images)
    log(f"  decoder trained: {time.perf_counter() - start:.1f} s")
    return inverter


def discover(args):
    """Run the ``discover`` command."""
    log = (lambda message: None) if args.quiet else print
    if args.demo:
        images, y, class_names, description = load_demo()
    elif args.data is not None:
        images, y, class_names, description = load_npz(args.data)
    else:
        images, y, class_names, description = load_folder(
            args.images, args.labels_from_folders, log
        )
    if args.n_selections > len(images):
        raise SystemExit(f"--n-selections={args.n_selections} exceeds the {len(images)} items.")
    log(f"sknovel discover: {description}")
    featurizer, X = featurize(images, args.features, log)
    rankers = rank_all(X, args.n_components, args.n_selections, args.random_state, log)
    args.output.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import DiscoveryCurveDisplay

    item_names = [str(p) for p in images] if isinstance(images, list) else None
    write_rankings(args.output / "rankings.csv", rankers, y, class_names, item_names)
    table, early = [], None
    if y is not None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        rankings = {name: ranker.ranking_ for name, ranker in rankers.items()}
        DiscoveryCurveDisplay.from_rankings(y, rankings, show_random=True, ax=ax)
        ax.set_title(f"Discovery on {description.split(' (')[0]}")
        fig.tight_layout()
        fig.savefig(args.output / "discovery_curves.png", dpi=120)
        plt.close(fig)
        k = len(np.unique(y))
        early = min(k, args.n_selections)
        table = [
            (
                name,
                discovery_nauc(y, ranking, early),
                discovery_nauc(y, ranking),
                len(np.unique(y[ranking])),
            )
            for name, ranking in rankings.items()
        ]
        random_curve = expected_random_discovery_curve(y, args.n_selections)
        table.append(
            (
                "Random (exact expectation)",
                _nauc_of_curve(random_curve[:early], k),
                _nauc_of_curve(random_curve, k),
                f"{random_curve[-1]:.2f}",
            )
        )
    explained = args.explain > 0 and featurizer is not None
    inverter = None
    if explained and args.invert:
        inverter = fit_inverter(images, featurizer, args, log)
    if explained:
        start = time.perf_counter()
        write_explanations(
            args.output / "explanations.png",
            images,
            featurizer,
            rankers["DEMUD"],
            X,
            args.explain,
            y,
            class_names,
            inverter=inverter,
        )
        log(f"  explanations of {args.explain} picks: {time.perf_counter() - start:.1f} s")
    demud = rankers["DEMUD"]
    picks = [
        (
            rank,
            item_names[index] if item_names else int(index),
            "" if y is None else class_names[int(np.searchsorted(np.unique(y), y[index]))],
            score,
        )
        for rank, (index, score) in enumerate(zip(demud.ranking_[:20], demud.scores_), 1)
    ]
    write_report(args.output, description, table, args.n_selections, early, picks, explained)
    if table:
        log(f"  {'method':<27} nAUC@{early:<4} nAUC@{args.n_selections:<4} classes found")
        for name, early_nauc, nauc, found in table:
            log(f"  {name:<27} {early_nauc:8.1f} {nauc:9.1f}   {found}")
    log(f"Report: {args.output / 'report.html'}")
    return 0


def main(argv=None):
    """Entry point of the ``sknovel`` command."""
    args = build_parser().parse_args(argv)
    if args.command == "discover":
        return discover(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
