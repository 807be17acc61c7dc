"""Saliency: an autoencoder detector's reconstruction-error and gradient maps."""

from sknovel.explain.saliency._saliency import AutoencoderSaliency

__all__ = ["AutoencoderSaliency"]
