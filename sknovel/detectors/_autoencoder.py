"""A convolutional autoencoder as a scikit-learn outlier detector on images."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral
from typing import NamedTuple

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sknovel.detectors._base import TorchImageDetector
from sknovel.utils.tensors import import_torch, tensor_to_images
from sknovel.utils.training import training_batches, validation_split


class ConvAutoencoder(TorchImageDetector):
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
        Fraction of new normal images that :meth:`predict` should call novel: the threshold
        ``offset_`` is this percentile of the scores of the held-out validation images when
        there are at least 20 of them, else of the images given to ``fit``. In [0, 0.5].
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
        Threshold on ``score_samples``: the ``100 * contamination`` percentile of
        ``validation_scores_`` when it holds at least 20 scores, else of the scores of
        the images given to ``fit``. ``decision_function = score_samples - offset_``. The
        network fits its training images better than new ones: on half the MNIST test
        zeros, a threshold at the 5th percentile of the training scores called 39 % and 49 %
        of the other zeros novel (two seeds), one on the validation scores 10 % and 9 %
        (see the user guide).
    validation_scores_ : ndarray of shape (n_validation,)
        ``score_samples`` of the held-out images (``validation_fraction``), which the
        network did not train on, after training: how new normal images score. A network
        fits its training images better than new ones, so these are usually lower than the
        training images' scores; :class:`~sknovel.explain.CounterfactualExplainer` takes its
        typical target score from them. Empty when ``validation_fraction`` is 0.

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
        **TorchImageDetector._parameter_constraints,
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
        return self._fit(X, y)

    def _training_data(self, images, y, rng):
        train, validation = validation_split(
            len(images), self.validation_fraction, rng, name="X", min_train=2
        )
        return _Split(images, train, validation), images

    def _network_config_for(self, input_shape):
        return {"input_shape": input_shape, "latent_dim": self.latent_dim}

    def _new_network(self):
        from sknovel.detectors._lsa import LSAAutoencoder

        return LSAAutoencoder(**self._network_config)

    def _train_epoch(self, split, optimizer, rng):
        """One pass over the training images in a random order; return the mean loss."""
        self.module_.train()
        total = 0.0
        for batch in training_batches(rng.permutation(split.train), self.batch_size):
            x = self._tensor(split.images[batch])
            optimizer.zero_grad(set_to_none=True)
            loss = per_image_loss(self.module_(x), x).mean()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        return total / len(split.train)

    def _validation_loss(self, split):
        return float(-self._scores(split.images[split.validation]).mean())

    def _batch_scores(self, x):
        return -per_image_loss(self.module_(x), x)

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


class _Split(NamedTuple):
    """The training images and which of them train and which validate."""

    images: np.ndarray
    train: np.ndarray
    validation: np.ndarray

    @property
    def has_validation(self):
        return len(self.validation) > 0

    @property
    def validation_normal(self):
        return self.images[self.validation]


def per_image_loss(reconstruction, x):
    """Mean squared error of each image over its pixels and channels: tensor (n,)."""
    return (reconstruction - x).pow(2).flatten(1).mean(1)
