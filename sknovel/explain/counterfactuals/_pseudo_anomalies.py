"""Pseudo-anomalies: corrupted normal images that the detector scores as anomalous.

The counterfactual generator learns to move images from high to low anomaly scores, so it
needs training images with high scores. When no anomalies are given, they are made from the
normal images by one random corruption each, of five kinds, and kept only when the detector
calls them anomalous:

* ``rotate``: a quarter, half or three-quarter turn (half turns only for non-square images);
* ``flip``: a left-right or up-down mirror image;
* ``overlay``: the pixel-wise maximum with another normal image, shifted by up to a quarter
  of the size (two objects in one picture);
* ``strokes``: one to three straight lines of random colour, about 1/14 of the size thick;
* ``patch``: a square of a quarter to half the size cut from another image and pasted at a
  random place (CutPaste, Li et al. 2021).
"""

import numpy as np

#: The corruptions, in the order their index is drawn.
CORRUPTIONS = ("rotate", "flip", "overlay", "strokes", "patch")
#: Rounds of corruption tried before the highest-scoring candidates fill the remaining places.
MAX_ROUNDS = 4


def corrupt(images, rng):
    """One random corruption of each image.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, C), float in [0, 1]
    rng : numpy.random.RandomState

    Returns
    -------
    corrupted : ndarray of shape (n, H, W, C), float32
    kinds : ndarray of shape (n,), int
        Index into :data:`CORRUPTIONS` of each image's corruption.
    """
    n, height, width, _ = images.shape
    kinds = rng.randint(len(CORRUPTIONS), size=n)
    partners = rng.randint(n, size=n)
    corrupted = np.empty(images.shape, dtype=np.float32)
    for i, (image, kind) in enumerate(zip(images, kinds)):
        other = images[partners[i]]
        name = CORRUPTIONS[kind]
        if name == "rotate":
            turns = rng.randint(1, 4) if height == width else 2
            result = np.rot90(image, turns, axes=(0, 1))
        elif name == "flip":
            result = image[::-1] if rng.rand() < 0.5 else image[:, ::-1]
        elif name == "overlay":
            shift = (
                rng.randint(-(height // 4), height // 4 + 1),
                rng.randint(-(width // 4), width // 4 + 1),
            )
            result = np.maximum(image, np.roll(other, shift, axis=(0, 1)))
        elif name == "strokes":
            result = _draw_strokes(image, rng)
        else:
            result = _paste_patch(image, other, rng)
        corrupted[i] = result
    return corrupted, kinds


def _draw_strokes(image, rng):
    height, width, channels = image.shape
    rows, columns = np.mgrid[:height, :width].astype(np.float64)
    points = np.stack([rows, columns], axis=-1)
    thickness = max(1.0, min(height, width) / 14)
    result = image.copy()
    for _ in range(rng.randint(1, 4)):
        start = rng.uniform(0, [height, width])
        end = rng.uniform(0, [height, width])
        colour = rng.uniform(0.5, 1, size=channels) if channels > 1 else np.ones(1)
        result[_distance_to_segment(points, start, end) < thickness] = colour
    return result


def _distance_to_segment(points, start, end):
    """Euclidean distance of every point (..., 2) to the segment from `start` to `end`."""
    direction = end - start
    t = np.clip((points - start) @ direction / max(direction @ direction, 1e-12), 0, 1)
    return np.linalg.norm(points - (start + t[..., np.newaxis] * direction), axis=-1)


def _paste_patch(image, other, rng):
    height, width, _ = image.shape
    side = rng.randint(max(1, min(height, width) // 4), max(2, min(height, width) // 2 + 1))
    source = rng.randint(height - side + 1), rng.randint(width - side + 1)
    target = rng.randint(height - side + 1), rng.randint(width - side + 1)
    result = image.copy()
    result[target[0] : target[0] + side, target[1] : target[1] + side] = other[
        source[0] : source[0] + side, source[1] : source[1] + side
    ]
    return result


def pseudo_anomalies(images, score, threshold, rng):
    """As many corrupted images as `images` holds, preferring those scored anomalous.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, C), float in [0, 1]
        Normal images.
    score : callable
        Maps a float array of images (b, H, W, C) to their anomaly scores in [0, 1].
    threshold : float
        Images scoring above it are anomalous.
    rng : numpy.random.RandomState

    Returns
    -------
    anomalies : ndarray of shape (n, H, W, C), float32
        Corrupted images scored above `threshold`, in the order made, topped up (when
        :data:`MAX_ROUNDS` rounds did not give enough) with the highest-scoring others.
    n_above : int
        How many of them the detector calls anomalous.
    """
    n = len(images)
    kept, spare, spare_scores = [], [], []
    for _ in range(MAX_ROUNDS):
        candidates, _ = corrupt(images, rng)
        scores = score(candidates)
        above = scores > threshold
        kept.append(candidates[above])
        spare.append(candidates[~above])
        spare_scores.append(scores[~above])
        if sum(len(part) for part in kept) >= n:
            break
    kept = np.concatenate(kept)[:n]
    n_above = len(kept)
    if n_above < n:
        spare_scores = np.concatenate(spare_scores)
        best = np.argsort(-spare_scores, kind="stable")[: n - n_above]
        kept = np.concatenate([kept, np.concatenate(spare)[best]])
    return kept, n_above
