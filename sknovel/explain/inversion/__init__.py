"""Inversion: CNN features turned back into images by an up-convolutional decoder."""

from sknovel.explain.inversion._uc import UCInverter

__all__ = ["UCInverter"]
