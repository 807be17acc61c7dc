"""Novelty detectors: models that score how normal an image is.

Detectors follow scikit-learn's outlier detectors (``fit``, ``score_samples``,
``decision_function``, ``predict``; higher scores are more normal). Explainers in
:mod:`sknovel.explain` take any detector that also offers a differentiable score
(see :ref:`the detector protocol <detector-protocol>`); they need torch
(``pip install "sknovel[torch]"``), imported only when used.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.detectors._autoencoder import ConvAutoencoder

__all__ = ["ConvAutoencoder"]
