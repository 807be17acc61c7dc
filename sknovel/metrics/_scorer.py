"""Discovery scorer for model selection (``GridSearchCV(..., scoring=discovery_scorer)``)."""

from numbers import Integral

from sklearn.pipeline import Pipeline as _SkPipeline
from sklearn.utils.validation import _num_samples

from ._discovery import discovery_nauc


def _split_final_step(estimator):
    """(transform to the final step's input, the final step) of a ranker or a Pipeline."""
    if isinstance(estimator, _SkPipeline):
        from ..pipeline import transform_to_final_step

        return (lambda X: transform_to_final_step(estimator, X)), estimator._final_estimator
    return (lambda X: X), estimator


def ranking_of(estimator, X, n_selections=None):
    """The ranking a fitted ranker (or a Pipeline ending in one) gives the rows of X.

    If X is the data the ranker was fitted on (the transductive setting, e.g.
    ``cv=[(idx, idx)]``), that is the ranking ``fit`` made; otherwise X is ranked against
    what the model knows, with ``rank`` (the "new data vs. the archive" setting).

    Parameters
    ----------
    estimator : fitted ranker or Pipeline ending in one
    X : array-like or sequence
        Input of the estimator (of the pipeline's first step).
    n_selections : int or None, default=None
        Length of the ranking wanted for new data; None ranks every row.

    Returns
    -------
    ranking : ndarray of int
    """
    transform, ranker = _split_final_step(estimator)
    Xt = transform(X)
    if ranker.is_fitted_on(Xt):
        return ranker.ranking_
    if n_selections is None:
        n_selections = len(Xt)
    return ranker.rank(Xt, n_selections=n_selections)


class DiscoveryScorer:
    """Score a fitted ranker by the nAUC of its discovery curve on labelled data.

    Usable as ``scoring=`` in :class:`~sklearn.model_selection.GridSearchCV` and
    :func:`~sklearn.model_selection.cross_val_score`, for a bare ranker or a Pipeline ending
    in one. The ranking scored is the one :func:`ranking_of` returns: the fitted ranking when
    the scoring data is the fitted data (transductive ``cv=[(idx, idx)]``), otherwise the
    ranking of the new rows against the fitted model.

    Parameters
    ----------
    t : int or None, default=None
        Number of selections the nAUC covers; None means all rows of the scoring data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sknovel import Demud
    >>> from sknovel.metrics import make_discovery_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = X[:300], y[:300]
    >>> idx = np.arange(len(X))
    >>> search = GridSearchCV(Demud(n_selections=50), {"n_components": [2, 5]},
    ...                       scoring=make_discovery_scorer(t=50), cv=[(idx, idx)]).fit(X, y)
    >>> sorted(search.best_params_)
    ['n_components']
    """

    def __init__(self, t=None):
        if t is not None and (not isinstance(t, Integral) or isinstance(t, bool) or t < 1):
            raise ValueError(f"t must be a positive int or None, got {t!r}.")
        self.t = t

    def __call__(self, estimator, X, y):
        """nAUC (0-100] of the discovery curve of `estimator`'s ranking of X, labelled y.

        Parameters
        ----------
        estimator : fitted ranker or Pipeline ending in one
        X : array-like or sequence of shape (n_samples, ...)
            Input of the estimator.
        y : array-like of shape (n_samples,)
            Class label of every row of X.

        Returns
        -------
        nauc : float
        """
        if y is None:
            raise ValueError("y (class labels) is required to score discovery.")
        n_samples, n_labels = _num_samples(X), _num_samples(y)
        if n_labels != n_samples:
            raise ValueError(
                f"y has {n_labels} labels but X has {n_samples} samples; the scorer needs "
                "one class label per row of X."
            )
        if self.t is not None and self.t > n_samples:
            raise ValueError(
                f"t={self.t} is larger than the number of samples scored ({n_samples}); "
                "use a smaller t, or t=None to cover every row."
            )
        ranking = ranking_of(estimator, X, n_selections=self.t)
        return discovery_nauc(y, ranking, t=self.t)

    def __repr__(self):
        return f"make_discovery_scorer(t={self.t})"


def make_discovery_scorer(t=None):
    """Make a scorer of discovery nAUC for model selection.

    Parameters
    ----------
    t : int or None, default=None
        Number of selections the nAUC covers; None means all rows of the scoring data.

    Returns
    -------
    scorer : DiscoveryScorer
        A callable ``scorer(estimator, X, y) -> float``.
    """
    return DiscoveryScorer(t=t)


#: The discovery scorer over every row of the scoring data.
discovery_scorer = DiscoveryScorer()
