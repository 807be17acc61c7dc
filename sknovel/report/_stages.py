"""The long stages of a discovery report: featurizing, ranking, training a decoder, explaining.

Each stage shows one progress bar with a remaining-time estimate on stderr (when asked for)
and is timed; the report lists the times. Ranking and training show the estimators' own bars
(their ``verbose``); the other stages show a bar of the report's.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import time

import numpy as np
from sklearn.utils import Bunch

from sknovel.rankers import Demud, RandomRanker, SVDRanker
from sknovel.utils.progress import progress_bar

#: Names of the stages, in the order they run.
FEATURIZING = "featurizing"
RANKING = "ranking"
INVERTING = "training the decoder (--invert)"
EXPLAINING = "explaining the picks"

#: Side of the images a decoder draws.
DECODER_SIZE = 64
#: Image passes a report's decoder trains for (epochs x images), from DECODER_EPOCHS[0]
#: epochs at most to DECODER_EPOCHS[1] at least; see :func:`decoder_epochs`.
DECODER_IMAGE_PASSES = 30_000
DECODER_EPOCHS = (60, 20)


def decoder_epochs(n_images):
    """Epochs of a report's decoder for a collection of `n_images`.

    UCInverter's default 60 epochs on small collections (up to 500 images); on larger ones
    as many as make about 30 000 image passes, at least 20, so that training takes a few
    minutes on 2 CPU cores at any size up to 1 500 images (the 2018 paper's 1 509 MSL
    images: 20 epochs, 213 s on a quiet machine, and the decoding of 80 % of the images is
    nearest its own image among 100). The learning rate decays to zero over whatever number
    of epochs is chosen, so a shorter schedule still converges.
    """
    most, least = DECODER_EPOCHS
    return int(min(most, max(least, -(-DECODER_IMAGE_PASSES // max(1, n_images)))))


class Stages:
    """Progress bars and durations of a report's stages.

    Parameters
    ----------
    progress : bool
        Show tqdm bars on stderr.
    log : callable or None
        Told one line (str) when a stage ends.
    """

    def __init__(self, progress=False, log=None):
        self.progress = progress
        self.log = log
        self.durations = {}

    def bar(self, total, description, unit):
        """A progress bar over `total` `unit`s (disabled unless `progress`), cleared at the end."""
        return progress_bar(total, description, unit=unit, verbose=self.progress, leave=False)

    @contextlib.contextmanager
    def timed(self, name):
        """Time the block as stage `name` (added to earlier time under that name)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.durations[name] = self.durations.get(name, 0.0) + time.perf_counter() - start

    def say(self, line):
        if self.log is not None:
            self.log(line)


# --- featurizing ----------------------------------------------------------------------------


def make_featurizer(kind, images):
    """An unfitted featurizer for `kind` ("pixels" or "cnn"); None for 2-D features."""
    from sknovel.features import CNNFeaturizer, PixelFeaturizer

    if kind is None:
        return None
    if kind == "cnn":
        # No activation cache (memory=None): the report featurizes in chunks (for its
        # progress bar) and keeps the features itself.
        return CNNFeaturizer(batch_size=32)
    if kind == "pixels":
        files = isinstance(images, (list, tuple))
        return PixelFeaturizer(size=(64, 64) if files else None)
    raise ValueError(f"features must be 'pixels', 'cnn' or None; got {kind!r}.")


def featurize(images, featurizer, stages):
    """(fitted featurizer, X float64) of the images, with a progress bar over the images.

    A 2-D array with no featurizer is taken as the features themselves.
    """
    if featurizer is None:
        return None, np.asarray(images, dtype=np.float64)
    n_items = len(images)
    with stages.timed(FEATURIZING), stages.bar(n_items, FEATURIZING, "image") as bar:
        featurizer.fit(images)
        step = max(1, int(getattr(featurizer, "batch_size", 64)))
        parts = []
        for start in range(0, n_items, step):
            chunk = images[start : start + step]
            parts.append(np.asarray(featurizer.transform(chunk), dtype=np.float64))
            bar.update(len(chunk))
        X = np.concatenate(parts)
    kind = "cnn" if type(featurizer).__name__ == "CNNFeaturizer" else "pixels"
    stages.say(f"  {kind} features: {X.shape[1]} per image, {stages.durations[FEATURIZING]:.1f} s")
    return featurizer, X


def featurize_on_dask(paths, featurizer, stages):
    """Featurize image files on the active Dask scheduler; the features stay on the workers.

    Files are checked, read and featurized in the partition tasks (on a cluster: on the
    workers); unreadable files are left out, as :func:`~sknovel.features.load_image_folder`
    does with ``on_error="skip"``.

    Returns
    -------
    featurizer : the fitted featurizer
    X : dask.array, persisted, of shape (n kept, d)
    listing : Bunch with ``paths``, ``kept_indices``, ``skipped``, ``skip_reasons``
    """
    from sknovel.features import featurize_with_dask

    with stages.timed(FEATURIZING):
        result = featurize_with_dask(featurizer, list(paths), fit=True, on_error="skip")
        X = result.features.persist()
        _wait_for(X)
    for path, why in zip(result.skipped, result.skip_reasons):
        stages.say(f"  skipped unreadable file {path} ({why})")
    stages.say(
        f"  features of {X.shape[0]} images computed on Dask ({X.numblocks[0]} partitions): "
        f"{stages.durations[FEATURIZING]:.1f} s"
    )
    return result.featurizer, X, result


def _wait_for(collection):
    """Block until a persisted Dask collection is computed (so the stage's time is honest)."""
    try:
        from distributed import default_client, wait
    except ImportError:  # the threaded scheduler persists eagerly
        return
    try:
        default_client()
    except ValueError:  # no distributed client: persisted already
        return
    wait(collection)


# --- ranking --------------------------------------------------------------------------------


def rank(X, *, n_components, n_selections, random_state, stages):
    """{name: fitted ranker} of DEMUD, static SVD and random selection on X.

    DEMUD, the slow one, shows its own progress bar over the picks when `stages` shows
    progress.
    """
    rankers = {
        "DEMUD": Demud(n_components, n_selections=n_selections, verbose=stages.progress),
        "SVD": SVDRanker(n_components, n_selections=n_selections),
        "Random": RandomRanker(n_selections=n_selections, random_state=random_state),
    }
    with stages.timed(RANKING):
        for name, ranker in rankers.items():
            start = time.perf_counter()
            ranker.fit(X)
            stages.say(f"  {name:<7} {n_selections} picks in {time.perf_counter() - start:.2f} s")
    return rankers


# --- training a decoder (UC inversion) ------------------------------------------------------


def train_decoder(images, featurizer, X, ranker, *, random_state, stages):
    """A UCInverter of `ranker`'s picks trained on the collection's features, or None.

    The features `X` were computed already and are not computed again. The inverter shows
    its own progress bar over the epochs when `stages` shows progress. Only CNN features
    need a decoder: pixel features are images already.
    """
    from sknovel.features import CNNFeaturizer

    if not isinstance(featurizer, CNNFeaturizer):
        stages.say("  --invert: pixel features are images already; no decoder is needed.")
        return None
    from sknovel.explain import UCInverter, inverts_with_pretrained_decoder

    pretrained = inverts_with_pretrained_decoder(featurizer)
    inverter = UCInverter(
        featurizer,
        ranker,
        image_size=DECODER_SIZE,
        epochs=decoder_epochs(len(X)),
        pretrained=pretrained,
        random_state=random_state,
        verbose=stages.progress,
    )
    with stages.timed(INVERTING):
        inverter.fit(images, features=np.asarray(X, dtype=np.float32))
    start = "the shipped decoder fine-tuned" if pretrained else "decoder trained"
    stages.say(
        f"  {start} on {len(X)} images, {inverter.n_epochs_} epochs: "
        f"{stages.durations[INVERTING]:.1f} s"
    )
    return inverter


def describe_decoder(inverter, images, X):
    """One line on a trained decoder: its size, epochs and how well it decodes.

    How well: how often the decoding of an image's features is nearest that image among 100.

    Measured on the collection the decoder learnt from (its intended, transductive use;
    chance: 1 %), so that a reader of the report knows how far to trust the decoded
    pictures. Smaller collections compete among all their images.
    """
    from sknovel.metrics import inversion_identification_rate

    targets = inverter.target_images(images)
    decoded = inverter.inverse_transform(np.asarray(X, dtype=np.float32))
    n_candidates = min(100, len(targets))
    rate = inversion_identification_rate(
        targets, decoded, n_candidates=n_candidates, random_state=0
    )
    start = "the shipped decoder fine-tuned " if inverter.pretrained else ""
    return (
        f"UCInverter, {inverter.image_size} px, {start}{inverter.n_epochs_} epochs; "
        f"decodes {rate:.0%} "
        f"of the images nearest their own among {n_candidates} (chance {1 / n_candidates:.0%})"
    )


# --- explaining -----------------------------------------------------------------------------


def explain(images, featurizer, demud, X, n_explain, *, inverter, stages):
    """The pictures of DEMUD's first `n_explain` picks: one Bunch of images per pick.

    Each Bunch holds ``selection`` (the image as the featurizer saw it) and, when they
    can be drawn, ``expected`` (what the model of the earlier picks expected), ``novel``
    (what was new) and ``where`` (heat of each pixel's share of the score, (H, W)); with an
    `inverter`, ``inverted`` (the pick's own features decoded), and ``expected`` and
    ``novel`` decoded by it. Images are floats in [0, 1].
    """
    from sknovel.features import PixelFeaturizer

    positions = list(range(min(n_explain, len(demud.ranking_))))
    if featurizer is None or not positions:
        return []
    with stages.timed(EXPLAINING), stages.bar(len(positions), "explaining", "pick") as bar:
        if isinstance(featurizer, PixelFeaturizer):
            pictures = _pixel_pictures(featurizer, demud, X, positions)
            bar.update(len(positions))
        else:
            pictures = _map_pictures(images, featurizer, demud, X, positions, bar)
            if inverter is not None:
                _add_inverted(pictures, inverter, images, X, positions)
    stages.say(f"  explanations of {len(positions)} picks: {stages.durations[EXPLAINING]:.1f} s")
    return pictures


def _pixel_pictures(featurizer, demud, X, positions):
    """Pixels are their own features: x̂ and e are images, and each pixel's squared residual
    is its exact share of the pick's score."""
    shape = (len(positions), *featurizer.input_shape_)
    explanation = demud.explain(X)
    residual = explanation.residuals[positions].reshape(shape)
    scale = 2 * max(np.abs(residual).max(), 1e-12)
    selections = explanation.selections[positions].reshape(shape)
    expected = explanation.expected[positions].reshape(shape)
    return [
        Bunch(
            selection=np.clip(selections[i], 0, 1),
            expected=np.clip(expected[i], 0, 1),
            novel=0.5 + residual[i] / scale,
            where=(residual[i] ** 2).sum(axis=-1),
        )
        for i in range(len(positions))
    ]


def _map_pictures(images, featurizer, demud, X, positions, bar):
    """The picks as the featurizer saw them, with NoveltyMap heatmaps, one pick at a time."""
    from sknovel.explain import NoveltyMap

    novelty_map = NoveltyMap(featurizer, demud)
    pictures = []
    for position in positions:
        heat = novelty_map.explain(images, [position], features=X)
        pictures.append(Bunch(selection=heat.images[0], where=heat.maps[0]))
        bar.update(1)
    return pictures


def _add_inverted(pictures, inverter, images, X, positions):
    """Add the decoded pick, expected part and novel part to each pick's pictures.

    `inverter` is a fitted ``UCInverter(featurizer, demud)``; `X` the features DEMUD ranked.
    """
    decoded = inverter.explain(images, positions, features=X)
    for i, picture in enumerate(pictures):
        picture.inverted = decoded.selections[i]
        picture.expected = decoded.expected[i]
        picture.novel = decoded.novel[i]
