"""Novelty detectors: models, fitted on normal images, that score how normal an image is.

A detector follows scikit-learn's outlier detectors: ``fit(X)`` on normal images,
``score_samples(X)`` (higher means more normal), ``offset_``,
``decision_function(X) = score_samples(X) - offset_`` and ``predict(X)`` (1 normal, -1
novel). A detector that explainers can explain also offers its score, and for
reconstruction-based detectors its reconstruction, as differentiable torch functions:
``torch_score_samples(x)`` and ``torch_reconstruct(x)`` of a batch ``x`` of shape
(b, C, H, W) (:ref:`the detector protocol <detector-protocol>` of the developer guide).
Explainers in :mod:`sknovel.explain` check for these methods, not for a class, so any object
that has them can be explained. The detectors here need torch
(``pip install "sknovel[torch]"``), imported only when used.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.detectors._autoencoder import ConvAutoencoder
from sknovel.detectors._outlier_exposure import OutlierExposureDetector

__all__ = ["ConvAutoencoder", "OutlierExposureDetector"]
