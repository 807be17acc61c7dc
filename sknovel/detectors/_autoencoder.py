"""A convolutional autoencoder as a scikit-learn outlier detector on images."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sknovel.utils.images import check_image_array, to_unit_float
from sknovel.utils.progress import progress_bar
from sknovel.utils.tensors import (
    images_to_tensor,
    import_torch,
    resolve_device,
    tensor_to_images,
    torch_seed,
)
from sknovel.utils.training import (
    EarlyStopping,
    NumpyModulePickleMixin,
    training_batches,
    validation_split,
)


class ConvAutoencoder(NumpyModulePickleMixin, OutlierMixin, BaseEstimator):
    """Convolutional autoencoder novelty detector: images it reconstructs badly are novel.

    ``fit`` trains the autoencoder on normal images only, minimising the mean squared error
    between each image and its reconstruction. The score of an image is minus its
    reconstruction loss (the mean over pixels and channels of the squared error), so, as for
    every scikit-learn outlier detector, higher means more normal. Images scoring below a
    percentile of the training images' scores are predicted novel (the threshold of Richter &
    Roy, *Safe Visual Navigation via Deep Learning and Novelty Detection*, 2017).

    The network is the autoencoder that Feeney & Hughes, *Evaluating the Use of Reconstruction
    Error for Novelty Localization* (2021), use: the MNIST model of LSA (Abati et al. 2019)
    without its density estimator. For 28×28 images it is exactly that model; other sizes and
    colour images get a network built by the same rules (see Notes).

    Parameters
    ----------
    latent_dim : int, default=64
        Length of the code between encoder and decoder (LSA and Feeney & Hughes: 64).
    epochs : int, default=30
        Largest number of passes over the training images.
    batch_size : int, default=128
        Images per optimisation step, and per batch when scoring. At least 2 (batch norm). A
        last training batch of one image is merged into the one before it.
    learning_rate : float, default=1e-3
        Step size of the Adam optimiser.
    validation_fraction : float, default=0.1
        Fraction of the images given to ``fit`` held out, at random, to measure the validation
        loss after every epoch; 0 trains on all of them.
    n_iter_no_change : int or None, default=10
        Stop early when the validation loss (the training loss if ``validation_fraction`` is 0)
        has not improved for this many epochs; None always runs all ``epochs``. With a
        validation set, the weights of the epoch with the lowest validation loss are kept.
    contamination : float, default=0.05
        Fraction of the images given to ``fit`` that :meth:`predict` calls novel: the
        threshold ``offset_`` is this percentile of their scores. In [0, 0.5].
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split and the order of the training
        images. An int gives the same model bit for bit on one machine (with the same torch
        build and number of threads).
    device : str, torch.device or None, default=None
        Where to train, e.g. ``"cpu"`` or ``"cuda"``; None uses a GPU when torch sees one.
        Scoring runs where ``module_`` lives.
    verbose : int, default=0
        If positive, show a progress bar over the epochs on stderr, with the last epoch's
        training and validation loss.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained autoencoder, in eval mode.
    input_shape_ : tuple of int
        (height, width, channels) of the training images; every later input must match.
    loss_curve_ : list of float
        Mean training loss of each epoch (measured during the epoch, in training mode).
    validation_loss_curve_ : list of float
        Validation loss after each epoch (eval mode); empty without a validation set.
    best_epoch_ : int
        Epoch (from 1) whose weights the model has: the one with the lowest validation loss,
        or the last epoch without a validation set.
    n_epochs_ : int
        Number of epochs run.
    offset_ : float
        Threshold on ``score_samples``: the ``100 * contamination`` percentile of the scores of
        the images given to ``fit``. ``decision_function = score_samples - offset_``.

    See Also
    --------
    AutoencoderSaliency : Error map and gradient saliency map of this detector's loss.

    Notes
    -----
    Architecture (Abati et al. 2019; ``k`` = ``latent_dim``). Down-block: [3×3 convolution
    with stride 2, batch norm, LeakyReLU, 3×3 convolution, batch norm] plus a [1×1 stride-2
    convolution, batch norm] shortcut, summed, LeakyReLU. Up-block: the same with a 5×5
    stride-2 transposed convolution and a 1×1 stride-2 transposed shortcut. Convolutions have
    no bias. Encoder: down-blocks, then Linear(64), batch norm, LeakyReLU, Linear(k), sigmoid.
    Decoder: Linear(64), batch norm, LeakyReLU, Linear back to the deepest feature map, batch
    norm, LeakyReLU, up-blocks, 1×1 convolution to the input channels, no output activation.
    For 28×28 images: Down(C→32), Down(32→64), a 64×7×7 deepest map, Up(64→32), Up(32→16);
    about 0.57 million weights for one channel. The 1×1 stride-2 shortcuts are computed as a
    matrix product over the channels of the subsampled (or zero-filled) map: the same layers
    and weights, but not through oneDNN's strided 1×1 convolution kernel, whose backward pass
    corrupts memory with torch 2.14.1 on AVX2 CPUs.

    Other sizes: the network has as many down- and up-blocks as it takes for the deepest map
    to be at most 8 pixels on its longer side (at least two); block ``i`` has
    ``min(32 * 2**i, 256)`` channels and the decoder mirrors them, ending at 16. Images whose
    sides are not multiples of ``2 ** n_blocks`` are padded at the bottom and right by
    repeating their edge pixels and the reconstruction is cropped back, so the loss only
    covers real pixels.

    Training differs from Feeney & Hughes' (Adam, learning rate 1e-2, batch 256, 500 epochs,
    10 % held out) in the defaults only, chosen so that 5 000 MNIST-size images train in a
    few minutes on two CPU cores; set the parameters to theirs to reproduce it. On a machine
    whose cores are busy with other work, one torch thread (``torch.set_num_threads(1)`` or
    ``OMP_NUM_THREADS=1``) can train several times faster than the default of one per core.

    A pickled detector holds its weights as numpy arrays (its ``state_dict``), not a pickled
    torch module; unpickling rebuilds ``module_`` on the CPU, whatever device it was trained on.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.detectors import ConvAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> normal = rng.random((40, 8, 8)) * 0.1
    >>> detector = ConvAutoencoder(epochs=2, random_state=0).fit(normal)
    >>> detector.reconstruct(normal[:3]).shape
    (3, 8, 8)
    >>> detector.predict(np.ones((2, 8, 8)))
    array([-1, -1])
    """

    _parameter_constraints = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
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

    def __init__(
        self,
        *,
        latent_dim=64,
        epochs=30,
        batch_size=128,
        learning_rate=1e-3,
        validation_fraction=0.1,
        n_iter_no_change=10,
        contamination=0.05,
        random_state=None,
        device=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.contamination = contamination
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on normal images and set the threshold ``offset_``.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Normal images, uint8 in [0, 255] or float in [0, 1], C in {1, 3, 4}.
        y : None
            Ignored.

        Returns
        -------
        self : ConvAutoencoder
            The fitted detector.
        """
        torch = import_torch()
        images = check_image_array(X)
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        train, validation = validation_split(
            len(images), self.validation_fraction, rng, name="X", min_train=2
        )

        from sknovel.detectors._lsa import LSAAutoencoder

        self.input_shape_ = tuple(int(v) for v in images.shape[1:])
        self._network_config = {"input_shape": self.input_shape_, "latent_dim": self.latent_dim}
        with torch.random.fork_rng(devices=[]):  # seed the initialisation, not torch's state
            torch.manual_seed(torch_seed(rng))
            module = LSAAutoencoder(**self._network_config)
        self.module_ = module.to(device)
        self._train(images, train, validation, rng)
        self.module_.eval()
        scores = self._scores(images)
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                f"Training diverged: the reconstruction loss is not finite after "
                f"{self.n_epochs_} epochs; lower learning_rate (now {self.learning_rate})."
            )
        self.offset_ = float(np.percentile(scores, 100 * self.contamination))
        return self

    def _train(self, images, train, validation, rng):
        torch = import_torch()
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate)
        self.loss_curve_, self.validation_loss_curve_ = [], []
        stopping = EarlyStopping(self.module_, self.n_iter_no_change, keep_best=len(validation) > 0)
        with progress_bar(
            self.epochs, "ConvAutoencoder.fit", unit="epoch", verbose=self.verbose
        ) as bar:
            for epoch in range(1, self.epochs + 1):
                self.loss_curve_.append(self._train_epoch(images, train, optimizer, rng))
                if len(validation):
                    self.module_.eval()
                    loss = float(-self._scores(images[validation]).mean())
                    self.validation_loss_curve_.append(loss)
                validation_loss = self.validation_loss_curve_[-1] if len(validation) else None
                bar.set_postfix(_epoch_losses(self.loss_curve_[-1], validation_loss), refresh=False)
                bar.update(1)
                monitored = self.loss_curve_[-1] if validation_loss is None else validation_loss
                if stopping.update(epoch, monitored):
                    break
        self.n_epochs_ = epoch
        optimizer.zero_grad(set_to_none=True)  # the gradients are of no use after training
        self.best_epoch_ = stopping.restore(epoch)

    def _train_epoch(self, images, train, optimizer, rng):
        """One pass over the training images in a random order; return the mean loss."""
        self.module_.train()
        total = 0.0
        for batch in training_batches(rng.permutation(train), self.batch_size):
            x = self._tensor(images[batch])
            optimizer.zero_grad(set_to_none=True)
            loss = per_image_loss(self.module_(x), x).mean()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        return total / len(train)

    def _tensor(self, batch):
        """(b, H, W, C) uint8 or float images → float tensor (b, C, H, W) for ``module_``."""
        if batch.dtype == np.uint8:
            batch = to_unit_float(batch)  # float input keeps its precision (see below)
        parameter = next(self.module_.parameters())
        if parameter.dtype == import_torch().float32:
            return images_to_tensor(batch, parameter.device)
        # A model switched to another precision (float64 for exact gradients) gets the input
        # in that precision, not rounded to float32 first.
        channels_first = np.ascontiguousarray(np.moveaxis(batch, -1, 1))
        return import_torch().as_tensor(channels_first).to(parameter.device, parameter.dtype)

    def _check_images(self, X):
        """Validate X against the fitted shape; return it as (n, H, W, C)."""
        check_is_fitted(self)
        images = check_image_array(X)
        if images.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has images of shape {images.shape[1:]} (height, width, channels), but "
                f"ConvAutoencoder was fitted on {self.input_shape_}."
            )
        return images

    def _batches(self, images):
        for start in range(0, len(images), self.batch_size):
            yield self._tensor(images[start : start + self.batch_size])

    def _scores(self, images):
        torch = import_torch()
        with torch.no_grad():
            losses = [per_image_loss(self.module_(x), x) for x in self._batches(images)]
        return -torch.cat(losses).double().cpu().numpy()

    def score_samples(self, X):
        """Minus the reconstruction loss of each image: higher means more normal.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the fitted shape.

        Returns
        -------
        scores : ndarray of shape (n,), float64
            ``-mean((x - reconstruction(x)) ** 2)`` over the pixels and channels of each image.
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

    def reconstruct(self, X):
        """The autoencoder's reconstruction of each image, shaped like the input.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the fitted shape.

        Returns
        -------
        reconstructions : ndarray of the shape of `X`, float32
            On the [0, 1] scale of the images; not clipped (the decoder has no output
            activation, so values may stray slightly outside [0, 1]).
        """
        torch = import_torch()
        images = self._check_images(X)
        self.module_.eval()
        with torch.no_grad():
            parts = [tensor_to_images(self.module_(x)) for x in self._batches(images)]
        return np.concatenate(parts).reshape(np.shape(X))

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
            Minus each image's reconstruction loss, on the device and in the float dtype of
            `x` (the loss is computed on the model's device and in its precision).
        """
        check_is_fitted(self)
        inputs = self._module_input(x)
        scores = -per_image_loss(self.module_.eval()(inputs), inputs)
        return scores.to(x.device, x.dtype)

    def torch_reconstruct(self, x):
        """:meth:`reconstruct` of a torch batch, differentiable with respect to `x`.

        Part of the detector protocol for reconstruction-based detectors (used by
        :class:`~sknovel.explain.AutoencoderSaliency` for its error maps).

        Parameters
        ----------
        x : torch.Tensor of shape (b, C, H, W)
            Float pixels in [0, 1], channels first, of the fitted (H, W, C); on any device.

        Returns
        -------
        reconstructions : torch.Tensor of shape (b, C, H, W)
            On the device and in the float dtype of `x`.
        """
        check_is_fitted(self)
        return self.module_.eval()(self._module_input(x)).to(x.device, x.dtype)

    def _module_input(self, x):
        """`x` on the model's device and in its precision."""
        parameter = next(self.module_.parameters())
        return x.to(parameter.device, parameter.dtype)

    def _build_modules(self):
        from sknovel.detectors._lsa import LSAAutoencoder

        return {"module_": LSAAutoencoder(**self._network_config)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags


def _epoch_losses(loss, validation_loss):
    """The losses of an epoch, for the progress bar (the validation loss when there is one)."""
    losses = {"loss": f"{loss:.5g}"}
    if validation_loss is not None:
        losses["validation_loss"] = f"{validation_loss:.5g}"
    return losses


def per_image_loss(reconstruction, x):
    """Mean squared error of each image over its pixels and channels: tensor (n,)."""
    return (reconstruction - x).pow(2).flatten(1).mean(1)
