"""Inversion: CNN features turned back into images by an up-convolutional decoder."""

from sknovel.explain.inversion._uc import UCInverter, inverts_with_pretrained_decoder

__all__ = ["UCInverter", "inverts_with_pretrained_decoder"]
