"""Image corruptions that turn normal images into pseudo-anomalies.

Detectors trained with outlier exposure (:class:`~sknovel.detectors.OutlierExposureDetector`)
and the counterfactual explainer both need images with high anomaly scores; when the user
gives none, they are made from the normal images by one random corruption each, of five
kinds:

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
    if n == 0:
        return np.empty(images.shape, dtype=np.float32), np.empty(0, dtype=int)
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
