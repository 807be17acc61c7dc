"""Explainers: why an item is novel, in pictures.

One folder per kind of explanation -- :mod:`~sknovel.explain.heatmaps`,
:mod:`~sknovel.explain.inversion`, :mod:`~sknovel.explain.saliency`,
:mod:`~sknovel.explain.counterfactuals` -- each with its networks and training beside it.
The torch-based parts need ``pip install "sknovel[torch]"``; they import torch only when used.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.explain.counterfactuals import CounterfactualExplainer
from sknovel.explain.heatmaps import NoveltyMap
from sknovel.explain.inversion import UCInverter, inverts_with_pretrained_decoder
from sknovel.explain.saliency import AutoencoderSaliency

__all__ = [
    "AutoencoderSaliency",
    "CounterfactualExplainer",
    "NoveltyMap",
    "UCInverter",
    "inverts_with_pretrained_decoder",
]


def __getattr__(name):
    # ConvAutoencoder moved to sknovel.detectors in 0.2; the old name works for one release.
    if name == "ConvAutoencoder":
        import warnings

        from sknovel.detectors import ConvAutoencoder

        warnings.warn(
            "sknovel.explain.ConvAutoencoder moved to sknovel.detectors.ConvAutoencoder; "
            "the old name will be removed in the next release.",
            FutureWarning,
            stacklevel=2,
        )
        return ConvAutoencoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
