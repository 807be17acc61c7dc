"""Pictures of autoencoder saliency: the maps side by side, and their top-K agreement."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Mapping

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._plotting import _validate_style_kwargs

from sknovel.metrics import top_k_agreement, top_k_agreement_chance
from sknovel.metrics.validation import check_k, check_map_pair
from sknovel.utils.images import to_unit_float
from sknovel.utils.text import literal

#: Column titles of :class:`SaliencyDisplay`, in order.
COLUMNS = ("Input", "Reconstruction", "Saliency", "Squared saliency", "Error map")


class SaliencyDisplay:
    """Input, reconstruction, saliency, squared saliency and error map, one image per row.

    The layout of Fig. 1 of Feeney & Hughes (2021), *Evaluating the Use of Reconstruction
    Error for Novelty Localization*. Images are drawn in grey (or in colour), maps with a
    colour map from 0 (dark) to their maximum.

    It is recommended to use :meth:`from_explainer` to create a display. All parameters are
    stored as attributes.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, C)
        The input images, floats in [0, 1].

    reconstructions : ndarray of the shape of `images`
        The autoencoder's reconstructions (clipped to [0, 1] for drawing).

    saliency_maps : ndarray of shape (n, H, W)
        Gradient saliency maps.

    squared_saliency_maps : ndarray of shape (n, H, W)
        The same, squared.

    error_maps : ndarray of shape (n, H, W)
        Reconstruction-error maps.

    row_labels : list of str, default=None
        A label for each row (e.g. the digit and its score), drawn left of the input and
        shown literally (``$`` and control characters are not interpreted).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes, shape (n, 5)
        One row of axes per image, one column per picture.

    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    sknovel.explain.AutoencoderSaliency : Computes the maps.
    TopKAgreementDisplay : Histograms of how many top pixels the maps share.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from sknovel.plotting import SaliencyDisplay
    >>> rng = np.random.default_rng(0)
    >>> images, maps = rng.random((2, 8, 8)), rng.random((2, 8, 8))
    >>> display = SaliencyDisplay(
    ...     images=images, reconstructions=images, saliency_maps=maps,
    ...     squared_saliency_maps=maps**2, error_maps=maps,
    ... ).plot()
    >>> display.axes_.shape
    (2, 5)
    >>> plt.show()
    """

    def __init__(
        self,
        *,
        images,
        reconstructions,
        saliency_maps,
        squared_saliency_maps,
        error_maps,
        row_labels=None,
    ):
        self.images = images
        self.reconstructions = reconstructions
        self.saliency_maps = saliency_maps
        self.squared_saliency_maps = squared_saliency_maps
        self.error_maps = error_maps
        self.row_labels = row_labels

    def plot(self, ax=None, *, image_cmap="gray", map_cmap="inferno", titles=COLUMNS):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes of shape (n, 5), default=None
            Axes to draw on, one row per image. If None, a new figure is created.

        image_cmap : str, default="gray"
            Colour map of one-channel images and reconstructions.

        map_cmap : str, default="inferno"
            Colour map of the saliency and error maps.

        titles : sequence of 5 str, default=COLUMNS
            Column titles, drawn above the first row.

        Returns
        -------
        display : SaliencyDisplay
            This display, with `axes_` and `figure_` set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        columns = self._columns()
        n_rows = len(columns[0])
        if ax is None:
            _, ax = plt.subplots(
                n_rows, 5, figsize=(7.5, 1.6 * n_rows + 0.4), squeeze=False, layout="constrained"
            )
        axes = np.asarray(ax, dtype=object)
        if axes.size != 5 * n_rows:
            raise ValueError(f"ax must hold {n_rows} x 5 Axes, one row per image; got {axes.size}.")
        axes = axes.reshape(n_rows, 5)
        if len(titles) != 5:
            raise ValueError(f"titles must give 5 column titles; got {len(titles)}.")
        for row, axes_row in enumerate(axes):
            for column, (axis, pictures) in enumerate(zip(axes_row, columns)):
                _draw(axis, pictures[row], image_cmap if column < 2 else map_cmap, column < 2)
                if row == 0:
                    axis.set_title(titles[column], fontsize=9)
            if self.row_labels is not None:
                axes_row[0].set_ylabel(literal(self.row_labels[row]), fontsize=8)
        self.axes_ = axes
        self.figure_ = axes[0, 0].figure
        return self

    def _columns(self):
        images = np.asarray(self.images)
        n_images = len(images)
        columns = [
            images,
            np.asarray(self.reconstructions),
            np.asarray(self.saliency_maps),
            np.asarray(self.squared_saliency_maps),
            np.asarray(self.error_maps),
        ]
        names = ["images", "reconstructions", "saliency_maps", "squared_saliency_maps"]
        for name, pictures in zip(names + ["error_maps"], columns):
            if len(pictures) != n_images or pictures.shape[1:3] != images.shape[1:3]:
                raise ValueError(
                    f"{name} must hold {n_images} pictures of {images.shape[1:3]} pixels like "
                    f"images; got shape {pictures.shape}."
                )
        if self.row_labels is not None and len(self.row_labels) != n_images:
            raise ValueError(
                f"row_labels must give one label per image: got {len(self.row_labels)} for "
                f"{n_images} images."
            )
        return columns

    @classmethod
    def from_explainer(cls, explainer, X, *, row_labels=None, ax=None, **kwargs):
        """Compute the maps of a few images with an explainer and draw them.

        The saliency is computed unsquared, then squared; the explainer's ``normalize``
        setting applies, its ``squared`` setting does not (both are drawn).

        Parameters
        ----------
        explainer : sknovel.explain.AutoencoderSaliency
            Explainer of a fitted detector.

        X : ndarray of shape (n, H, W) or (n, H, W, C)
            A few images (one row each) of the shape the detector was fitted on.

        row_labels : list of str, default=None
            A label for each row.

        ax : array-like of matplotlib Axes of shape (n, 5), default=None
            Axes to draw on. If None, a new figure is created.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : SaliencyDisplay

        Examples
        --------
        >>> import numpy as np
        >>> import matplotlib.pyplot as plt
        >>> from sknovel.detectors import ConvAutoencoder
        >>> from sknovel.explain import AutoencoderSaliency
        >>> from sknovel.plotting import SaliencyDisplay
        >>> images = np.random.default_rng(0).random((20, 8, 8))
        >>> detector = ConvAutoencoder(epochs=1, random_state=0).fit(images)
        >>> display = SaliencyDisplay.from_explainer(AutoencoderSaliency(detector), images[:3])
        >>> display.axes_.shape
        (3, 5)
        >>> plt.show()
        """
        from sknovel.explain import AutoencoderSaliency

        check_matplotlib_support(f"{cls.__name__}.from_explainer")
        if not isinstance(explainer, AutoencoderSaliency):
            raise TypeError(
                f"explainer must be an AutoencoderSaliency; got {type(explainer).__name__}."
            )
        unsquared = type(explainer)(**{**explainer.get_params(deep=False), "squared": False})
        explanation = unsquared.explain(X)
        images = to_unit_float(X, np.float64)
        display = cls(
            images=images,
            reconstructions=explanation.reconstructions,
            saliency_maps=explanation.saliency_maps,
            squared_saliency_maps=explanation.saliency_maps**2,
            error_maps=explanation.error_maps,
            row_labels=row_labels,
        )
        return display.plot(ax=ax, **kwargs)


def _draw(axis, picture, cmap, is_image):
    """Show one image (grey or colour, clipped to [0, 1]) or one map (0 to its maximum)."""
    picture = np.asarray(picture, dtype=float)
    if is_image:
        picture = np.clip(picture, 0, 1)
        if picture.ndim == 3 and picture.shape[-1] == 1:
            picture = picture[..., 0]
        axis.imshow(picture, cmap=cmap if picture.ndim == 2 else None, vmin=0, vmax=1)
    else:
        axis.imshow(picture, cmap=cmap, vmin=0, vmax=max(float(picture.max()), 1e-12))
    axis.set_xticks([])
    axis.set_yticks([])


class TopKAgreementDisplay:
    """Histograms of top-K agreement between saliency and error maps, one per group.

    Fig. 2 of Feeney & Hughes (2021): for every image, the number of its K most salient
    pixels that are also among its K largest reconstruction errors
    (:func:`~sknovel.metrics.top_k_agreement`), as relative frequencies of 0 .. K for, say,
    normal and novel images, beside the distribution for random maps
    (:func:`~sknovel.metrics.top_k_agreement_chance`).

    It is recommended to use :meth:`from_maps` to create a display. All parameters are stored
    as attributes.

    Parameters
    ----------
    agreements : list of ndarray of int
        Top-K agreement of every image of each group.

    names : list of str
        Name of each group, for the legend, shown literally.

    k : int
        K: the agreements lie in 0 .. K.

    chance : ndarray of shape (k + 1,), default=None
        Probability of each agreement for random maps. Not drawn if None.

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
        One set of bars per group.

    chance_line_ : matplotlib Line2D or None
        The chance distribution, None if not drawn.

    ax_ : matplotlib Axes
        Axes with the histograms.

    figure_ : matplotlib Figure
        Figure containing the histograms.

    See Also
    --------
    SaliencyDisplay : The maps themselves.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from sknovel.plotting import TopKAgreementDisplay
    >>> rng = np.random.default_rng(0)
    >>> saliency, error = rng.random((40, 6, 6)), rng.random((40, 6, 6))
    >>> groups = np.repeat(["normal", "novel"], 20)
    >>> display = TopKAgreementDisplay.from_maps(saliency, error, k=3, groups=groups)
    >>> [text.get_text() for text in display.ax_.get_legend().get_texts()]
    ['normal (mean 0.35)', 'novel (mean 0.30)', 'Random maps (mean 0.25)']
    >>> plt.show()
    """

    def __init__(self, *, agreements, names, k, chance=None):
        self.agreements = agreements
        self.names = names
        self.k = k
        self.chance = chance

    def plot(self, ax=None, *, bar_kwargs=None, chance_kwargs=None):
        """Draw the histograms.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        bar_kwargs : dict or list of dict, default=None
            Keyword arguments for matplotlib's ``bar``: one dict for all groups, or one per
            group.

        chance_kwargs : dict, default=None
            Keyword arguments for the chance line (default: black, dotted, with markers).

        Returns
        -------
        display : TopKAgreementDisplay
            This display, with `ax_`, `figure_`, `bars_` and `chance_line_` set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if len(self.names) != len(self.agreements):
            raise ValueError(
                f"Got {len(self.names)} names for {len(self.agreements)} groups; pass one "
                "name per group."
            )
        if ax is None:
            _, ax = plt.subplots()
        values = np.arange(self.k + 1)
        width = 0.8 / len(self.agreements)
        self.bars_ = []
        for i, (agreement, name, kwargs) in enumerate(
            zip(self.agreements, self.names, self._per_group_kwargs(bar_kwargs))
        ):
            agreement = np.asarray(agreement)
            if agreement.size == 0 or agreement.min() < 0 or agreement.max() > self.k:
                raise ValueError(
                    f"agreements of group {name!r} must be integers in [0, k={self.k}], at "
                    "least one."
                )
            frequency = np.bincount(agreement, minlength=self.k + 1) / len(agreement)
            offset = (i - (len(self.agreements) - 1) / 2) * width
            label = f"{literal(name)} (mean {agreement.mean():.2f})"
            self.bars_.append(
                ax.bar(values + offset, frequency, width, **{"label": label, **kwargs})
            )
        self.chance_line_ = None
        if self.chance is not None:
            mean = float(np.asarray(self.chance) @ values)
            default = {
                "color": "black",
                "linestyle": ":",
                "marker": "o",
                "markersize": 3,
                "label": f"Random maps (mean {mean:.2f})",
            }
            kwargs = _validate_style_kwargs(default, chance_kwargs or {})
            (self.chance_line_,) = ax.plot(values, self.chance, **kwargs)
        ax.set(
            xlabel=f"Top-{self.k} agreement of saliency and error map (pixels)",
            ylabel="Fraction of images",
        )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles = self.bars_ + ([self.chance_line_] if self.chance_line_ is not None else [])
        ax.legend(handles=handles)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    def _per_group_kwargs(self, bar_kwargs):
        if bar_kwargs is None or isinstance(bar_kwargs, Mapping):
            return [dict(bar_kwargs or {})] * len(self.agreements)
        if len(bar_kwargs) != len(self.agreements):
            raise ValueError(
                f"Got {len(bar_kwargs)} bar_kwargs for {len(self.agreements)} groups; pass one "
                "dict, or one dict per group."
            )
        return [dict(kwargs or {}) for kwargs in bar_kwargs]

    @classmethod
    def from_maps(
        cls, saliency_maps, error_maps, k, *, groups=None, show_chance=True, ax=None, **kwargs
    ):
        """Compute the top-K agreement of each pair of maps and draw its histograms.

        Parameters
        ----------
        saliency_maps : array-like of shape (n, H, W)
            Saliency maps.

        error_maps : array-like of shape (n, H, W)
            Error maps of the same images.

        k : int
            Number of top pixels of each map, in ``[1, H * W]``.

        groups : array-like of shape (n,), default=None
            Group of each image (e.g. ``"normal"`` / ``"novel"``); one histogram per distinct
            value, in sorted order. None puts all images in one group, "all".

        show_chance : bool, default=True
            Whether to draw the exact distribution for random maps.

        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : TopKAgreementDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_maps")
        saliency, _, single = check_map_pair(
            saliency_maps, error_maps, ("saliency_maps", "error_maps")
        )
        if single:
            raise ValueError(
                f"saliency_maps must be a batch of maps (n, H, W); got shape {saliency.shape[1:]}."
            )
        n_pixels = saliency.shape[1] * saliency.shape[2]
        k = check_k(k, n_pixels)
        agreement = top_k_agreement(saliency_maps, error_maps, k)
        if groups is None:
            groups = np.full(len(agreement), "all")
        groups = np.asarray(groups)
        if groups.shape != (len(agreement),):
            raise ValueError(
                f"groups must give one group per map: shape ({len(agreement)},); got "
                f"{groups.shape}."
            )
        names = np.unique(groups)
        display = cls(
            agreements=[agreement[groups == name] for name in names],
            names=[str(name) for name in names],
            k=k,
            chance=top_k_agreement_chance(k, n_pixels) if show_chance else None,
        )
        return display.plot(ax=ax, **kwargs)
