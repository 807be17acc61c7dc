"""Static SVD baseline: rank by reconstruction error under the PCA of all items."""

from sklearn.base import _fit_context
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions

from ._base import (
    N_SELECTIONS_CONSTRAINT,
    BaseRanker,
    IntegerInterval,
    SubspaceRankerMixin,
    check_n_selections,
    resolve_n_components,
)
from ._blocks import DelegatingRows, output_converter, take_rows
from ._selection import tie_aware_order
from ._subspace import pca_model, randomized_pca_model, reconstruct, residual_scores


class SVDRanker(SubspaceRankerMixin, BaseRanker):
    """Rank items by reconstruction error under the top-K PCA of all of them, never updated.

    The static baseline of DEMUD (the original program's ``--static`` mode, plotted as "SVD"
    by Lee, Wagstaff et al., 2018). Unlike :class:`Demud`, the model does not learn from
    the picks, so near-duplicates of a novel item all rank high together.

    Parameters
    ----------
    n_components : int or None, default=None
        K. None means ``min(20, n_features - 1, n_samples - 2)`` (0: the distance to the
        mean; 20 as for :class:`Demud`, see its `n_components`): smaller than the rank of
        the centred data, so that every item keeps a residual. Must not exceed
        ``min(n_samples, n_features)``. A K of
        ``min(n_features, n_samples - 1)`` or more is allowed but warned about: the PCA then
        explains every item exactly, every score is 0 and the ranking is row order.
    n_selections : int or None, default=None
        Number of items to rank in ``fit``; None ranks every row.
    svd_solver : {"full", "randomized"}, default="full"
        ``"full"``: exact PCA. ``"randomized"``: a randomized range finder with implicit
        centring (no copy of X), for large X.
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized solver; unused by ``"full"``.

    Attributes
    ----------
    ranking_ : ndarray of shape (n_selections,)
        Row indices by descending score; ties (scores within ``1e-10`` of the best, ``1e-5``
        for float32 data) go to the lowest index.
    scores_ : ndarray of shape (n_selections,)
        Squared reconstruction error of each pick.
    expected_ : ndarray of shape (n_selections, n_features)
        Expected part of each pick under the model.
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (r, n_features)
    singular_values_ : ndarray of shape (r,)
    n_samples_seen_ : int
    n_components_ : int
    n_features_in_ : int
    n_samples_fit_ : int

    See Also
    --------
    Demud : the model is updated after every pick.

    Notes
    -----
    Data whose largest magnitude is beyond ``1e100`` or below ``1e-100`` are modelled scaled
    by a power of two (exact), so the ranking is that of any rescaling of the data; scores
    whose squares leave the float64 range are reported as inf or 0, with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel import SVDRanker
    >>> X = np.array([[0., 0.], [0.1, 0.], [5., 5.], [0., 0.1], [0., 3.]])
    >>> SVDRanker(n_components=1).fit(X).ranking_
    array([4, 2, 1, 0, 3])
    """

    _parameter_constraints = {
        "n_components": [IntegerInterval(1, None, closed="left"), None],
        "n_selections": N_SELECTIONS_CONSTRAINT,
        "svd_solver": [StrOptions({"full", "randomized"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self, n_components=None, *, n_selections=None, svd_solver="full", random_state=None
    ):
        self.n_components = n_components
        self.n_selections = n_selections
        self.svd_solver = svd_solver
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the PCA of X and rank X's rows by their reconstruction error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : SVDRanker
        """
        convert = output_converter(X)
        X = self._validate(X, reset=True)
        n_samples, n_features = X.shape
        self.n_components_ = resolve_n_components(self.n_components, n_features, n_samples)
        n_selections = check_n_selections(self.n_selections, n_samples)
        self._remember_data(X)
        X = self._to_model_units(X, reset=True)
        if self.svd_solver == "full":
            model = pca_model(X, self.n_components_)
        else:
            model = randomized_pca_model(X, self.n_components_, random_state=self.random_state)
        self._store_model(model, X.dtype)
        result = self._rank(X, n_selections)
        self._store_selection(result.indices, result.scores, result.expected, X.dtype)
        self._attributes_in_namespace(convert)
        return self

    def _rank(self, X, n_selections):
        if isinstance(X, DelegatingRows):  # the scores stay with the rows; the top come back
            ranking, scores = X.top_under(self._model, n_selections)
        else:
            scores, distances = residual_scores(X, self._model, with_distance=True)
            ranking = tie_aware_order(scores, n_selections, X.dtype, float(distances.max()))
            scores = scores[ranking]
        expected = reconstruct(take_rows(X, ranking), self._model)
        return Bunch(indices=ranking, scores=scores, expected=expected)
