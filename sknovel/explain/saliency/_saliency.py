"""Where an autoencoder finds an image novel: its error map and the gradient saliency map."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from sknovel.explain._base import BaseExplainer, reduce_channels
from sknovel.utils.heap import heap_slack
from sknovel.utils.images import check_image_array, to_unit_float
from sknovel.utils.tensors import images_to_tensor, import_torch, tensor_to_images

#: The methods of the detector protocol (developer guide) that AutoencoderSaliency calls.
PROTOCOL_METHODS = ("torch_score_samples", "torch_reconstruct")
#: Images per forward and backward pass for a detector without a ``batch_size``.
DEFAULT_BATCH_SIZE = 64


class AutoencoderSaliency(BaseExplainer):
    """Reconstruction-error map and gradient saliency map of a fitted reconstruction detector.

    Feeney & Hughes, *Evaluating the Use of Reconstruction Error for Novelty Localization*
    (2021), ask whether the pixel-wise reconstruction error of an autoencoder shows *where*
    an image is novel, by comparing it with a map of which pixels the loss is most sensitive
    to. For an image x with reconstruction g(f(x)) and the detector's score s(x) (for
    :class:`~sknovel.detectors.ConvAutoencoder`, minus the mean squared error r̄):

    * the **error map** is (x - g(f(x)))², summed over colour channels;
    * the **saliency map** is \\|∂(-s) / ∂x\\|, the absolute gradient of the detector's loss
      with respect to every input pixel (Simonyan et al. 2014), summed over colour channels,
      optionally squared.

    Both maps are reduced over channels by summing, the reduction of every sknovel map
    (:func:`sknovel.explain._base.reduce_channels`). Grey images have one channel, so their
    maps are the paper's (it studies grey digits). For colour images the sum is C times the
    channel mean, so a normalised error map is that of the mean; the saliency map adds the
    absolute gradients of the channels (earlier versions of sknovel took their largest).

    Each map is divided by its own maximum, so that it lies in [0, 1] with 1 at its strongest
    pixel, as in the paper; a map that is zero everywhere (a perfect reconstruction, or a
    vanishing gradient) stays zero. Compare them with
    :func:`~sknovel.metrics.top_k_agreement`,
    :func:`~sknovel.metrics.max_distance_to_best_match` and :func:`~sknovel.metrics.map_mse`.

    Parameters
    ----------
    detector : object
        A fitted detector that follows the detector protocol (see the developer guide):
        ``torch_score_samples(x)``, its score of a torch batch, differentiable with respect
        to ``x``, and ``torch_reconstruct(x)``, its reconstruction of the batch, such as a
        fitted :class:`~sknovel.detectors.ConvAutoencoder`. Its score of an image must
        depend on that image only. It is used, not changed. A scikit-learn estimator must be
        fitted (:func:`~sklearn.utils.validation.check_is_fitted`); any other object with
        the two methods is used as it is. Its ``input_shape_`` (if any)
        is the shape images must have, its ``batch_size`` (if any, else 64) the number of
        images per pass.
    squared : bool, default=False
        Square the saliency map (the paper's "squared saliency", which concentrates it on the
        strongest pixels). Top-K pixels are the same either way.
    normalize : bool, default=True
        Divide each map by its own maximum.

    See Also
    --------
    sknovel.plotting.SaliencyDisplay : Input, reconstruction and maps side by side.
    sknovel.plotting.TopKAgreementDisplay : Histograms of top-K agreement of the two maps.

    Notes
    -----
    Pixels reach the detector as float32 tensors (float64 images as float64, so that a
    detector whose model runs in float64 gives exact gradients), channels first, on the CPU;
    the detector moves them to its own device and precision.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.detectors import ConvAutoencoder
    >>> from sknovel.explain import AutoencoderSaliency
    >>> rng = np.random.default_rng(0)
    >>> detector = ConvAutoencoder(epochs=2, random_state=0).fit(rng.random((40, 8, 8)))
    >>> explanation = AutoencoderSaliency(detector).explain(rng.random((3, 8, 8)))
    >>> explanation.saliency_maps.shape, float(explanation.saliency_maps.max())
    ((3, 8, 8), 1.0)
    >>> sorted(explanation)
    ['error_maps', 'reconstructions', 'saliency_maps', 'scores']
    """

    _parameter_constraints = {
        "detector": "no_validation",  # checked for the detector protocol when explaining
        "squared": ["boolean"],
        "normalize": ["boolean"],
    }

    def __init__(self, detector, *, squared=False, normalize=True):
        self.detector = detector
        self.squared = squared
        self.normalize = normalize

    @heap_slack()
    def explain(self, X):
        """Reconstructions, error maps, saliency maps and scores, in one pass over `X`.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the shape the detector was fitted on, uint8 or float in [0, 1].

        Returns
        -------
        explanation : Bunch
            ``reconstructions`` (shaped like `X`, float32, clipped to [0, 1] like every
            image an explainer returns), ``error_maps`` and ``saliency_maps`` (float32,
            shape (n, H, W), summed over channels), and ``scores`` (the detector's score of
            each image, float64, shape (n,)). The error maps and scores are those of the
            detector's own, unclipped reconstruction (an autoencoder without an output
            activation may stray slightly outside [0, 1]).
        """
        self._validate_params()
        images = self._check_images(X)
        batch_size = self._batch_size()
        parts = [
            self._explain_batch(images[start : start + batch_size])
            for start in range(0, len(images), batch_size)
        ]
        reconstructions, error_maps, saliency_maps, scores = (
            np.concatenate(part) for part in zip(*parts)
        )
        if self.squared:
            saliency_maps = saliency_maps**2
        return Bunch(
            reconstructions=np.clip(reconstructions, 0, 1).reshape(np.shape(X)),
            error_maps=self._finish(error_maps),
            saliency_maps=self._finish(saliency_maps),
            scores=scores,
        )

    def _check_images(self, X):
        """Check the detector (protocol, fitted) and `X`; return X as (n, H, W, C)."""
        detector = self.detector
        missing = [name for name in PROTOCOL_METHODS if not callable(getattr(detector, name, None))]
        if missing:
            raise TypeError(
                f"detector must follow the detector protocol of sknovel.detectors, with the "
                f"methods {' and '.join(PROTOCOL_METHODS)}; {type(detector).__name__} has no "
                f"{' and no '.join(missing)}."
            )
        if hasattr(detector, "__sklearn_tags__"):  # a plain object has no fitted state to check
            check_is_fitted(detector)
        images = check_image_array(X)
        expected = getattr(detector, "input_shape_", None)
        if expected is not None and images.shape[1:] != tuple(expected):
            raise ValueError(
                f"X has images of shape {images.shape[1:]} (height, width, channels), but "
                f"the detector {type(detector).__name__} was fitted on {tuple(expected)}."
            )
        return images

    def _batch_size(self):
        size = getattr(self.detector, "batch_size", None)
        if isinstance(size, Integral) and not isinstance(size, bool) and size >= 1:
            return int(size)
        return DEFAULT_BATCH_SIZE

    def _explain_batch(self, batch):
        """Reconstructions (b, H, W, C), per-pixel error and |gradient| (b, H, W), scores."""
        torch = import_torch()
        dtype = np.float64 if batch.dtype == np.float64 else np.float32
        x = images_to_tensor(to_unit_float(batch, dtype), dtype=dtype).requires_grad_(True)
        with torch.enable_grad():
            scores = self.detector.torch_score_samples(x)
            (gradient,) = torch.autograd.grad(-scores.sum(), x)
        with torch.no_grad():
            reconstruction = self.detector.torch_reconstruct(x.detach())
            error = reduce_channels((x.detach() - reconstruction).pow(2), axis=1)
            saliency = reduce_channels(gradient.abs(), axis=1)
        return (
            tensor_to_images(reconstruction),
            _to_numpy(error),
            _to_numpy(saliency),
            _to_numpy(scores),
        )

    def _finish(self, maps):
        """(n, H, W) float64 maps → float32, divided by each map's maximum when ``normalize``."""
        if self.normalize:
            peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
            maps = maps / np.where(peak > 0, peak, 1.0)  # all-zero maps stay zero
        return maps.astype(np.float32)

    def error_map(self, X):
        """The reconstruction-error map of each image (deprecated: use ``explain``).

        .. deprecated:: 0.2
            Use ``explain(X).error_maps``; ``error_map`` will be removed in the next release.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the shape the detector was fitted on.

        Returns
        -------
        maps : ndarray of shape (n, H, W), float32
            ``explain(X).error_maps``.
        """
        _warn_deprecated("error_map", "error_maps")
        return self.explain(X).error_maps

    def saliency_map(self, X):
        """The gradient saliency map of each image (deprecated: use ``explain``).

        .. deprecated:: 0.2
            Use ``explain(X).saliency_maps``; ``saliency_map`` will be removed in the next release.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the shape the detector was fitted on.

        Returns
        -------
        maps : ndarray of shape (n, H, W), float32
            ``explain(X).saliency_maps``.
        """
        _warn_deprecated("saliency_map", "saliency_maps")
        return self.explain(X).saliency_maps


def _warn_deprecated(method, key):
    warnings.warn(
        f"AutoencoderSaliency.{method}(X) is deprecated and will be removed in the next "
        f"release; use AutoencoderSaliency.explain(X).{key}, which computes every map and "
        "the scores in one pass.",
        FutureWarning,
        stacklevel=3,
    )


def _to_numpy(tensor):
    """A detached tensor as a float64 numpy array on the CPU."""
    return tensor.detach().double().cpu().numpy()
