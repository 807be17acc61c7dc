"""The contract every sknovel ranker shares: ranking, scores, explanations, warm-start ranking."""

import hashlib
import warnings
from abc import abstractmethod
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted, validate_data

from sknovel.utils.hashing import update_with_array

from ._blocks import (
    DelegatingRows,
    RowBlockArray,
    host_view,
    needs_block_validation,
    output_converter,
    scale_rows,
    take_rows,
    validate_rows,
)
from ._subspace import CHUNK_ROWS, residual_scores

#: Data whose largest magnitude lies outside this range are modelled after scaling by a power of
#: two (exact in floating point), so that sums of squares neither overflow nor underflow.
_SAFE_MAGNITUDE = (1e-100, 1e100)
#: New data more than this far above the fitted data's scale would overflow squared distances.
_MAX_SCALED_MAGNITUDE = 1e150

#: K when ``n_components=None``, if the data leave room for it: the best mean nAUC over the
#: four shared image sets, balanced and unbalanced, at t = 30, 100 and 300 (docs/defaults.rst).
DEFAULT_N_COMPONENTS = 20


class IntegerInterval(Interval):
    """``Interval(Integral, ...)`` that refuses booleans (scikit-learn's accepts ``True`` as 1).

    Parameters
    ----------
    left : int or None
        Lower bound.
    right : int or None
        Upper bound.
    closed : {"left", "right", "both", "neither"}
        Which bounds are included.
    """

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        """Whether `val` is an integer (not a bool) within the bounds."""
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self):
        return super().__str__().replace("an int", "an int (not a bool)", 1)


#: The constraint of every ``n_selections`` (constructor and ``rank``).
N_SELECTIONS_CONSTRAINT = [IntegerInterval(1, None, closed="left"), None]


def data_fingerprint(X):
    """A content hash of `X`: equal for equal data, different after any edit of any value.

    blake2b over the shape, the dtype and every byte of the rows in C order (block by block, so
    a non-contiguous array or a memmap is hashed without a copy of the whole of it): one pass
    over X. Two arrays that differ in a single value, or in the order of two rows, differ here.

    A row-block readable array (memmap, h5py, zarr) is hashed a block at a time, with the
    same result as the array in memory. A Dask array is hashed chunk by chunk on the workers
    (see :meth:`sknovel.rankers._dask.DaskRows.fingerprint`).

    Parameters
    ----------
    X : ndarray, RowBlockArray or DelegatingRows of shape (n_samples, n_features)

    Returns
    -------
    fingerprint : str
    """
    if isinstance(X, DelegatingRows):
        return X.fingerprint()
    if isinstance(X, RowBlockArray):
        return X.fingerprint(hashlib.blake2b(digest_size=16)).hexdigest()
    return update_with_array(hashlib.blake2b(digest_size=16), X, block_rows=CHUNK_ROWS).hexdigest()


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


def resolve_rank_n_selections(n_selections, default, n_samples, caller):
    """How many rows ``rank`` ranks: `n_selections` checked, or `default` capped at the rows.

    Parameters
    ----------
    n_selections : int or None
        What the caller of ``rank`` asked for; validated like the constructor's parameter.
    default : int or None
        The estimator's ``n_selections``; None means every row.
    n_samples : int
        Rows of the data being ranked.
    caller : str
        Named in the error message, e.g. ``"Demud.rank"``.

    Returns
    -------
    n_selections : int
    """
    validate_parameter_constraints(
        {"n_selections": N_SELECTIONS_CONSTRAINT}, {"n_selections": n_selections}, caller
    )
    if n_selections is None:
        return n_samples if default is None else min(int(default), n_samples)
    if n_selections > n_samples:
        raise ValueError(
            f"n_selections={n_selections} is larger than the number of rows of X "
            f"({n_samples}); pass at most {n_samples}, or n_selections=None to rank "
            "min(the estimator's n_selections, the number of rows) of them."
        )
    return int(n_selections)


def _max_magnitude(X):
    if isinstance(X, DelegatingRows):
        return X.max_magnitude()
    top = 0.0
    for start in range(0, X.shape[0], CHUNK_ROWS):
        block = X[start : start + CHUNK_ROWS]
        if block.size:
            top = max(top, float(block.max()), -float(block.min()))
    return top


def scale_exponent(X):
    """e such that ``X * 2**-e`` has its largest magnitude near 1, or 0 where none is needed.

    Only data whose largest magnitude is outside ``[1e-100, 1e100]`` get an exponent: their
    squared distances would overflow or lose their precision to underflow.
    """
    top = _max_magnitude(X)
    if top == 0 or _SAFE_MAGNITUDE[0] <= top <= _SAFE_MAGNITUDE[1]:
        return 0
    return int(np.frexp(top)[1])


class BaseRanker(BaseEstimator):
    """Base class of the rankers: items ranked most novel first.

    Subclasses implement ``fit`` (setting ``ranking_`` and ``scores_``) and ``_rank``. Rankers
    with a subspace model also store it (``mean_``, ``components_``, ``singular_values_``,
    ``n_samples_seen_``) and the expected part of each pick (``expected_``), which gives them
    :meth:`explain` and :meth:`score_samples`.
    """

    _validate_dtype = [np.float64, np.float32]

    def _validate(self, X, *, reset):
        if isinstance(X, (RowBlockArray, DelegatingRows)):
            return X  # validated already (e.g. by explain before it asks is_fitted_on)
        X = host_view(X)  # a CPU torch tensor under Array API dispatch: numpy, no copy
        if needs_block_validation(X):
            # memmaps, h5py/zarr datasets and Dask arrays are checked a block at a time
            # and wrapped, never read whole (validate_data would copy them into memory).
            return validate_rows(
                self,
                X,
                reset=reset,
                ensure_min_samples=2 if reset else 1,
                dtypes=self._validate_dtype,
            )
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

    def _remember_data(self, X):
        self._fingerprint = data_fingerprint(X)
        self.n_samples_fit_ = X.shape[0]

    def is_fitted_on(self, X):
        """Whether `X` is the data this ranker was fitted on.

        Compared by a content hash of every value (:func:`data_fingerprint`), so any edit of
        the data -- a changed value, two rows swapped -- makes it other data.

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

    def _rank_validated(self, X, n_selections):
        return self._rank(X, n_selections)

    def rank(self, X, *, n_selections=None, return_explanation=False):
        """Rank new rows against what the fitted model already knows.

        The fitted estimator is left unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New items, e.g. today's downlink to be ranked against the archive.
        n_selections : int or None, default=None
            How many items to rank, at most ``n_samples``. None uses the estimator's
            ``n_selections``, capped at ``n_samples`` (all rows when it is None too).
        return_explanation : bool, default=False
            Return a Bunch (``indices``, ``scores``, and for subspace rankers ``selections``,
            ``expected``, ``residuals``) instead of the bare ranking.

        Returns
        -------
        ranking : ndarray of shape (n_selections,) or Bunch
            Row indices into `X`, most novel first.
        """
        check_is_fitted(self, self._fitted_marker)
        convert = output_converter(X)
        X = self._validate(X, reset=False)
        n_selections = resolve_rank_n_selections(
            n_selections, self.n_selections, X.shape[0], f"{type(self).__name__}.rank"
        )
        result = self._rank_validated(X, n_selections)
        return in_namespace(result if return_explanation else result.indices, convert)

    def _attributes_in_namespace(self, convert):
        """Put the learned array attributes in the namespace of the X fitted on (if any)."""
        if convert is None:
            return
        for name, value in list(vars(self).items()):
            if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray):
                setattr(self, name, convert(value))

    _fitted_marker = "ranking_"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # torch, CuPy and other Array API inputs are ranked in their namespace, and learned
        # attributes and outputs follow X's namespace and device (see _array_api)
        tags.array_api_support = True
        return tags


class SubspaceRankerMixin:
    """Explanations and outlier scores for rankers backed by a :class:`SubspaceModel`.

    The model is kept in *model units*: X times ``2**-_exponent``, where the exponent is 0
    except for data so large or so small that their squares would overflow or underflow
    (see :func:`scale_exponent`). Powers of two scale exactly, so the ranking is that of X;
    everything stored or returned is in X's units.
    """

    _fitted_marker = "components_"

    def _to_model_units(self, X, *, reset):
        """X in model units (X itself unless the data are extreme in magnitude)."""
        if reset:
            self._exponent = scale_exponent(X)
        else:
            top = _max_magnitude(X)
            with np.errstate(over="ignore"):
                too_large = np.ldexp(top, -self._exponent) > _MAX_SCALED_MAGNITUDE
            if too_large:
                scaled = f" (modelled scaled by 2**{-self._exponent})" if self._exponent else ""
                raise ValueError(
                    f"X's values (largest magnitude {top:.3g}) are too large for the data "
                    f"{type(self).__name__} was fitted on{scaled}: their squared distances "
                    "overflow float64. Rescale X as the fitted data were."
                )
        return scale_rows(X, self._exponent)

    def _from_model_units(self, values, power=1):
        """Values of model units (power 1: lengths; power 2: squared lengths) in X's units."""
        if self._exponent == 0:
            return values
        with np.errstate(over="ignore", under="ignore"):
            result = np.ldexp(values, power * self._exponent)
        if power == 2 and (np.isinf(result) | ((result == 0) & (values != 0))).any():
            warnings.warn(
                "Some squared distances of data this large or this small fall outside the "
                "float64 range, and their scores are inf or 0. The ranking is exact all the "
                f"same: it is computed on the data scaled by 2**{-self._exponent}.",
                UserWarning,
                stacklevel=4,
            )
        return result

    def _store_model(self, model, dtype):
        self.mean_ = self._from_model_units(model.mean).astype(dtype)
        self.components_ = model.components.astype(dtype)
        self.singular_values_ = self._from_model_units(model.singular_values).astype(dtype)
        self.n_samples_seen_ = int(model.n_samples)
        self._model = model

    def _store_selection(self, indices, scores, expected, dtype):
        self.ranking_ = indices
        self.scores_ = self._from_model_units(scores, 2)
        self.expected_ = self._from_model_units(expected).astype(dtype)

    def _rank_validated(self, X, n_selections):
        result = self._rank(self._to_model_units(X, reset=False), n_selections)
        return _explanation(
            X,
            result.indices,
            self._from_model_units(result.scores, 2),
            self._from_model_units(result.expected).astype(X.dtype),
        )

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
        convert = output_converter(X)
        X = self._fitted_data(X, "explain")
        explanation = _explanation(
            X, host_array(self.ranking_), host_array(self.scores_), host_array(self.expected_)
        )
        return in_namespace(explanation, convert)

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
        convert = output_converter(X)
        X = self._fitted_data(X, "selection_models")
        positions = [int(p) for p in positions]
        n_picks = self.ranking_.shape[0]
        for position in positions:
            if not 0 <= position < n_picks:
                raise ValueError(f"positions must be in [0, {n_picks}); got {position}.")
        models = self._selection_models(self._to_model_units(X, reset=False), positions)
        models = [
            Bunch(mean=self._from_model_units(models[p].mean), components=models[p].components)
            for p in positions
        ]
        return in_namespace(models, convert)

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
        convert = output_converter(X)
        X = self._validate(X, reset=False)
        scores = residual_scores(self._to_model_units(X, reset=False), self._model)
        return in_namespace(-self._from_model_units(scores, 2).astype(X.dtype), convert)


def in_namespace(result, convert):
    """`result` -- an array, a Bunch or a list of them -- with its numpy arrays converted.

    `convert` comes from :func:`~sknovel.rankers._blocks.output_converter` (None: unchanged).
    """
    if convert is None:
        return result
    if isinstance(result, np.ndarray):
        return convert(result)
    if isinstance(result, Bunch):
        return Bunch(**{key: in_namespace(value, convert) for key, value in result.items()})
    if isinstance(result, list):
        return [in_namespace(item, convert) for item in result]
    return result


def host_array(values):
    """A learned array attribute as numpy (after an Array API fit it is in X's namespace)."""
    if isinstance(values, np.ndarray):
        return values
    from ._array_api import to_numpy

    return to_numpy(values)


def _explanation(X, indices, scores, expected):
    selections = take_rows(X, indices)
    return Bunch(
        indices=indices,
        scores=scores,
        selections=selections,
        expected=expected,
        residuals=selections - expected,
    )


def resolve_n_components(n_components, n_features, n_samples=None, *, exact_limit=None):
    """K: the given value checked against the data, or a default that leaves a residual.

    A model with as many directions as its items span explains every one of them exactly:
    they all score 0 and are ranked in row order. The default, ``min(20, exact_limit - 1)``
    (0: the model is the mean alone; never above ``min(n_samples, n_features)``), always
    leaves a residual; an explicit K of
    `exact_limit` or more is allowed (the algorithms are defined for it) but warned about.

    Parameters
    ----------
    n_components : int or None
    n_features : int
    n_samples : int or None
        None where the rows come in batches (``partial_fit``) and only the number of
        features bounds K.
    exact_limit : int or None
        The K from which the model explains every item exactly; None: ``n_features``, or
        ``min(n_features, n_samples - 1)`` (the rank of n centred items) when `n_samples`
        is given.

    Returns
    -------
    n_components : int
    """
    limit = n_features if n_samples is None else min(n_samples, n_features)
    if exact_limit is None:
        exact_limit = n_features if n_samples is None else min(n_features, n_samples - 1)
    if n_components is None:
        return max(0, min(DEFAULT_N_COMPONENTS, exact_limit - 1, limit))
    if n_components > limit:
        bound = "n_features" if n_samples is None else "min(n_samples, n_features)"
        raise ValueError(
            f"n_components={n_components} must be at most {bound} = {limit} "
            f"(n_samples = {n_samples}, n_features = {n_features})."
        )
    if n_components >= exact_limit:
        warnings.warn(
            f"n_components={n_components} leaves no residual: a model of {exact_limit} "
            f"directions explains every item of these data (n_samples = {n_samples}, "
            f"n_features = {n_features}) exactly, so the items it has seen all score 0 and "
            "are ranked in row order. Use fewer components; n_components=None picks "
            f"{max(0, min(DEFAULT_N_COMPONENTS, exact_limit - 1, limit))}.",
            UserWarning,
            stacklevel=4,  # the caller of fit (behind scikit-learn's fit wrapper)
        )
    return int(n_components)
