"""Pseudo-anomalies: corrupted normal images that the detector scores as anomalous.

The counterfactual generator learns to move images from high to low anomaly scores, so it
needs training images with high scores. When no anomalies are given, they are made from the
normal images by one random corruption each (:func:`sknovel.utils.corruptions.corrupt`:
rotation, mirror image, overlay, strokes or a pasted patch), and kept only when the detector
calls them anomalous.
"""

import numpy as np

from sknovel.utils.corruptions import CORRUPTIONS, corrupt

__all__ = ["CORRUPTIONS", "MAX_ROUNDS", "corrupt", "pseudo_anomalies"]

#: Rounds of corruption tried before the highest-scoring candidates fill the remaining places.
MAX_ROUNDS = 4


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
