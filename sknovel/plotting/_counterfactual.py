"""Anomalies beside their counterfactuals, with the detector's scores."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from sknovel.utils.images import to_unit_float
from sknovel.utils.text import literal

#: Title colours of a score the detector calls anomalous / normal.
ANOMALOUS_COLOUR, NORMAL_COLOUR = "tab:red", "tab:green"


class CounterfactualDisplay:
    """A grid of counterfactual explanations: each anomaly, then its K counterfactuals.

    The figure of Liznerski, Varshneya, Calikus et al. (2024): one row per explained image,
    the image first and then its counterfactual of each concept, every picture titled with
    the detector's anomaly score -- red above the threshold (anomalous), green at or below it
    (normal). Given the score the counterfactuals were made to have (``target_score``), each
    counterfactual's title shows it beside the score reached.

    It is recommended to use :meth:`from_explainer` to create a display. All parameters are
    stored as attributes.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, C)
        The explained images, uint8 or float in [0, 1].

    counterfactuals : ndarray of shape (n, K, H, W) or (n, K, H, W, C)
        Their counterfactuals, float in [0, 1] (clipped for drawing).

    original_scores : array-like of shape (n,), default=None
        Detector scores of the images. Not drawn if None.

    scores : array-like of shape (n, K), default=None
        Detector scores of the counterfactuals. Not drawn if None.

    threshold : float, default=0.5
        Scores above it are drawn as anomalous.

    target_score : float, default=None
        The score the counterfactuals were aimed at (``target_score`` of the explanation),
        drawn in each counterfactual's title as ``(target ...)``. Not drawn if None.

    row_labels : list of str, default=None
        A label for each row (e.g. the digit), drawn left of the image and shown literally
        (``$`` and control characters are not interpreted).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes, shape (n, K + 1)
        One row per image: the image, then its counterfactuals.

    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    sknovel.explain.CounterfactualExplainer : Makes the counterfactuals.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from sknovel.plotting import CounterfactualDisplay
    >>> rng = np.random.default_rng(0)
    >>> images, counterfactuals = rng.random((3, 8, 8)), rng.random((3, 2, 8, 8))
    >>> display = CounterfactualDisplay(
    ...     images=images, counterfactuals=counterfactuals,
    ...     original_scores=[0.9, 0.8, 0.7], scores=[[0.2, 0.6], [0.1, 0.3], [0.4, 0.5]],
    ... ).plot()
    >>> display.axes_.shape
    (3, 3)
    >>> display.axes_[0, 1].get_title()
    'Concept 1\\n0.20'
    >>> display = CounterfactualDisplay(
    ...     images=images, counterfactuals=counterfactuals,
    ...     scores=[[0.2, 0.6], [0.1, 0.3], [0.4, 0.5]], target_score=0.1,
    ... ).plot()
    >>> display.axes_[1, 2].get_title()
    '0.30 (target 0.10)'
    >>> plt.show()
    """

    def __init__(
        self,
        *,
        images,
        counterfactuals,
        original_scores=None,
        scores=None,
        threshold=0.5,
        target_score=None,
        row_labels=None,
    ):
        self.images = images
        self.counterfactuals = counterfactuals
        self.original_scores = original_scores
        self.scores = scores
        self.threshold = threshold
        self.target_score = target_score
        self.row_labels = row_labels

    def plot(self, ax=None, *, cmap="gray", column_titles=None):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes of shape (n, K + 1), default=None
            Axes to draw on, one row per image. If None, a new figure is created.

        cmap : str, default="gray"
            Colour map of one-channel images.

        column_titles : sequence of K + 1 str, default=None
            Titles above the first row; None gives "Image", "Concept 1", ..., "Concept K".

        Returns
        -------
        display : CounterfactualDisplay
            This display, with ``axes_`` and ``figure_`` set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        images, counterfactuals, original, scores, target = self._check()
        n_rows, n_columns = len(images), counterfactuals.shape[1] + 1
        if column_titles is None:
            column_titles = ["Image"] + [f"Concept {k + 1}" for k in range(n_columns - 1)]
        if len(column_titles) != n_columns:
            raise ValueError(
                f"column_titles must give {n_columns} titles (the image and K = "
                f"{n_columns - 1} concepts); got {len(column_titles)}."
            )
        if ax is None:
            _, ax = plt.subplots(
                n_rows,
                n_columns,
                figsize=(1.3 * n_columns + 0.4, 1.4 * n_rows + 0.4),
                squeeze=False,
                layout="constrained",
            )
        axes = np.asarray(ax, dtype=object)
        if axes.size != n_rows * n_columns:
            raise ValueError(
                f"ax must hold {n_rows} x {n_columns} Axes, one row per image; got {axes.size}."
            )
        axes = axes.reshape(n_rows, n_columns)
        for row in range(n_rows):
            pictures = [images[row], *counterfactuals[row]]
            row_scores = [original[row], *scores[row]]
            for column, (axis, picture, score) in enumerate(zip(axes[row], pictures, row_scores)):
                _draw(axis, picture, cmap)
                heading = column_titles[column] if row == 0 else None
                self._title(axis, heading, score, target if column > 0 else None)
            if self.row_labels is not None:
                axes[row, 0].set_ylabel(literal(self.row_labels[row]), fontsize=8)
        self.axes_ = axes
        self.figure_ = axes[0, 0].figure
        return self

    def _title(self, axis, heading, score, target):
        lines = [] if heading is None else [heading]
        colour = None
        if score is not None:
            lines.append(_score_text(score))
            colour = ANOMALOUS_COLOUR if score > self.threshold else NORMAL_COLOUR
        if target is not None:
            target_text = f"(target {_score_text(target)})"
            if score is None:
                lines.append(target_text)
            else:
                lines[-1] += " " + target_text
        if lines:
            colour_kwargs = {} if colour is None else {"color": colour}
            axis.set_title("\n".join(lines), fontsize=8, **colour_kwargs)

    def _check(self):
        images = np.asarray(self.images)
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ValueError(
                f"images must have shape (n, H, W) or (n, H, W, C); got {images.shape}."
            )
        images = to_unit_float(images, np.float64)
        counterfactuals = np.asarray(self.counterfactuals)
        if (
            counterfactuals.ndim != images.ndim + 1
            or len(counterfactuals) != len(images)
            or counterfactuals.shape[2:] != images.shape[1:]
        ):
            raise ValueError(
                f"counterfactuals must have shape (n, K, *image shape) for images of shape "
                f"{images.shape}; got {counterfactuals.shape}."
            )
        n, n_concepts = counterfactuals.shape[:2]
        original = [None] * n
        if self.original_scores is not None:
            original = np.asarray(self.original_scores, dtype=float)
            if original.shape != (n,):
                raise ValueError(
                    f"original_scores must have shape ({n},), one per image; got {original.shape}."
                )
        scores = [[None] * n_concepts] * n
        if self.scores is not None:
            scores = np.asarray(self.scores, dtype=float)
            if scores.shape != (n, n_concepts):
                raise ValueError(
                    f"scores must have shape ({n}, {n_concepts}), one per counterfactual; got "
                    f"{scores.shape}."
                )
        target = self.target_score
        if target is not None:
            if isinstance(target, bool) or not isinstance(target, numbers.Real):
                raise TypeError(
                    f"target_score must be a real number or None; got {type(target).__name__}."
                )
            if not np.isfinite(target):
                raise ValueError(f"target_score must be finite; got {target}.")
        if self.row_labels is not None and len(self.row_labels) != n:
            raise ValueError(
                f"row_labels must give one label per image: got {len(self.row_labels)} for {n} "
                "images."
            )
        return images, counterfactuals, original, scores, target

    @classmethod
    def from_explainer(cls, explainer, X, *, row_labels=None, ax=None, **kwargs):
        """Explain a few images with a fitted explainer and draw them with their scores.

        Parameters
        ----------
        explainer : sknovel.explain.CounterfactualExplainer
            A fitted explainer.

        X : ndarray of shape (n, H, W) or (n, H, W, C)
            A few images (one row each) of the shape the explainer was fitted on.

        row_labels : list of str, default=None
            A label for each row.

        ax : array-like of matplotlib Axes of shape (n, K + 1), default=None
            Axes to draw on. If None, a new figure is created.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : CounterfactualDisplay

        Examples
        --------
        >>> import numpy as np
        >>> import matplotlib.pyplot as plt
        >>> import torch
        >>> from sknovel.explain import CounterfactualExplainer
        >>> from sknovel.plotting import CounterfactualDisplay
        >>> def detector(x):  # bright images are anomalous
        ...     return torch.sigmoid(20 * (x.mean(dim=(1, 2, 3)) - 0.5))
        >>> normal = np.random.default_rng(0).random((16, 8, 8)) * 0.6
        >>> explainer = CounterfactualExplainer(detector, epochs=1, width=4, random_state=0)
        >>> explainer = explainer.fit(normal)
        >>> display = CounterfactualDisplay.from_explainer(explainer, 1 - normal[:2])
        >>> display.axes_.shape
        (2, 3)
        >>> plt.show()
        """
        from sknovel.explain import CounterfactualExplainer

        check_matplotlib_support(f"{cls.__name__}.from_explainer")
        if not isinstance(explainer, CounterfactualExplainer):
            raise TypeError(
                f"explainer must be a CounterfactualExplainer; got {type(explainer).__name__}."
            )
        explanation = explainer.explain(X)
        display = cls(
            images=np.asarray(X),
            counterfactuals=explanation.counterfactuals,
            original_scores=explanation.original_scores,
            scores=explanation.scores,
            threshold=explanation.threshold,
            target_score=explanation.target_score,
            row_labels=row_labels,
        )
        return display.plot(ax=ax, **kwargs)


def _score_text(score):
    """Two decimals; two significant digits for a score that would read 0.00 but is not 0."""
    return f"{score:.2g}" if 0 < abs(score) < 0.005 else f"{score:.2f}"


def _draw(axis, picture, cmap):
    """Show one image, grey or colour, clipped to [0, 1], without ticks."""
    picture = np.clip(np.asarray(picture, dtype=float), 0, 1)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    axis.imshow(picture, cmap=cmap if picture.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_xticks([])
    axis.set_yticks([])
