"""sknovel: find the most novel items in a collection, one after another, and show why.

The rankers (:class:`Demud`, :class:`SVDRanker`, :class:`RandomRanker`) are scikit-learn
estimators; :mod:`sknovel.metrics` scores rankings by how fast they discover classes;
:mod:`sknovel.plotting` draws the pictures.
"""

from .pipeline import Pipeline, make_pipeline
from .rankers import Demud, RandomRanker, SVDRanker
from .report import DiscoveryReport

__version__ = "0.1.0.dev0"

__all__ = [
    "Demud",
    "DiscoveryReport",
    "Pipeline",
    "RandomRanker",
    "SVDRanker",
    "make_pipeline",
    "__version__",
]
