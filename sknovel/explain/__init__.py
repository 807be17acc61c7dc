"""Explainers: why an item is novel, in pictures.

The torch-based parts need ``pip install "sknovel[torch]"``; they import torch only when used.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.explain._autoencoder import ConvAutoencoder
from sknovel.explain._saliency import AutoencoderSaliency

__all__ = ["AutoencoderSaliency", "ConvAutoencoder"]

from sknovel.explain._novelty_map import NoveltyMap  # noqa: E402

__all__ += ["NoveltyMap"]

from sknovel.explain._uc import UCInverter  # noqa: E402

__all__ += ["UCInverter"]

from sknovel.explain._counterfactual import CounterfactualExplainer  # noqa: E402

__all__ += ["CounterfactualExplainer"]
