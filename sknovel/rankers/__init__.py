"""Rankers: order items most novel first (DEMUD, static SVD, random)."""

from ._demud import Demud
from ._random import RandomRanker
from ._svd import SVDRanker

__all__ = ["Demud", "RandomRanker", "SVDRanker"]
