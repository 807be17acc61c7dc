"""Explainers: why an item is novel, in pictures.

The torch-based parts need ``pip install "sknovel[torch]"``; they import torch only when used.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.explain._novelty_map import NoveltyMap

__all__ = ["NoveltyMap"]
