"""The ``sknovel`` command: rank a labelled collection and write a report.

``sknovel discover --demo`` ranks scikit-learn's digits (1 797 real 8x8 handwritten digits that
ship with scikit-learn) with DEMUD, static SVD and random selection, and writes the discovery
curves (PNG), the rankings (CSV) and an HTML report into ``--output``.
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
    """scikit-learn's digits as (X, y, class names, description)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    names = [str(name) for name in digits.target_names]
    return digits.data, digits.target, names, "scikit-learn digits (1 797 images, 8x8, 10 classes)"


def load_npz(path):
    """(X, y, class names, description) from an .npz with ``images``/``X`` and ``labels``/``y``."""
    with np.load(path, allow_pickle=False) as data:
        key_x = "images" if "images" in data else "X"
        key_y = "labels" if "labels" in data else "y"
        if key_x not in data or key_y not in data:
            raise SystemExit(f"{path}: expected arrays 'images' (or 'X') and 'labels' (or 'y').")
        images, labels = data[key_x], data[key_y]
        names = [str(n) for n in data["class_names"]] if "class_names" in data else None
    X = images.reshape(len(images), -1).astype(np.float64)
    if images.dtype == np.uint8:
        X /= 255.0
    if names is None:
        names = [str(label) for label in np.unique(labels)]
    return X, labels, names, f"{path} ({len(X)} items, {X.shape[1]} features)"


def build_parser():
    """The argument parser of the ``sknovel`` command."""
    parser = argparse.ArgumentParser(prog="sknovel", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    discover = commands.add_parser("discover", help="rank a collection and write a report")
    source = discover.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="use scikit-learn's digits")
    source.add_argument("--data", type=Path, help=".npz file with images/X and labels/y")
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


def write_rankings(path, rankers, y, class_names):
    """One CSV row per (method, rank): item index, label and score at selection."""
    labels = np.unique(y)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "rank", "index", "label", "class_name", "score"])
        for name, ranker in rankers.items():
            for rank, (index, score) in enumerate(zip(ranker.ranking_, ranker.scores_), 1):
                label = y[index]
                class_name = class_names[int(np.searchsorted(labels, label))]
                writer.writerow([name, rank, int(index), label, class_name, f"{score:.6g}"])


def write_report(folder, description, table, n_selections, n_classes):
    """A one-page HTML report around the discovery-curve picture."""
    rows = "\n".join(
        f"<tr><td>{html.escape(name)}</td><td>{early:.1f}</td><td>{nauc:.1f}</td>"
        f"<td>{found}</td></tr>"
        for name, early, nauc, found in table
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sknovel discovery report</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto}}
td,th{{padding:.2em 1em;text-align:left}}</style></head><body>
<h1>Discovery report</h1>
<p>Data: {html.escape(description)}. Each method picks {n_selections} items one after another;
the curve counts the distinct classes found. nAUC (Lee, Wagstaff et al. 2018, eq. 3) is 100 for
the best possible order.</p>
<img src="discovery_curves.png" alt="discovery curves" width="640">
<table><tr><th>method</th><th>nAUC, first {n_classes} picks</th>
<th>nAUC, all {n_selections} picks</th><th>classes found</th></tr>
{rows}</table>
<p>Rankings, with each pick's score at selection time: <a href="rankings.csv">rankings.csv</a>.</p>
</body></html>
"""
    (folder / "report.html").write_text(page)


def discover(args):
    """Run the ``discover`` command."""
    log = (lambda message: None) if args.quiet else print
    X, y, class_names, description = load_demo() if args.demo else load_npz(args.data)
    if args.n_selections > len(X):
        raise SystemExit(f"--n-selections={args.n_selections} exceeds the {len(X)} items.")
    log(f"sknovel discover: {description}")
    rankers = rank_all(X, args.n_components, args.n_selections, args.random_state, log)
    args.output.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import DiscoveryCurveDisplay

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rankings = {name: ranker.ranking_ for name, ranker in rankers.items()}
    DiscoveryCurveDisplay.from_rankings(y, rankings, show_random=True, ax=ax)
    ax.set_title(f"Discovery on {description.split(' (')[0]}")
    fig.tight_layout()
    fig.savefig(args.output / "discovery_curves.png", dpi=120)
    plt.close(fig)

    write_rankings(args.output / "rankings.csv", rankers, y, class_names)
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
    write_report(args.output, description, table, args.n_selections, early)
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
