"""Where an autoencoder finds an image novel: its error map and the gradient saliency map."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from sknovel.detectors._autoencoder import ConvAutoencoder, per_image_loss
from sknovel.utils.tensors import import_torch, tensor_to_images


class AutoencoderSaliency:
    """Reconstruction-error map and gradient saliency map of a fitted :class:`ConvAutoencoder`.

    Feeney & Hughes, *Evaluating the Use of Reconstruction Error for Novelty Localization*
    (2021), ask whether the pixel-wise reconstruction error of an autoencoder shows *where*
    an image is novel, by comparing it with a map of which pixels the loss is most sensitive
    to. For an image x with reconstruction g(f(x)):

    * the **error map** is r(x) = (x - g(f(x)))², averaged over channels;
    * the **saliency map** is \\|∂ r̄ / ∂x\\|, the absolute gradient of the mean squared error
      r̄ (the detector's loss, minus its score) with respect to every input pixel, the
      largest over channels (Simonyan et al. 2014), optionally squared.

    Each map is divided by its own maximum, so that it lies in [0, 1] with 1 at its strongest
    pixel, as in the paper; a map that is zero everywhere (a perfect reconstruction, or a
    vanishing gradient) stays zero. Compare them with
    :func:`~sknovel.metrics.top_k_agreement`,
    :func:`~sknovel.metrics.max_distance_to_best_match` and :func:`~sknovel.metrics.map_mse`.

    Parameters
    ----------
    detector : ConvAutoencoder
        A fitted detector. Its model is used in eval mode and is not changed.
    squared : bool, default=False
        Square the saliency map (the paper's "squared saliency", which concentrates it on the
        strongest pixels). Top-K pixels are the same either way.
    normalize : bool, default=True
        Divide each map by its own maximum.

    See Also
    --------
    sknovel.plotting.SaliencyDisplay : Input, reconstruction and maps side by side.
    sknovel.plotting.TopKAgreementDisplay : Histograms of top-K agreement of the two maps.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.detectors import ConvAutoencoder
    >>> from sknovel.explain import AutoencoderSaliency
    >>> rng = np.random.default_rng(0)
    >>> detector = ConvAutoencoder(epochs=2, random_state=0).fit(rng.random((40, 8, 8)))
    >>> explainer = AutoencoderSaliency(detector)
    >>> maps = explainer.saliency_map(rng.random((3, 8, 8)))
    >>> maps.shape, float(maps.max())
    ((3, 8, 8), 1.0)
    """

    def __init__(self, detector, *, squared=False, normalize=True):
        self.detector = detector
        self.squared = squared
        self.normalize = normalize

    def _check(self):
        if not isinstance(self.detector, ConvAutoencoder):
            raise TypeError(
                f"detector must be a fitted ConvAutoencoder; got {type(self.detector).__name__}."
            )
        check_is_fitted(self.detector)
        for name in ("squared", "normalize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {getattr(self, name)!r}.")

    def explain(self, X):
        """Reconstructions, error maps, saliency maps and scores, in one pass over `X`.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the shape the detector was fitted on, uint8 or float in [0, 1].

        Returns
        -------
        explanation : Bunch
            ``reconstructions`` (shaped like `X`, float32), ``error_maps`` and
            ``saliency_maps`` (float32, shape (n, H, W)), and ``scores`` (the detector's
            ``score_samples``, float64, shape (n,)).
        """
        torch = import_torch()
        self._check()
        detector = self.detector
        images = detector._check_images(X)
        module = detector.module_.eval()
        parts = {"reconstructions": [], "error_maps": [], "saliency_maps": [], "scores": []}
        for x in detector._batches(images):
            x.requires_grad_(True)
            with torch.enable_grad():
                reconstruction = module(x)
                loss = per_image_loss(reconstruction, x)
                (gradient,) = torch.autograd.grad(loss.sum(), x)
            parts["reconstructions"].append(tensor_to_images(reconstruction))
            parts["error_maps"].append((reconstruction - x).detach().pow(2).mean(1))
            parts["saliency_maps"].append(gradient.abs().amax(1))
            parts["scores"].append(-loss.detach())
        reconstructions = np.concatenate(parts["reconstructions"]).reshape(np.shape(X))
        saliency = torch.cat(parts["saliency_maps"])
        return Bunch(
            reconstructions=reconstructions,
            error_maps=self._finish(torch.cat(parts["error_maps"])),
            saliency_maps=self._finish(saliency.pow(2) if self.squared else saliency),
            scores=torch.cat(parts["scores"]).double().cpu().numpy(),
        )

    def _finish(self, maps):
        """(n, H, W) tensor → numpy, divided by each map's maximum when ``normalize``."""
        maps = maps.detach()
        if self.normalize:
            peak = maps.flatten(1).amax(1).reshape(-1, 1, 1)
            maps = maps / peak.where(peak > 0, peak.new_ones(()))  # all-zero maps stay zero
        return maps.cpu().numpy().astype(np.float32, copy=False)

    def error_map(self, X):
        """The reconstruction-error map r(x) = (x - g(f(x)))² of each image.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the shape the detector was fitted on.

        Returns
        -------
        maps : ndarray of shape (n, H, W), float32
            Squared error averaged over channels; each map divided by its maximum when
            ``normalize``.
        """
        return self.explain(X).error_maps

    def saliency_map(self, X):
        """The gradient saliency map \\|∂ r̄ / ∂x\\| of each image (largest over channels).

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the shape the detector was fitted on.

        Returns
        -------
        maps : ndarray of shape (n, H, W), float32
            Squared when ``squared``; each map divided by its maximum when ``normalize``.
        """
        return self.explain(X).saliency_maps
