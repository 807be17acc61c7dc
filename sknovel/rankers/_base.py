"""The contract every sknovel ranker shares: ranking, scores, explanations, warm-start ranking."""

import hashlib
from abc import abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted, validate_data

from ._subspace import column_mean, residual_scores

#: Rows sampled (evenly spaced) into a data fingerprint, beside the shape and column means.
_FINGERPRINT_ROWS = 32


def data_fingerprint(X, mean=None):
    """A cheap digest that tells whether two arrays are (almost surely) the same data.

    Hashes the shape, dtype, the column means (computed if not given) and a few evenly spaced
    rows, so it costs one pass over X and no copy.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((X.shape, X.dtype.str)).encode())
    digest.update(np.ascontiguousarray(column_mean(X) if mean is None else mean).tobytes())
    rows = np.unique(np.linspace(0, X.shape[0] - 1, _FINGERPRINT_ROWS).astype(np.intp))
    digest.update(np.ascontiguousarray(X[rows]).tobytes())
    return digest.hexdigest()


def check_n_selections(n_selections, n_samples, *, name="n_selections"):
    """Resolve ``None`` to all rows; refuse more selections than rows."""
    if n_selections is None:
        return n_samples
    if n_selections > n_samples:
        raise ValueError(
            f"{name}={n_selections} is larger than the number of samples ({n_samples}); "
            f"pass {name}=None to rank every row."
        )
    return int(n_selections)


class BaseRanker(BaseEstimator):
    """Base class of the rankers: items ranked most novel first.

    Subclasses implement ``fit`` (setting ``ranking_`` and ``scores_``) and ``_rank``. Rankers
    with a subspace model also store it (``mean_``, ``components_``, ``singular_values_``,
    ``n_samples_seen_``) and the expected part of each pick (``expected_``), which gives them
    :meth:`explain` and :meth:`score_samples`.
    """

    _validate_dtype = [np.float64, np.float32]

    def _validate(self, X, *, reset):
        try:
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=self._validate_dtype,
                ensure_min_samples=2 if reset else 1,
                copy=False,
            )
        except (TypeError, ValueError) as error:
            # scikit-learn's messages do not always say which argument was wrong.
            raise type(error)(f"Invalid X for {type(self).__name__}: {error}") from error

    def _remember_data(self, X, mean=None):
        self._fingerprint = data_fingerprint(X, mean)
        self.n_samples_fit_ = X.shape[0]

    def is_fitted_on(self, X):
        """Whether `X` is the data this ranker was fitted on (compared by fingerprint).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bool
        """
        if not hasattr(self, "ranking_"):
            return False
        X = self._validate(X, reset=False)
        return X.shape[0] == self.n_samples_fit_ and data_fingerprint(X) == self._fingerprint

    @abstractmethod
    def _rank(self, X, n_selections):
        """Rank validated rows `X`; return a Bunch with at least ``indices`` and ``scores``."""

    def rank(self, X, *, n_selections=None, return_explanation=False):
        """Rank new rows against what the fitted model already knows.

        The fitted estimator is left unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New items, e.g. today's downlink to be ranked against the archive.
        n_selections : int or None, default=None
            How many items to rank; None uses the estimator's ``n_selections`` (and all rows
            when that is None too).
        return_explanation : bool, default=False
            Return a Bunch (``indices``, ``scores``, and for subspace rankers ``selections``,
            ``expected``, ``residuals``) instead of the bare ranking.

        Returns
        -------
        ranking : ndarray of shape (n_selections,) or Bunch
            Row indices into `X`, most novel first.
        """
        check_is_fitted(self, self._fitted_marker)
        X = self._validate(X, reset=False)
        n_selections = check_n_selections(
            self.n_selections if n_selections is None else n_selections, X.shape[0]
        )
        result = self._rank(X, n_selections)
        if not return_explanation:
            return result.indices
        return result

    _fitted_marker = "ranking_"


class SubspaceRankerMixin:
    """Explanations and outlier scores for rankers backed by a :class:`SubspaceModel`."""

    _fitted_marker = "components_"

    def _store_model(self, model, dtype):
        self.mean_ = model.mean.astype(dtype)
        self.components_ = model.components.astype(dtype)
        self.singular_values_ = model.singular_values.astype(dtype)
        self.n_samples_seen_ = int(model.n_samples)
        self._model = model

    def explain(self, X):
        """Expected part and residual of every selected item at the time it was selected.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data this ranker was fitted on (the selected rows are read from it; the
            expected parts were stored during ``fit``).

        Returns
        -------
        explanation : Bunch
            ``indices`` (k,) the selected rows, most novel first; ``scores`` (k,) their
            scores; ``selections`` (k, d) the rows; ``expected`` (k, d) the expected part
            x̂ = μ + U Uᵀ(x − μ) under the model at selection time; ``residuals`` (k, d)
            e = x − x̂, the novel part (``scores == (residuals ** 2).sum(1)``).
        """
        X = self._fitted_data(X, "explain")
        return _explanation(X, self.ranking_, self.scores_, self.expected_)

    def selection_models(self, X, positions):
        """The model each of some picks was selected under, to score other items with it.

        Explainers use it to ask how a change to a picked image changes its novelty score
        at the moment it was picked.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data this ranker was fitted on.
        positions : sequence of int
            Positions in ``ranking_`` (0 = the first pick).

        Returns
        -------
        models : list of Bunch
            Per position, ``mean`` (d,) and ``components`` (r, d) (orthonormal rows); the
            pick's score of an item x is ``||(x - mean) - Uᵀ U (x - mean)||²`` with
            U = ``components``.
        """
        X = self._fitted_data(X, "selection_models")
        positions = [int(p) for p in positions]
        for position in positions:
            if not 0 <= position < len(self.ranking_):
                raise ValueError(f"positions must be in [0, {len(self.ranking_)}); got {position}.")
        models = self._selection_models(X, positions)
        return [Bunch(mean=models[p].mean, components=models[p].components) for p in positions]

    def _selection_models(self, X, positions):
        """Static rankers score every pick under the fitted model."""
        return dict.fromkeys(positions, self._model)

    def _fitted_data(self, X, verb):
        check_is_fitted(self, "ranking_")
        X = self._validate(X, reset=False)
        if not self.is_fitted_on(X):
            raise ValueError(
                f"X is not the data this ranker was fitted on; {verb}() reads the selected "
                f"rows from it (fitted on {self.n_samples_fit_} rows, got {X.shape[0]}). "
                "Use rank(X_new, return_explanation=True) for new data."
            )
        return X

    def score_samples(self, X):
        """Opposite of the novelty score under the final model (higher = more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-||(x - mean_) - U Uᵀ (x - mean_)||²`` with U = ``components_.T``.
        """
        check_is_fitted(self, "components_")
        X = self._validate(X, reset=False)
        return -residual_scores(X, self._model).astype(X.dtype)


def _explanation(X, indices, scores, expected):
    selections = np.asarray(X[indices])
    return Bunch(
        indices=indices,
        scores=scores,
        selections=selections,
        expected=expected,
        residuals=selections - expected,
    )
