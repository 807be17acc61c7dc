"""How realistic are generated images: the Fréchet distance of their features to real ones.

The Fréchet inception distance (FID, Heusel et al. 2017) fits a Gaussian to the features of
each of two image sets and measures the Fréchet (2-Wasserstein) distance between the two
Gaussians. *Reimagining Anomalies* (Liznerski, Varshneya, Calikus et al. 2024) reports it
between counterfactuals and real normal images, relative to that of the anomalies
themselves. sknovel computes the same distance on the EfficientNet-Lite0 features that
install with the package (see :func:`counterfactual_frechet_distance`).
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sknovel.utils.images import check_image_array


def frechet_distance(features_a, features_b):
    """Squared Fréchet distance between Gaussians fitted to two sets of feature vectors.

    With means μ_a, μ_b and covariances Σ_a, Σ_b (unbiased, divided by n - 1) of the rows,

    ``d² = ||μ_a - μ_b||² + Tr(Σ_a) + Tr(Σ_b) - 2 Tr((Σ_a Σ_b)^(1/2))``,

    the value FID reports (it is the squared 2-Wasserstein distance of the two Gaussians).

    Parameters
    ----------
    features_a : array-like of shape (n_a, d)
        One feature vector per row; at least 2 rows.
    features_b : array-like of shape (n_b, d)
        The other set, with the same number of features d; at least 2 rows.

    Returns
    -------
    distance : float
        d², at least 0; 0 for two sets with the same mean and covariance. Symmetric in its
        arguments and unchanged by translating both sets alike; a set and itself translated
        by δ are ``||δ||²`` apart.

    See Also
    --------
    counterfactual_frechet_distance : This distance on CNN features of two image sets.

    Notes
    -----
    The usual route to Tr((Σ_a Σ_b)^(1/2)), ``scipy.linalg.sqrtm(Σ_a @ Σ_b)``, takes the
    square root of a non-symmetric matrix: when the covariances are singular or nearly so --
    always with fewer images than features, as for 100 counterfactuals and 1 280 CNN
    features -- it returns complex values and loses accuracy, and FID code discards the
    imaginary part or adds a small multiple of the identity. Here the trace is the sum of
    the square roots of the eigenvalues of Σ_a Σ_b, computed from symmetric problems only,
    so the result is real whatever the ranks:

    * when ``n_a * n_b <= d²`` (few samples), as the sum of the singular values of
      ``A B^T / sqrt((n_a - 1)(n_b - 1))`` for the centred samples A, B: no d × d matrix
      is formed, and eigenvalues that are 0 stay 0 up to rounding, so identical sets are 0
      apart and a translated copy ``||δ||²``, to rounding;
    * otherwise as the sum of the square roots of the eigenvalues (``numpy.linalg.eigh``,
      those below 0 by rounding set to 0) of the symmetric Σ_a^(1/2) Σ_b Σ_a^(1/2).

    Both agree with the sqrtm route where that route is accurate.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import frechet_distance
    >>> a = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> round(frechet_distance(a, a + [3.0, 4.0]), 9)
    25.0
    """
    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same number of features (columns); got "
            f"{a.shape[1]} and {b.shape[1]}."
        )
    centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
    n_a, n_b, n_features = len(a), len(b), a.shape[1]
    if n_a * n_b <= n_features**2:
        trace_sqrt = _trace_sqrt_from_samples(centred_a, centred_b)
    else:
        trace_sqrt = _trace_sqrt_from_covariances(
            centred_a.T @ centred_a / (n_a - 1), centred_b.T @ centred_b / (n_b - 1)
        )
    distance = (
        np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
        + np.sum(centred_a**2) / (n_a - 1)  # Tr(Σ_a)
        + np.sum(centred_b**2) / (n_b - 1)
        - 2 * trace_sqrt
    )
    return float(max(distance, 0.0))


def _trace_sqrt_from_samples(centred_a, centred_b):
    """Tr((Σ_a Σ_b)^(1/2)) from the centred samples: the nuclear norm of their cross-product.

    With Σ_a = A^T A / (n_a - 1) and Σ_b = B^T B / (n_b - 1), the non-zero eigenvalues of
    Σ_a Σ_b are those of M M^T, M = A B^T / sqrt((n_a - 1)(n_b - 1)), so their square roots
    are the singular values of M, an n_a × n_b matrix. A singular value that should be 0
    comes out at rounding size, not at the square root of it.
    """
    n_a, n_b = len(centred_a), len(centred_b)
    cross = centred_a @ centred_b.T / np.sqrt((n_a - 1) * (n_b - 1))
    return float(np.linalg.svd(cross, compute_uv=False).sum())


def _trace_sqrt_from_covariances(covariance_a, covariance_b):
    """Tr((Σ_a Σ_b)^(1/2)) of symmetric positive semi-definite d × d matrices.

    The eigenvalues of Σ_a Σ_b are those of the symmetric Σ_a^(1/2) Σ_b Σ_a^(1/2).
    """
    root_a = _psd_sqrt(covariance_a)
    middle = root_a @ covariance_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def _psd_sqrt(matrix):
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ vectors.T


def _check_features(features, name):
    array = np.asarray(features)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {array.dtype}.")
    if array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(
            f"{name} must hold at least 2 samples (rows) and 1 feature to fit a Gaussian; got "
            f"shape {array.shape}."
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return array


def counterfactual_frechet_distance(counterfactuals, normal, *, featurizer=None):
    """Fréchet distance between counterfactuals and real normal images, on CNN features.

    The realism measure of *Reimagining Anomalies*: the lower, the more the counterfactuals
    look like normal images in the eyes of a pretrained network. Its scale depends on the
    network and the images, so compare it with the same distance of the anomalies
    themselves: ``counterfactual_frechet_distance(anomalies, normal)``. The paper reports
    the ratio (counterfactuals / anomalies); below 1, the counterfactuals are closer to
    normal images than the anomalies were.

    Parameters
    ----------
    counterfactuals : array-like of shape (n, K, ...) or (m, ...)
        Generated images, e.g. ``explain(X).counterfactuals``; all of them count (the
        leading axes are flattened). The image shape is that of `normal`: (H, W) or
        (H, W, C). uint8 in [0, 255] or float in [0, 1].
    normal : array-like of shape (n_normal, H, W) or (n_normal, H, W, C)
        Real normal images (e.g. held-out test images of the normal class). At least 2.
    featurizer : transformer or None, default=None
        Maps images to feature vectors (``transform``). None: the pooled features of
        EfficientNet-Lite0 with its packaged ImageNet weights,
        :class:`~sknovel.features.CNNFeaturizer` ``()`` (1 280 features; grey images are
        repeated over three channels and resized to 256 pixels with a 224 centre crop). A
        featurizer that is not fitted is cloned and fitted on `normal`; a fitted one is used
        as it is.

    Returns
    -------
    distance : float
        :func:`frechet_distance` of the features of the counterfactuals and of the normal
        images.

    See Also
    --------
    frechet_distance : The distance itself, on any feature vectors.
    counterfactual_normality : The detector's ROC AUC, normal vs counterfactuals.
    counterfactual_proximity : Mean pixel change from the anomaly.

    Notes
    -----
    **Not the FID.** FID uses the pool features of an Inception-v3 network with particular
    weights (Heusel et al.'s TensorFlow port). sknovel never downloads weights, and
    Inception weights cannot be installed offline with the package, so the default features
    are EfficientNet-Lite0's. Values are therefore **not comparable with published FIDs**,
    the paper's included; ratios of two distances measured with the same features
    (counterfactuals vs anomalies, as the paper reports) are the meaningful comparison.
    Like FID, the estimate is biased upwards for few images (Chong & Forsyth 2020): compare
    sets of equal size.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.features import PixelFeaturizer
    >>> from sknovel.metrics import counterfactual_frechet_distance
    >>> rng = np.random.default_rng(0)
    >>> normal = rng.random((50, 4, 4)) * 0.5
    >>> counterfactuals = rng.random((25, 2, 4, 4)) * 0.5
    >>> distance = counterfactual_frechet_distance(
    ...     counterfactuals, normal, featurizer=PixelFeaturizer()
    ... )
    >>> distance < counterfactual_frechet_distance(
    ...     0.5 + counterfactuals, normal, featurizer=PixelFeaturizer()
    ... )
    True
    """
    normal_images = check_image_array(normal, name="normal")
    if len(normal_images) < 2:
        raise ValueError(f"normal must hold at least 2 images; got {len(normal_images)}.")
    generated = check_image_array(
        _flatten_leading(counterfactuals, np.shape(normal)[1:]), name="counterfactuals"
    )
    if len(generated) < 2:
        raise ValueError(f"counterfactuals must hold at least 2 images; got {len(generated)}.")
    fitted = _fitted_featurizer(featurizer, normal_images)
    features = [
        _features(fitted, images, name)
        for images, name in ((generated, "counterfactuals"), (normal_images, "normal"))
    ]
    return frechet_distance(*features)


def _flatten_leading(images, image_shape):
    """`images` of shape (..., *image_shape) as (m, *image_shape)."""
    array = np.asarray(images)
    n_leading = array.ndim - len(image_shape)
    if n_leading not in (1, 2) or array.shape[n_leading:] != tuple(image_shape):
        raise ValueError(
            f"counterfactuals must have shape (n, K, {', '.join(map(str, image_shape))}) or "
            f"(m, {', '.join(map(str, image_shape))}): images of the shape of those in normal; "
            f"got shape {array.shape}."
        )
    return array.reshape(-1, *image_shape)


def _fitted_featurizer(featurizer, normal):
    if featurizer is None:
        from sknovel.features import CNNFeaturizer

        featurizer = CNNFeaturizer()
    if not callable(getattr(featurizer, "transform", None)):
        raise TypeError(
            "featurizer must be a transformer (e.g. a CNNFeaturizer) or None; got "
            f"{type(featurizer).__name__}, which has no transform method."
        )
    if not callable(getattr(featurizer, "fit", None)):
        return featurizer  # a plain transformer, nothing to fit
    try:
        check_is_fitted(featurizer)
    except NotFittedError:
        return clone(featurizer).fit(normal)
    return featurizer


def _features(featurizer, images, name):
    features = np.asarray(featurizer.transform(images))
    if features.ndim != 2 or len(features) != len(images):
        raise ValueError(
            f"featurizer.transform must return one feature vector per image, shape "
            f"({len(images)}, d), for the {name} images; got shape {features.shape}."
        )
    return features
