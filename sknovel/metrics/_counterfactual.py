"""How good are counterfactual explanations of anomalies: normal, valid, close, distinct.

The measures of Liznerski, Varshneya, Calikus et al., *Reimagining Anomalies: What If
Anomalies Were Normal?* (2024), on plain arrays: detector scores in [0, 1] (higher = more
anomalous), images, and the concept classifier's probabilities, as
:meth:`~sknovel.explain.CounterfactualExplainer.explain` returns them.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.metrics import roc_auc_score

from sknovel.utils.images import to_unit_float


def _check_scores(scores, name):
    scores = np.asarray(scores)
    if scores.size == 0:
        raise ValueError(f"{name} holds no scores.")
    if scores.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numbers; got dtype {scores.dtype}.")
    scores = scores.astype(np.float64).ravel()
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return scores


def counterfactual_normality(normal_scores, counterfactual_scores):
    """ROC AUC of the detector telling counterfactuals from normal images: 0.5 is ideal.

    The paper's *normality* measure: counterfactuals are the positive class, real normal
    (test) images the negative one, ranked by the detector's anomaly score. 0.5 means the
    detector cannot tell them apart; 1 that it finds every counterfactual more anomalous
    than every normal image; below 0.5, that it finds the counterfactuals *more* normal than
    normal images (e.g. faint or blurred images for an autoencoder). Lower is better down to
    0.5.

    Parameters
    ----------
    normal_scores : array-like of shape (n_normal,)
        Detector anomaly scores of normal images.
    counterfactual_scores : array-like of shape (n,) or (n, K)
        Detector scores of the counterfactuals; all of them count, flattened.

    Returns
    -------
    auc : float
        In [0, 1].

    See Also
    --------
    counterfactual_validity : Share of counterfactuals the detector calls normal.

    Examples
    --------
    >>> from sknovel.metrics import counterfactual_normality
    >>> counterfactual_normality([0.1, 0.3], [[0.2, 0.4]])
    0.75
    """
    normal = _check_scores(normal_scores, "normal_scores")
    counterfactual = _check_scores(counterfactual_scores, "counterfactual_scores")
    labels = np.r_[np.zeros(len(normal)), np.ones(len(counterfactual))]
    return float(roc_auc_score(labels, np.r_[normal, counterfactual]))


def counterfactual_validity(counterfactual_scores, *, threshold=0.5):
    """Share of counterfactuals the detector calls normal: score at most `threshold`.

    Parameters
    ----------
    counterfactual_scores : array-like of shape (n,) or (n, K)
        Detector anomaly scores of the counterfactuals.
    threshold : float, default=0.5
        The detector's threshold on the [0, 1] scale; an image scoring at most this is
        normal. :class:`~sknovel.explain.CounterfactualExplainer` maps every detector's
        threshold to 0.5 (its ``threshold_``), so that this equals the share a
        :class:`~sknovel.detectors.ConvAutoencoder` predicts normal.

    Returns
    -------
    validity : float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> from sknovel.metrics import counterfactual_validity
    >>> counterfactual_validity([[0.2, 0.7], [0.5, 0.1]])
    0.75
    """
    scores = _check_scores(counterfactual_scores, "counterfactual_scores")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    return float(np.mean(scores <= threshold))


def counterfactual_proximity(X, counterfactuals):
    """Mean absolute pixel difference between each image and its counterfactuals (L1).

    Parameters
    ----------
    X : array-like of shape (n, H, W) or (n, H, W, C)
        The explained images, uint8 in [0, 255] or float in [0, 1].
    counterfactuals : array-like of shape (n, K, H, W) or (n, K, H, W, C)
        Their K counterfactuals each, on the same scale as `X` (uint8 or [0, 1]).

    Returns
    -------
    distance : float
        The L1 distance divided by the number of pixel values, averaged over images and
        counterfactuals, on the [0, 1] scale: 0 for unchanged images, 1 at most. Lower means
        closer.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import counterfactual_proximity
    >>> X = np.zeros((1, 2, 2))
    >>> counterfactual_proximity(X, np.stack([[X[0], X[0] + 0.5]]))
    0.25
    """
    images = _as_unit(X, "X")
    changed = _as_unit(counterfactuals, "counterfactuals")
    if (
        changed.ndim != images.ndim + 1
        or changed.shape[0] != images.shape[0]
        or (changed.shape[2:] != images.shape[1:])
    ):
        raise ValueError(
            f"counterfactuals must have shape (n, K, *image shape) = ({images.shape[0]}, K, "
            f"{', '.join(map(str, images.shape[1:]))}) for X of shape {images.shape}; got "
            f"{changed.shape}."
        )
    return float(np.abs(changed - images[:, np.newaxis]).mean())


def _as_unit(images, name):
    array = np.asarray(images)
    if array.ndim < 3 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty array of images; got shape {array.shape}.")
    if array.dtype != np.uint8 and array.dtype.kind != "f":
        raise TypeError(f"{name} must be uint8 or float images; got dtype {array.dtype}.")
    return to_unit_float(array, np.float64)


def counterfactual_disentanglement(concept_probabilities):
    """Accuracy of the concept classifier on counterfactuals: is concept k recognised as k?

    The paper's *disentanglement* measure: for the pair (image, its counterfactual of
    concept k), the concept classifier's most probable concept should be k. Chance is 1/K.

    Parameters
    ----------
    concept_probabilities : array-like of shape (n, K, K)
        ``[i, k, j]``: the classifier's probability (or logit) that concept j changed image
        i into its counterfactual k (``explain(X).concept_probabilities``).

    Returns
    -------
    accuracy : float
        Share of (image, k) with ``argmax_j [i, k, j] == k``; among tied values the first
        concept wins.

    Examples
    --------
    >>> from sknovel.metrics import counterfactual_disentanglement
    >>> counterfactual_disentanglement([[[0.9, 0.2], [0.6, 0.4]]])
    0.5
    """
    probabilities = np.asarray(concept_probabilities)
    if probabilities.ndim != 3 or probabilities.shape[1] != probabilities.shape[2]:
        raise ValueError(
            "concept_probabilities must have shape (n, K, K): for each image and "
            f"counterfactual, one value per concept; got {probabilities.shape}."
        )
    _check_scores(probabilities, "concept_probabilities")
    predicted = probabilities.argmax(axis=2)
    return float(np.mean(predicted == np.arange(probabilities.shape[1])))
