"""A small CNN trained with outlier exposure (hypersphere classifier) as an outlier detector."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import math
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval

from sknovel.detectors._base import TorchImageDetector
from sknovel.utils.corruptions import corrupt
from sknovel.utils.images import to_unit_float
from sknovel.utils.labels import check_outlier_labels
from sknovel.utils.tensors import import_torch
from sknovel.utils.training import training_batches, validation_split

#: Added inside the logarithm of the outlier loss, as in Ruff et al.'s code: it bounds the
#: loss and its gradient when an outlier is mapped onto the centre.
LOG_EPSILON = 1e-6
#: Channels of the convolution blocks (eoe's CNN28: 16, 32; a third block for large images).
BLOCK_CHANNELS = (16, 32, 64)
#: Width of the hidden fully connected layer.
HIDDEN_FEATURES = 64
#: The last feature map is average-pooled to at most this many pixels on each side.
DEEPEST_SIZE = 8


class OutlierExposureDetector(TorchImageDetector):
    """One-class CNN trained with outlier exposure: images mapped far from the centre are novel.

    A small convolutional network φ maps each image to a vector; ``fit`` trains it with the
    hypersphere classifier (HSC) loss of Ruff et al., *Rethinking Assumptions in Deep
    Anomaly Detection* (2021), to map normal images near the origin and *auxiliary
    outliers* -- images known not to be normal -- far from it (outlier exposure, Hendrycks
    et al. 2019). The score of an image is ``-||φ(x)||²``, at most 0, so, as for every
    scikit-learn outlier detector, higher means more normal; ``exp(score)`` is the HSC's
    probability that the image is normal. This is the kind of detector that Liznerski,
    Varshneya, Calikus et al., *Reimagining Anomalies* (2024), explain with counterfactuals
    (:class:`~sknovel.explain.CounterfactualExplainer`).

    The outliers are either given -- images of other classes or another data set, labelled
    -1 in ``y`` -- or, with ``fit(X)``, made afresh in every epoch by corrupting the normal
    images (rotations, mirror images, overlays, strokes, pasted patches: see
    :mod:`sknovel.utils.corruptions`).

    Parameters
    ----------
    rep_dim : int, default=32
        Length of the vector φ(x) (eoe's MNIST network: 32).
    epochs : int, default=30
        Largest number of passes over the normal training images.
    batch_size : int, default=128
        Normal images per optimisation step, each step also taking as many outliers; and
        images per batch when scoring. At least 2 (batch norm). A last training batch of one
        image is merged into the one before it.
    learning_rate : float, default=1e-3
        Step size of the Adam optimiser.
    validation_fraction : float, default=0.1
        Fraction of the normal images, and of the given outliers, held out at random to
        measure the validation loss after every epoch (pseudo-anomalies of held-out normal
        images are made once); 0 trains on all of them.
    n_iter_no_change : int or None, default=10
        Stop early when the validation loss (the training loss if ``validation_fraction`` is
        0) has not improved for this many epochs; None always runs all ``epochs``. With a
        validation set, the weights of the epoch with the lowest validation loss are kept.
    contamination : float, default=0.05
        Fraction of new normal images that :meth:`predict` should call novel: the threshold
        ``offset_`` is this percentile of the scores of the held-out validation images when
        there are at least 20 of them, else of the normal images given to ``fit``. In [0, 0.5].
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split, the order of the training
        images, the outliers drawn for each step and the corruptions. An int gives the same
        model bit for bit on one machine (with the same torch build and number of threads).
    device : str, torch.device or None, default=None
        Where to train, e.g. ``"cpu"`` or ``"cuda"``; None uses a GPU when torch sees one.
        Scoring runs where ``module_`` lives.
    verbose : int, default=0
        If positive, show a progress bar over the epochs on stderr, with the last epoch's
        training and validation loss.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network φ, in eval mode.
    input_shape_ : tuple of int
        (height, width, channels) of the training images; every later input must match.
    n_normal_ : int
        Normal images given to ``fit`` (labelled 1, or all of them without ``y``).
    n_outliers_ : int
        Outliers given to ``fit`` (labelled -1); 0 when pseudo-anomalies were used.
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
        the normal images given to ``fit``. ``decision_function = score_samples - offset_``. The
        network fits its training images better than new ones: on half the MNIST test
        zeros, a threshold at the 5th percentile of the training scores called 39 % and 49 %
        of the other zeros novel (two seeds), one on the validation scores 10 % and 9 %
        (see the user guide).
    validation_scores_ : ndarray of shape (n_validation,)
        ``score_samples`` of the held-out normal images (``validation_fraction``), which the
        network did not train on, after training: how new normal images score. A network
        fits its training images better than new ones, so these are usually lower than the
        training images' scores; :class:`~sknovel.explain.CounterfactualExplainer` takes its
        typical target score from them. Empty when ``validation_fraction`` is 0.

    See Also
    --------
    ConvAutoencoder : Detector trained on normal images only, scoring by reconstruction.
    sknovel.explain.CounterfactualExplainer : What an anomaly would look like if normal.

    Notes
    -----
    **Loss.** With d(x) = ||φ(x)||² and y = 1 for an outlier, the HSC loss is
    ``l(x, y) = -(1 - y) log exp(-d) - y log(1 - exp(-d)) = (1 - y) d - y log(1 - exp(-d))``:
    exp(-d) is the probability that x is normal, so this is the binary cross-entropy of a
    classifier whose decision boundary is a sphere around the origin. Each step takes a batch
    of normal images and as many outliers, and minimises the mean loss of both halves
    (``LOG_EPSILON`` = 1e-6 is added inside the logarithm, as in the authors' code). Ruff et
    al.'s and eoe's code use the pseudo-Huber distance ``sqrt(d + 1) - 1`` in place of d;
    the squared norm keeps the score in the form ``-d``, which
    :class:`~sknovel.explain.CounterfactualExplainer` maps to ``1 - exp(-d / s)`` -- the
    HSC's own anomaly probability, rescaled so that ``offset_`` lands on 0.5.

    **Network.** eoe's MNIST network (Liznerski et al.'s code for *Exposing Outlier
    Exposure*, 2022), the family the counterfactual paper explains: blocks of a 5×5
    convolution without bias, batch norm, LeakyReLU and 2×2 max-pooling -- 16 and 32
    channels, a third block of 64 for images larger than 32 pixels on a side -- then, if the
    last map is larger than 8×8, average pooling to at most 8×8, and Linear(64), batch norm,
    LeakyReLU, Linear(``rep_dim``), all without bias. For 28×28 grey images that is about
    0.12 million weights. Sides that do not halve evenly are rounded up by the pooling.

    Training differs from eoe's (200 epochs, milestones at 100 and 150, EMNIST as outliers)
    in the defaults only, chosen so that a few thousand MNIST-size images train in about a
    minute on two CPU cores. On a machine whose cores are busy with other work, one torch
    thread (``torch.set_num_threads(1)``) can train several times faster than one per core.

    A pickled detector holds its weights as numpy arrays (its ``state_dict``); unpickling
    rebuilds ``module_`` on the CPU, whatever device it was trained on.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.detectors import OutlierExposureDetector
    >>> rng = np.random.default_rng(0)
    >>> normal = rng.random((40, 8, 8)) * 0.3
    >>> outliers = 0.7 + rng.random((40, 8, 8)) * 0.3
    >>> X, y = np.concatenate([normal, outliers]), np.r_[np.ones(40), -np.ones(40)]
    >>> detector = OutlierExposureDetector(epochs=5, random_state=0).fit(X, y)
    >>> detector.predict(np.full((2, 8, 8), 0.9))
    array([-1, -1])
    """

    _parameter_constraints = {
        "rep_dim": [Interval(Integral, 1, None, closed="left")],
        **TorchImageDetector._parameter_constraints,
    }

    def __init__(
        self,
        *,
        rep_dim=32,
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
        self.rep_dim = rep_dim
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
        """Train φ on normal images against outliers, and set the threshold ``offset_``.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Normal images and, optionally, auxiliary outliers; uint8 in [0, 255] or float in
            [0, 1], C in {1, 3, 4}.
        y : array-like of shape (n,), default=None
            1 for a normal image, -1 for an outlier (what scikit-learn's outlier detectors'
            ``predict`` returns). None: all images are normal. When no image is labelled -1,
            the outliers are pseudo-anomalies: a fresh random corruption of the normal
            images in every epoch.

        Returns
        -------
        self : OutlierExposureDetector
            The fitted detector.
        """
        return self._fit(X, y)

    def _training_data(self, images, y, rng):
        images = to_unit_float(images)
        labels = check_outlier_labels(y, len(images), outlier_name="outlier", min_normal=2)
        normal, outliers = images[labels == 1], images[labels == -1]
        self.n_normal_, self.n_outliers_ = len(normal), len(outliers)
        return _Splits(normal, outliers, self.validation_fraction, rng), normal

    def _network_config_for(self, input_shape):
        return {"input_shape": input_shape, "rep_dim": self.rep_dim}

    def _new_network(self):
        return hsc_network(**self._network_config)

    def _train_epoch(self, splits, optimizer, rng):
        """One pass over the normal training images, each batch with as many outliers."""
        self.module_.train()
        total, n_seen = 0.0, 0
        for batch in training_batches(rng.permutation(len(splits.train_normal)), self.batch_size):
            normal = splits.train_normal[batch]
            outliers = splits.draw_outliers(normal, rng)
            distances = self._distances(self._tensor(np.concatenate([normal, outliers])))
            loss = hsc_loss(distances[: len(normal)], distances[len(normal) :])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            n_seen += len(batch)
        return total / n_seen

    def _validation_loss(self, splits):
        torch = import_torch()
        normal = torch.as_tensor(-self._scores(splits.validation_normal))
        outliers = torch.as_tensor(-self._scores(splits.validation_outliers))
        return float(hsc_loss(normal, outliers))

    def _distances(self, x):
        """d(x) = ||φ(x)||² of a (b, C, H, W) batch on the model's device: tensor (b,)."""
        return self.module_(x).pow(2).sum(1)

    def _batch_scores(self, x):
        return -self._distances(x)


class _Splits:
    """Training and validation images, and the outliers each training step gets.

    With given outliers, each step draws as many as it has normal images, at random with
    replacement; without, it corrupts its normal images (a fresh corruption every epoch).
    The validation outliers are the held-out given ones, or one fixed corruption of the
    held-out normal images.
    """

    def __init__(self, normal, outliers, fraction, rng):
        train, validation = validation_split(len(normal), fraction, rng, name="X", min_train=2)
        self.train_normal, self.validation_normal = normal[train], normal[validation]
        self.pseudo = len(outliers) == 0
        if self.pseudo:
            self.train_outliers = None
            self.validation_outliers = corrupt(self.validation_normal, rng)[0]
        else:
            train, validation = validation_split(
                len(outliers), fraction, rng, name="the outliers (labelled -1 in y)", min_train=1
            )
            self.train_outliers, self.validation_outliers = outliers[train], outliers[validation]
        self.has_validation = len(self.validation_normal) > 0 and len(self.validation_outliers) > 0

    def draw_outliers(self, normal, rng):
        if self.pseudo:
            return corrupt(normal, rng)[0]
        return self.train_outliers[rng.randint(len(self.train_outliers), size=len(normal))]


def hsc_loss(normal_distances, outlier_distances):
    """Mean HSC loss of both halves: mean(d) of normal images, mean(-log(1 - exp(-d))) of outliers.

    Parameters
    ----------
    normal_distances, outlier_distances : torch.Tensor of shape (n,) and (m,)
        d = ||φ(x)||² of normal images and of outliers.

    Returns
    -------
    loss : torch.Tensor, scalar
        The average of the two means (the HSC loss of a batch with as many of each).
    """
    torch = import_torch()
    outlier_loss = -torch.log(-torch.expm1(-outlier_distances) + LOG_EPSILON)
    return (normal_distances.mean() + outlier_loss.mean()) / 2


def hsc_network(input_shape, rep_dim):
    """φ for images of (height, width, channels) `input_shape`: a torch.nn.Sequential.

    Convolution blocks (5×5, no bias, batch norm, LeakyReLU, 2×2 max-pool rounding up): two
    for images at most 32 pixels on a side, else three; average pooling to at most 8×8;
    Linear(64), batch norm, LeakyReLU, Linear(`rep_dim`); no biases (see the class Notes).
    """
    nn = import_torch().nn
    height, width, channels = input_shape
    n_blocks = 2 if max(height, width) <= 32 else 3
    layers = []
    for out_channels in BLOCK_CHANNELS[:n_blocks]:
        layers += [
            nn.Conv2d(channels, out_channels, 5, padding=2, bias=False),
            nn.BatchNorm2d(out_channels, affine=False),
            nn.LeakyReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
        ]
        channels = out_channels
        height, width = math.ceil(height / 2), math.ceil(width / 2)
    if max(height, width) > DEEPEST_SIZE:
        height, width = min(height, DEEPEST_SIZE), min(width, DEEPEST_SIZE)
        layers.append(nn.AdaptiveAvgPool2d((height, width)))
    layers += [
        nn.Flatten(),
        nn.Linear(channels * height * width, HIDDEN_FEATURES, bias=False),
        nn.BatchNorm1d(HIDDEN_FEATURES, affine=False),
        nn.LeakyReLU(),
        nn.Linear(HIDDEN_FEATURES, rep_dim, bias=False),
    ]
    return nn.Sequential(*layers)
