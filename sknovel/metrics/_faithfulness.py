"""Faithfulness of explanation maps: deletion / insertion curves against the score they explain.

A map claims that some pixels matter more than others for a score (a pick's novelty, an
autoencoder's reconstruction error). Deletion replaces the pixels in the map's order, most
important first, with a baseline and records the score; a faithful map makes it fall fast
(low area under the curve). Insertion starts from the baseline and restores pixels in the
same order; a faithful map makes the score rise fast (high area). Petsiuk et al. (2018,
RISE) introduced both curves; here they take any ``score_fn(images) -> scores``.

Ties in a map are broken by the lower flat pixel index (row-major), so curves are
deterministic. Random maps give the baseline every map must beat; they are smooth (uniform
noise on a coarse grid, upsampled bilinearly) so that they remove regions of the same
spatial scale as real heatmaps rather than scattered single pixels.
"""

from numbers import Integral, Real

import numpy as np
from scipy import ndimage
from sklearn.utils import Bunch, check_random_state

#: Default fractions of the pixels removed (or restored) along a curve.
DEFAULT_FRACTIONS = np.linspace(0.0, 1.0, 11)


def removal_baseline(image, baseline="blur"):
    """The image that removed pixels are replaced with.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    baseline : {"blur", "mean", "zero"}, float or ndarray, default="blur"
        ``"blur"``: a Gaussian blur of the image with sigma = max(H, W) / 16 (keeps colours
        and coarse layout, removes detail); ``"mean"``: the image's mean colour; ``"zero"``
        or a float: a constant; an array: used as is (shape of `image`).

    Returns
    -------
    baseline_image : ndarray, shaped like `image`
    """
    image = np.asarray(image, dtype=np.float64)
    if isinstance(baseline, np.ndarray):
        if baseline.shape != image.shape:
            raise ValueError(
                f"baseline has shape {baseline.shape}, but the image has {image.shape}."
            )
        return baseline.astype(np.float64)
    if isinstance(baseline, str):
        if baseline == "blur":
            sigma = max(image.shape[:2]) / 16
            sigmas = (sigma, sigma) + (0,) * (image.ndim - 2)
            return ndimage.gaussian_filter(image, sigmas, mode="reflect")
        if baseline == "mean":
            return np.broadcast_to(image.mean(axis=(0, 1), keepdims=True), image.shape).copy()
        if baseline == "zero":
            return np.zeros_like(image)
    elif isinstance(baseline, Real) and not isinstance(baseline, bool):
        return np.full_like(image, float(baseline))
    raise ValueError(
        f"baseline must be 'blur', 'mean', 'zero', a float or an image array; got {baseline!r}."
    )


def _check_map(image, saliency):
    image = np.asarray(image)
    saliency = np.asarray(saliency, dtype=np.float64)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C); got {image.shape}.")
    if saliency.shape != image.shape[:2]:
        raise ValueError(
            f"saliency must have the image's height and width {image.shape[:2]}; "
            f"got shape {saliency.shape}."
        )
    if not np.all(np.isfinite(saliency)):
        raise ValueError("saliency contains NaN or infinity.")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinity.")
    return image, saliency


def _check_fractions(fractions):
    fractions = DEFAULT_FRACTIONS if fractions is None else np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or len(fractions) < 1 or fractions.min() < 0 or fractions.max() > 1:
        raise ValueError("fractions must be a 1-D array of values in [0, 1].")
    if np.any(np.diff(fractions) <= 0):
        raise ValueError("fractions must increase strictly.")
    return fractions


def pixel_order(saliency):
    """Flat pixel indices, most important first; ties go to the lower flat index."""
    return np.argsort(-np.asarray(saliency, dtype=np.float64).ravel(), kind="stable")


def _curve(score_fn, image, saliency, baseline, fractions, insert, batch_size):
    image, saliency = _check_map(image, saliency)
    fractions = _check_fractions(fractions)
    source = np.asarray(image, dtype=np.float64)
    filler = removal_baseline(source, baseline)
    start, end = (filler, source) if insert else (source, filler)
    variants = np.stack([_removed(start, end, saliency, fraction) for fraction in fractions])
    scores = np.concatenate(
        [
            np.asarray(score_fn(variants[i : i + batch_size]), dtype=np.float64).ravel()
            for i in range(0, len(variants), batch_size)
        ]
    )
    if scores.shape != fractions.shape:
        raise ValueError(
            f"score_fn must return one score per image; got {scores.shape} for {len(fractions)}."
        )
    return Bunch(fractions=fractions, scores=scores, kind="insertion" if insert else "deletion")


def deletion_curve(score_fn, image, saliency, *, baseline="blur", fractions=None, batch_size=16):
    """Score of the image as its most important pixels (by `saliency`) are removed.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(images) -> scores``: images of shape (b, H, W[, C]) as float in [0, 1],
        one score per image (higher = more of what the map explains, e.g. more novel).
    image : ndarray of shape (H, W) or (H, W, C)
        float in [0, 1].
    saliency : ndarray of shape (H, W)
        Importance of each pixel (higher = more important).
    baseline : {"blur", "mean", "zero"}, float or ndarray, default="blur"
        What removed pixels become; see :func:`removal_baseline`.
    fractions : array-like of float in [0, 1], default=None
        Fractions of the pixels removed at each point; None: 0, 0.1, ..., 1.
    batch_size : int, default=16
        Images passed to `score_fn` at a time.

    Returns
    -------
    curve : Bunch
        ``fractions`` and ``scores`` (float64 arrays of the same length), and
        ``kind="deletion"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import deletion_curve
    >>> image = np.zeros((4, 4)); image[0, 0] = 1.0
    >>> curve = deletion_curve(lambda b: b.sum(axis=(1, 2)), image, image, baseline="zero",
    ...                        fractions=[0, 1 / 16, 1])
    >>> curve.scores.tolist()
    [1.0, 0.0, 0.0]
    """
    return _curve(score_fn, image, saliency, baseline, fractions, False, batch_size)


def insertion_curve(score_fn, image, saliency, *, baseline="blur", fractions=None, batch_size=16):
    """Score as the most important pixels (by `saliency`) are restored onto the baseline.

    Parameters are those of :func:`deletion_curve`; the curve starts at the baseline image
    (fraction 0) and ends at the image itself (fraction 1).

    Parameters
    ----------
    score_fn : callable
    image : ndarray of shape (H, W) or (H, W, C)
    saliency : ndarray of shape (H, W)
    baseline : {"blur", "mean", "zero"}, float or ndarray, default="blur"
    fractions : array-like of float in [0, 1], default=None
    batch_size : int, default=16

    Returns
    -------
    curve : Bunch
        ``fractions``, ``scores`` and ``kind="insertion"``.
    """
    return _curve(score_fn, image, saliency, baseline, fractions, True, batch_size)


def curve_auc(curve, *, normalize=True):
    """Area under a deletion or insertion curve, per unit of the fraction axis.

    Parameters
    ----------
    curve : Bunch
        From :func:`deletion_curve` or :func:`insertion_curve`.
    normalize : bool, default=True
        Divide the scores by the score of the unchanged image (the first score of a
        deletion curve, the last of an insertion curve), so that areas of different images
        are comparable.

    Returns
    -------
    auc : float
    """
    fractions, scores = np.asarray(curve.fractions), np.asarray(curve.scores, dtype=float)
    if len(fractions) < 2:
        raise ValueError("A curve needs at least two points to have an area.")
    if normalize:
        reference = scores[0] if curve.get("kind", "deletion") == "deletion" else scores[-1]
        if reference == 0:
            raise ValueError("Cannot normalise: the unchanged image scores 0.")
        scores = scores / reference
    return float(np.trapezoid(scores, fractions) / (fractions[-1] - fractions[0]))


def random_maps(shape, n_maps, *, grid=8, random_state=None):
    """Smooth random importance maps: uniform noise on a coarse grid, upsampled bilinearly.

    Parameters
    ----------
    shape : tuple (H, W)
    n_maps : int
    grid : int, default=8
        Noise cells along the longer side; larger gives finer, more scattered maps.
    random_state : None, int or RandomState, default=None

    Returns
    -------
    maps : ndarray of shape (n_maps, H, W)
    """
    if not isinstance(n_maps, Integral) or n_maps < 1:
        raise ValueError(f"n_maps must be a positive int; got {n_maps!r}.")
    rng = check_random_state(random_state)
    height, width = shape
    cells = (max(2, round(grid * height / max(shape))), max(2, round(grid * width / max(shape))))
    noise = rng.random_sample((n_maps, *cells))
    zoom = (1, height / cells[0], width / cells[1])
    maps = ndimage.zoom(noise, zoom, order=1, mode="nearest", grid_mode=True)
    # Tiny jitter so that upsampled plateaus do not fall back on the index tie rule.
    return maps[:, :height, :width] + 1e-9 * rng.random_sample((n_maps, height, width))


def removal_test(
    score_fn, image, saliency, *, fraction=0.1, baseline="blur", n_random=20, random_state=None
):
    """Does removing the map's top `fraction` lower the score more than random regions do?

    Parameters
    ----------
    score_fn : callable
        As in :func:`deletion_curve`.
    image : ndarray of shape (H, W) or (H, W, C)
    saliency : ndarray of shape (H, W)
    fraction : float in (0, 1), default=0.1
        Share of the pixels removed.
    baseline : {"blur", "mean", "zero"}, float or ndarray, default="blur"
    n_random : int, default=20
        Smooth random maps (:func:`random_maps`) to compare with.
    random_state : None, int or RandomState, default=None

    Returns
    -------
    result : Bunch
        ``score`` (unchanged image), ``drop`` (score minus score after removing the map's
        top region), ``random_drops`` (n_random,), and ``beats_random``: whether ``drop``
        exceeds the median random drop.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}.")
    image, saliency = _check_map(image, saliency)
    source = np.asarray(image, dtype=np.float64)
    filler = removal_baseline(source, baseline)
    maps = [saliency, *random_maps(saliency.shape, n_random, random_state=random_state)]
    variants = [source] + [_removed(source, filler, m, fraction) for m in maps]
    scores = np.concatenate(
        [
            np.asarray(score_fn(np.stack(variants[i : i + 16])), dtype=np.float64).ravel()
            for i in range(0, len(variants), 16)
        ]
    )
    drops = scores[0] - scores[1:]
    return Bunch(
        score=scores[0],
        drop=drops[0],
        random_drops=drops[1:],
        beats_random=bool(drops[0] > np.median(drops[1:])),
    )


def _removed(source, filler, saliency, fraction):
    """`source` with the top `fraction` of pixels by `saliency` replaced by `filler`."""
    height, width = saliency.shape
    mask = np.zeros(height * width, dtype=bool)
    mask[pixel_order(saliency)[: int(round(fraction * height * width))]] = True
    mask = mask.reshape(height, width)
    return np.where(mask[..., np.newaxis] if source.ndim == 3 else mask, filler, source)
