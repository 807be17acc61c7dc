"""What every explainer shares: its base class and the one reduction of colour channels.

The contract itself is written out in the developer guide (``docs/developers.rst``,
"The explainer contract") and checked for every explainer by
:func:`sknovel.utils.estimator_checks.check_explainer`.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sklearn.base import BaseEstimator


class BaseExplainer(BaseEstimator):
    """Base class of sknovel's explainers.

    An explainer wraps what it explains (a fitted featurizer and ranker, or a detector),
    passed to its constructor; stores its parameters untouched in ``__init__`` and
    validates them with ``_parameter_constraints``; learns, if it learns anything, in
    ``fit(X, y=None)``; and has one verb, ``explain(X, ...)``, which returns a
    :class:`~sklearn.utils.Bunch` of arrays with one row per explained item. Maps are
    float arrays of shape (n, H, W), reduced over colour channels by
    :func:`reduce_channels`.
    """


def reduce_channels(per_channel, axis=-1):
    """Sum a per-channel map over its colour channels: the reduction of every map.

    A map's value at a pixel is its share of what is explained, per channel (a squared
    error, an absolute gradient, a gradient times the input); summing over channels keeps
    those shares additive (an integrated-gradients map still sums to the score difference
    it explains), so that maps from different methods are on one scale. Grey images have
    one channel and are unchanged.

    Parameters
    ----------
    per_channel : ndarray or torch.Tensor
        Map values with a channel axis.
    axis : int, default=-1
        The channel axis (``-1`` for (n, H, W, C) arrays, ``1`` for (n, C, H, W) tensors).

    Returns
    -------
    maps : ndarray or torch.Tensor
        `per_channel` summed over `axis`.
    """
    return per_channel.sum(axis)
