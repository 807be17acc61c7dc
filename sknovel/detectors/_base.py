"""What the torch image detectors share: input checks, batched scoring, the training loop."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sknovel.utils.heap import heap_slack
from sknovel.utils.images import (
    check_fitted_images,
    check_image_array,
    image_estimator_tags,
    to_unit_float,
)
from sknovel.utils.progress import progress_bar
from sknovel.utils.tensors import images_to_tensor, import_torch, resolve_device, torch_seed
from sknovel.utils.training import MIN_HELD_OUT_IMAGES, EarlyStopping, NumpyModulePickleMixin


class TorchImageDetector(NumpyModulePickleMixin, OutlierMixin, BaseEstimator):
    """Base of the outlier detectors on images that train one torch network, ``module_``.

    It holds the outlier-detector API (``score_samples``, ``decision_function``,
    ``predict``, ``offset_`` from ``contamination``), the detector protocol's
    ``torch_score_samples``, the checks of the input images, and the training loop (Adam,
    early stopping on the validation loss, a progress bar, the divergence check). A detector
    adds its parameters to ``_parameter_constraints`` and implements:

    * ``_training_data(images, y, rng)``: validate ``y`` and split the data; return the
      object ``_train_epoch`` and ``_validation_loss`` take (with a ``has_validation``
      attribute) and the normal images whose scores set ``offset_``;
    * ``_network_config_for(input_shape)`` (a dict) and ``_new_network()``, which builds the
      network from ``self._network_config`` (also when unpickling);
    * ``_train_epoch(data, optimizer, rng)``: one pass, returning the mean training loss;
    * ``_validation_loss(data)``: the validation loss, the model in eval mode;
    * ``_batch_scores(x)``: the score of a (b, C, H, W) tensor batch, as a torch tensor (b,).

    Its ``fit`` is ``_fit(X, y)``, which the detector's own ``fit`` calls.
    """

    _parameter_constraints = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "contamination": [Interval(Real, 0, 0.5, closed="both")],
        "random_state": ["random_state"],
        "device": "no_validation",  # checked by resolve_device, which names the parameter
        "verbose": ["verbose"],
    }

    @heap_slack()
    def _fit(self, X, y):
        """Check `X`, build and train the network, and set ``offset_``; return self."""
        torch = import_torch()
        images = check_image_array(X)
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        data, normal = self._training_data(images, y, rng)

        self.input_shape_ = tuple(int(v) for v in images.shape[1:])
        self._network_config = self._network_config_for(self.input_shape_)
        with torch.random.fork_rng(devices=[]):  # seed the initialisation, not torch's state
            torch.manual_seed(torch_seed(rng))
            module = self._new_network()
        self.module_ = module.to(device)
        self._train(data, rng)
        self.module_.eval()
        scores = self._scores(normal)
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                f"Training diverged: the scores are not finite after {self.n_epochs_} "
                f"epochs; lower learning_rate (now {self.learning_rate})."
            )
        # How new normal images score: a network fits its training images better than new
        # ones, so a threshold on the training scores calls too many new normal images novel.
        self.validation_scores_ = self._scores(data.validation_normal)
        if len(self.validation_scores_) >= MIN_HELD_OUT_IMAGES:
            scores = self.validation_scores_
        self.offset_ = float(np.percentile(scores, 100 * self.contamination))
        return self

    def _train(self, data, rng):
        """Train ``module_`` for up to ``epochs`` epochs; set the curves and epoch counts."""
        torch = import_torch()
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate)
        self.loss_curve_, self.validation_loss_curve_ = [], []
        stopping = EarlyStopping(self.module_, self.n_iter_no_change, keep_best=data.has_validation)
        name = f"{type(self).__name__}.fit"
        with progress_bar(self.epochs, name, unit="epoch", verbose=self.verbose) as bar:
            for epoch in range(1, self.epochs + 1):
                self.loss_curve_.append(self._train_epoch(data, optimizer, rng))
                validation_loss = None
                if data.has_validation:
                    self.module_.eval()
                    validation_loss = self._validation_loss(data)
                    self.validation_loss_curve_.append(validation_loss)
                bar.set_postfix(_epoch_losses(self.loss_curve_[-1], validation_loss), refresh=False)
                bar.update(1)
                monitored = self.loss_curve_[-1] if validation_loss is None else validation_loss
                self._check_finite(monitored, epoch)
                if stopping.update(epoch, monitored):
                    break
        self.n_epochs_ = epoch
        optimizer.zero_grad(set_to_none=True)  # the gradients are of no use after training
        self.best_epoch_ = stopping.restore(epoch)

    def _check_finite(self, loss, epoch):
        if not np.isfinite(loss):
            raise ValueError(
                f"Training diverged: the loss is not finite in epoch {epoch}; lower "
                f"learning_rate (now {self.learning_rate})."
            )

    def _build_modules(self):
        return {"module_": self._new_network()}

    def _tensor(self, batch):
        """(b, H, W, C) uint8 or float images → tensor (b, C, H, W) in the model's precision."""
        if batch.dtype == np.uint8:
            batch = to_unit_float(batch)  # float input keeps its precision (see below)
        parameter = next(self.module_.parameters())
        if parameter.dtype == import_torch().float32:
            return images_to_tensor(batch, parameter.device)
        # A model switched to another precision (float64 for exact gradients) gets the input
        # in that precision, not rounded to float32 first.
        channels_first = np.ascontiguousarray(np.moveaxis(batch, -1, 1))
        return import_torch().as_tensor(channels_first).to(parameter.device, parameter.dtype)

    def _module_input(self, x):
        """`x` on the model's device and in its precision."""
        parameter = next(self.module_.parameters())
        return x.to(parameter.device, parameter.dtype)

    def _check_images(self, X):
        """Validate X against the fitted shape; return it as (n, H, W, C)."""
        return check_fitted_images(X, self)

    def _batches(self, images):
        """Tensors of ``batch_size`` images at a time, for ``module_``."""
        for start in range(0, len(images), self.batch_size):
            yield self._tensor(images[start : start + self.batch_size])

    @heap_slack()
    def _scores(self, images):
        """Scores of (n, H, W, C) images, in batches, without gradients: float64 (n,)."""
        torch = import_torch()
        with torch.no_grad():
            parts = [self._batch_scores(x).double().cpu().numpy() for x in self._batches(images)]
        return np.concatenate(parts) if parts else np.empty(0)

    def score_samples(self, X):
        """The detector's score of each image: higher means more normal.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the fitted shape, uint8 in [0, 255] or float in [0, 1].

        Returns
        -------
        scores : ndarray of shape (n,), float64
            The score of each image (the class description says what it is).
        """
        images = self._check_images(X)
        self.module_.eval()
        return self._scores(images)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for novel images.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the fitted shape.

        Returns
        -------
        decision : ndarray of shape (n,)
            Negative for images scoring below the threshold ``offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """1 for normal images, -1 for novel ones (``decision_function(X) < 0``).

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the fitted shape.

        Returns
        -------
        labels : ndarray of shape (n,), int
            1 (normal) or -1 (novel) for each image.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def torch_score_samples(self, x):
        """:meth:`score_samples` of a torch batch, differentiable with respect to `x`.

        The detector protocol of :mod:`sknovel.detectors`: explainers that need the
        gradient of the score (saliency maps, counterfactuals) call this. The model is put
        in eval mode; its weights are not changed.

        Parameters
        ----------
        x : torch.Tensor of shape (b, C, H, W)
            Float pixels in [0, 1], channels first, of the fitted (H, W, C); on any device.

        Returns
        -------
        scores : torch.Tensor of shape (b,)
            The detector's score of each image, on the device and in the float dtype of `x`
            (computed on the model's device and in its precision).
        """
        check_is_fitted(self)
        inputs = self._module_input(x)
        self.module_.eval()
        return self._batch_scores(inputs).to(x.device, x.dtype)

    def __sklearn_tags__(self):
        return image_estimator_tags(super().__sklearn_tags__())


def _epoch_losses(loss, validation_loss):
    """The losses of an epoch, for the progress bar (the validation loss when there is one)."""
    losses = {"loss": f"{loss:.5g}"}
    if validation_loss is not None:
        losses["validation_loss"] = f"{validation_loss:.5g}"
    return losses
