"""Heatmaps: where in an image a DEMUD pick's novelty lies (occlusion and gradients)."""

from sknovel.explain.heatmaps._novelty_map import NoveltyMap

__all__ = ["NoveltyMap"]
