"""A scikit-learn Pipeline that also forwards the rankers' verbs, ``rank`` and ``explain``.

scikit-learn's :class:`~sklearn.pipeline.Pipeline` forwards only the verbs it knows, so
``Pipeline([("cnn", CNNFeaturizer()), ("demud", Demud())]).rank(X_new)`` would fail there.
This subclass transforms X through every step but the last and calls the verb on the last one,
as imbalanced-learn's pipeline does for ``fit_resample``. Everything else is scikit-learn's.
"""

from sklearn import pipeline as _sk_pipeline
from sklearn.utils.metaestimators import available_if

__all__ = ["Pipeline", "make_pipeline"]


def _final_step_has(verb):
    def check(pipeline):
        getattr(pipeline._final_estimator, verb)  # AttributeError hides the verb
        return True

    return check


def transform_to_final_step(pipeline, X):
    """Transform X through every step of a (scikit-learn) pipeline but the last.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
    X : array-like or sequence
        Input of the pipeline's first step.

    Returns
    -------
    Xt : array-like
        Input of the final step.
    """
    Xt = X
    for _, _, transformer in pipeline._iter(with_final=False, filter_passthrough=True):
        Xt = transformer.transform(Xt)
    return Xt


class Pipeline(_sk_pipeline.Pipeline):
    """scikit-learn's Pipeline that also forwards :meth:`~Pipeline.rank` and friends.

    The final step's :meth:`~Pipeline.rank`, :meth:`~Pipeline.explain` and
    :meth:`~Pipeline.is_fitted_on` are called on X transformed through the other steps.

    Parameters and attributes are those of :class:`sklearn.pipeline.Pipeline`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sknovel import Demud, Pipeline
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> pipe = Pipeline([("scale", StandardScaler()), ("demud", Demud(n_components=2))])
    >>> pipe.fit(X).rank(X[:5]).shape
    (5,)
    """

    @available_if(_final_step_has("rank"))
    def rank(self, X, **params):
        """Transform X through the steps, then rank it with the final ranker.

        Parameters
        ----------
        X : array-like or sequence
            Input of the first step.
        **params : dict
            Passed to the final step's ``rank`` (e.g. ``n_selections``,
            ``return_explanation``).

        Returns
        -------
        ranking : ndarray or Bunch
            What the final step's ``rank`` returns.
        """
        return self._final_estimator.rank(transform_to_final_step(self, X), **params)

    @available_if(_final_step_has("explain"))
    def explain(self, X, **params):
        """Transform X through the steps, then explain the final ranker's selections.

        Parameters
        ----------
        X : array-like or sequence
            The pipeline's training input.
        **params : dict
            Passed to the final step's ``explain``.

        Returns
        -------
        explanation : Bunch
            What the final step's ``explain`` returns (in the final step's feature space).
        """
        return self._final_estimator.explain(transform_to_final_step(self, X), **params)

    @available_if(_final_step_has("is_fitted_on"))
    def is_fitted_on(self, X):
        """Whether X, transformed through the steps, is the data the final ranker ranked.

        Parameters
        ----------
        X : array-like or sequence

        Returns
        -------
        bool
        """
        return self._final_estimator.is_fitted_on(transform_to_final_step(self, X))


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Build a :class:`Pipeline` from estimators, naming the steps after their classes.

    Parameters
    ----------
    *steps : list of estimators
    memory : str or object with the joblib.Memory interface, default=None
    transform_input : list of str, default=None
    verbose : bool, default=False

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sknovel import Demud, make_pipeline
    >>> make_pipeline(StandardScaler(), Demud())
    Pipeline(steps=[('standardscaler', StandardScaler()), ('demud', Demud())])
    """
    return Pipeline(
        _sk_pipeline._name_estimators(steps),
        memory=memory,
        transform_input=transform_input,
        verbose=verbose,
    )
