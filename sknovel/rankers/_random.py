"""Random baseline: a uniformly random order."""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import Bunch, check_random_state

from ._base import N_SELECTIONS_CONSTRAINT, BaseRanker, check_n_selections
from ._blocks import output_converter


class RandomRanker(BaseRanker):
    """Rank items in a uniformly random order: the baseline every ranker must beat.

    Each item draws a priority uniformly from [0, 1); items are ranked by descending
    priority, which is a uniformly random permutation. Its expected discovery curve is known
    exactly (:func:`sknovel.metrics.expected_random_discovery_curve`), so this estimator is
    mostly useful inside pipelines and grid searches.

    Parameters
    ----------
    n_selections : int or None, default=None
        Number of items to rank; None ranks every row.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutation. With an int, ``fit`` and ``rank`` are deterministic.

    Attributes
    ----------
    ranking_ : ndarray of shape (n_selections,)
    scores_ : ndarray of shape (n_selections,)
        The random priority of each pick (descending); not a novelty score.
    n_features_in_ : int
    n_samples_fit_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel import RandomRanker
    >>> RandomRanker(random_state=0).fit(np.eye(4)).ranking_.shape
    (4,)
    """

    _parameter_constraints = {
        "n_selections": N_SELECTIONS_CONSTRAINT,
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_selections=None, random_state=None):
        self.n_selections = n_selections
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Draw a random ranking of X's rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : RandomRanker
        """
        convert = output_converter(X)
        X = self._validate(X, reset=True)
        n_selections = check_n_selections(self.n_selections, X.shape[0])
        result = self._rank(X, n_selections)
        self.ranking_, self.scores_ = result.indices, result.scores
        self._remember_data(X)
        self._attributes_in_namespace(convert)
        return self

    def _rank(self, X, n_selections):
        priorities = check_random_state(self.random_state).random_sample(X.shape[0])
        ranking = np.argsort(-priorities, kind="stable")[:n_selections]
        return Bunch(indices=ranking, scores=priorities[ranking])
