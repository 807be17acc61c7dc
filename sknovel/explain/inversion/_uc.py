"""Turn features back into images with an up-convolutional decoder (UC inversion)."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from sknovel.explain._base import BaseExplainer
from sknovel.features.inputs import featurizer_files_mode, featurizer_input_size
from sknovel.utils.heap import heap_slack
from sknovel.utils.images import (
    check_image_array,
    files_mode,
    image_estimator_tags,
    is_path_sequence,
    iter_image_batches,
    load_image,
    to_unit_float,
)
from sknovel.utils.progress import progress_bar
from sknovel.utils.tensors import (
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
from sknovel.utils.weights import read_weights_file

#: How :meth:`UCInverter.explain` turns a residual into the decoder's input.
RESIDUAL_SHIFTS = ("training_mean", "item_mean", "none")
#: Features whose standard deviation is below this are only centred, not scaled.
MIN_SCALE = 1e-6
#: Images of an array mirrored and featurized at a time when ``augment=True``.
MIRROR_CHUNK = 512
#: Default weights of the DeePSiM comparator and adversarial losses (see ``UCInverter``).
FEATURE_WEIGHT = 0.0
ADVERSARIAL_WEIGHT = 0.0
#: The decoder shipped with the package (``pretrained=True``): what it was trained for.
PRETRAINED_FILE = "weights/uc_efficientnet_lite0_pool_64px-21929fc0.pt"
#: Default `width` of a decoder trained from scratch, and that of the shipped decoder.
DEFAULT_WIDTH = 256
PRETRAINED_WIDTH = 128
#: Training images whose comparator features set the scale of the comparator loss.
REFERENCE_IMAGES = 256


class UCInverter(NumpyModulePickleMixin, BaseExplainer):
    """Invert CNN features into images with an up-convolutional decoder.

    Lee, Wagstaff et al. (2018) show *why* DEMUD picked an image by turning three feature
    vectors back into pictures: the pick's features x, the part x̂ its model expected, and the
    novel part e = x − x̂. The inverter is the up-convolutional (UC) network of Dosovitskiy &
    Brox (2016): fully connected layers, a 4×4 map, and stride-2 up-convolutions to the image
    size, trained to minimise the pixel error between an image and the decoding of its
    features.

    The paper's decoders learnt from 1.2 million ImageNet images. Trained on a few thousand,
    a decoder reproduces the images it learnt from but not unseen ones (see Notes), so the
    intended use is *transductive*: fit it on the collection being explained (or on any larger
    set that contains it), then invert that collection's picks.

    Like :class:`~sknovel.explain.NoveltyMap`, it wraps a featurizer and the ranker fitted on
    its features, and has one verb, :meth:`explain`: with a `ranker`, the pictures of its
    picks (each pick, its expected part and its novel part); without one, the decoding of
    each image's own features.

    Parameters
    ----------
    featurizer : transformer
        What made the features, e.g. :class:`~sknovel.features.CNNFeaturizer`. If it is
        already fitted it is used as it is (its feature space is the one being explained);
        otherwise a clone is fitted on the images given to :meth:`fit`.
    ranker : fitted Demud or SVDRanker, or None, default=None
        The ranker whose picks :meth:`explain` draws, fitted on the featurizer's features of
        the collection (``featurizer.transform(X)``), as for
        :class:`~sknovel.explain.NoveltyMap`. None: :meth:`explain` decodes the images' own
        features.
    image_size : int, default=64
        Side of the decoded (square) images: a power of two in [8, 256]. Training images are
        fitted to it by the package's resize policy (scaled, aspect ratio kept, to cover the
        square, then centre-cropped; see :func:`sknovel.utils.images.fit_to_size`).
    width : int or None, default=None
        Capacity of the decoder: channels of its 4×4 map (halved by every up-convolution,
        at least 16); its fully connected layers have ``4 * width`` units. None: 128 with
        `pretrained` (the shipped decoder's width), else 256.
    epochs : int, default=60
        Largest number of passes over the training images; 0 (only with `pretrained`) uses
        the shipped decoder as it is.
    batch_size : int, default=64
        Images per optimisation step, and per batch when decoding.
    learning_rate : float, default=1e-3
        Initial step size of the Adam optimiser; it decays to zero along a cosine over
        `epochs`.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW) of the decoder's weights.
    feature_weight : float, default=0.0
        Weight of DeePSiM's feature loss (Dosovitskiy & Brox 2016): the squared error
        between a fixed comparator network's features of the decoded and of the true image
        (EfficientNet-Lite0 up to ``_blocks.4``, at the decoded size), relative to the mean
        square of real images' comparator features. It asks for the true image's edges and
        textures where the pixel loss alone settles for their blurred mean. 0 (the default)
        leaves it out: in our measurements at CPU-sized budgets it made decodings less
        identifiable (see Notes).
    adversarial_weight : float, default=0.0
        Weight of DeePSiM's adversarial loss: a discriminator, trained in turn with the
        decoder (hinge loss, spectral normalisation), judges whether an image is real and
        shows the given features; the decoder is rewarded for fooling it. 0 (the default)
        leaves it out; with both weights 0 the loss is the plain pixel loss.
    pretrained : bool, default=False
        Start from the decoder that ships with sknovel, trained on the shared image sets
        (Imagenette, Mars rover, MNIST, Fashion-MNIST images; see Notes) for the default
        ``CNNFeaturizer()`` at ``image_size=64``, ``width=128``: it inverts a new
        collection's features without training (``epochs=0``), and `epochs` fine-tune it
        on the images given to :meth:`fit`. The features are standardised as in its
        training. Needs ``featurizer=CNNFeaturizer()`` with its default network, layer,
        weights and input size; greyscale collections get a grey decoder (the mean of its
        colour outputs).
    validation_fraction : float, default=0.0
        Fraction of the images held out at random to measure the validation loss after each
        epoch, a measure of how well the decoder generalises; 0 trains on all of them. The
        default is 0 because the intended use is transductive: held-out images are not
        learnt, so their inversions (and those of picks among them) are poor.
    n_iter_no_change : int or None, default=None
        Stop when the monitored loss (validation loss, or training loss without a validation
        set) has not improved for this many epochs, and keep the weights of the best epoch.
        None runs all `epochs` and keeps the last weights: in transductive use a decoder
        that fits its training images closely is what is wanted.
    augment : bool, default=False
        Also train on the left-right mirror image of every training image. Their features
        are computed once, before training, so featurizing and every epoch take twice as
        long. It helps with spatial feature maps (e.g. ``CNNFeaturizer(layer="_blocks.15")``),
        which change when an image is mirrored; it hurts with globally pooled features, which
        barely do, so that the decoder learns a symmetric blend of an image and its mirror.
        Image files are mirrored after being fitted to the size the featurizer brings them
        to (:func:`sknovel.features.inputs.featurizer_input_size`), so files of mixed
        sizes are featurized in batches; when that size is unknown, files of one size are
        featurized together.
    residual_shift : {"training_mean", "item_mean", "none"}, default="training_mean"
        What the decoder is given for a pick's novel part e = x − x̂ in :meth:`explain`; a
        residual alone lies far from the features the decoder learnt from.
        ``"training_mean"`` adds it to the mean training features, ``feature_mean_ + e``:
        the average image plus the novelty. ``"item_mean"`` is Lee & Wagstaff's treatment
        (DMKD 2020): a constant shift that gives it the mean (over the features) of the
        pick, ``e - mean(e) + mean(x)``. ``"none"`` decodes e as it is. See Notes for why
        the default is ``"training_mean"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split and the order of the images.
        An int gives the same decoder bit for bit on one machine (same torch build and
        number of threads).
    device : str, torch.device or None, default=None
        Where to train and decode; None uses a GPU when torch sees one.
    verbose : int, default=0
        If positive, show a progress bar over the epochs of :meth:`fit` on stderr, with the
        last training (and validation) loss.

    Attributes
    ----------
    featurizer_ : transformer
        The fitted featurizer (`featurizer` itself if it was fitted).
    module_ : torch.nn.Module
        The trained decoder, in eval mode. Its input is standardised features.
    n_features_in_ : int
        Width of the features it inverts.
    feature_mean_ : ndarray of shape (``n_features_in_``,)
        Mean of the training features (including mirrored images when `augment`).
    feature_scale_ : ndarray of shape (``n_features_in_``,)
        Their standard deviation (1 where it is below 1e-6); the decoder sees
        ``(features - feature_mean_) / feature_scale_``.
    image_shape_ : tuple of int
        (image_size, image_size, channels) of the decoded images.
    mean_image_ : ndarray of shape ``image_shape_``
        Mean of the training images at the decoded size: the baseline of
        :func:`~sknovel.metrics.inversion_mse_ratio`.
    loss_curve_ : list of float
        Mean training loss of each epoch: the pixel mean squared error plus the weighted
        feature and adversarial terms.
    validation_loss_curve_ : list of float
        Validation loss (pixel mean squared error) after each epoch; empty without a
        validation set.
    train_indices_ : ndarray of int
        Rows of the images given to :meth:`fit` that the decoder was trained on.
    validation_indices_ : ndarray of int
        Rows held out for validation.
    n_epochs_ : int
        Epochs run.
    best_epoch_ : int
        Epoch whose weights the decoder has.

    See Also
    --------
    sknovel.metrics.inversion_identification_rate : How often a decoding is nearest its source.
    sknovel.metrics.inversion_mse_ratio : Pixel error relative to the mean image.

    Notes
    -----
    Architecture (``w`` = `width`): Linear(d, 4w), Linear(4w, 4w), Linear(4w, 16w), each
    followed by a leaky ReLU (slope 0.2); reshape to w×4×4; per doubling of the size a 4×4
    stride-2 transposed convolution and a 3×3 convolution, each with a leaky ReLU; a 3×3
    convolution to the colour channels and a sigmoid. The loss is the mean squared pixel
    error; Adam (AdamW) with a cosine learning-rate decay. Features are standardised first.

    Quality, measured with ``benchmarks/uc_training.py`` on the 1 500 Imagenette images at
    64 px, 1 350 trained on and 150 held out, default parameters. "Identified" is how often
    a decoded image is nearest (pixel MSE) its own source among 100 candidates (chance 1 %);
    "MSE" is its pixel error over that of the mean training image.

    * ``CNNFeaturizer()`` (EfficientNet-Lite0, pooled, 1 280 features): training images
      97 % identified, MSE 0.22; held-out images 8 %, MSE 0.95. Fit in 4.5 minutes on
      2 CPU cores (30 s featurizing, 4 min training).
    * ``CNNFeaturizer(layer="_blocks.15")`` (7×7×320 map) with ``augment=True``: training
      images 99.9 % identified, MSE 0.14; held-out images 30 %, MSE 0.66. Fit in 13 minutes
      (features of 15 680 values, twice the images).

    A decoder trained on so few images reproduces the images it learnt from, not unseen
    ones: fit it on the images whose features it is to invert. Spatial feature maps
    generalise better than pooled features. What the defaults rest on (1 400 images,
    100 held out, 30 epochs): standardising the features raised the identification of
    training images from 36 % to 80 %; 60 epochs instead of 30 to 99 % (MSE 0.33 → 0.19);
    mirror augmentation lowered it to 68 % on pooled features but raised it from 82 % to
    96 % (held out: 14 % → 19 %) on the 4×4 ``_blocks.15`` map at ``crop_size=128``.
    Gaussian noise on the input features did not help; a feature loss through the CNN
    (making the decoded image's features match) traded pixel fidelity for feature
    fidelity (identification 83 % → 17 % at a weight that made re-featurised decodings
    identifiable in 38 % of cases instead of 1 %).

    The DeePSiM recipe (`feature_weight`, `adversarial_weight`) at CPU-sized budgets,
    measured with ``benchmarks/uc_training.py --n-images 300 --width 128 --epochs 40`` (270
    Imagenette images trained on, one run each; "sharpness" is the mean difference between
    neighbouring pixels of the decodings over that of their sources, 1 for decodings as
    detailed as real images): the pixel loss identified 43 % (MSE 0.46, sharpness 0.18)
    in 101 s; ``feature_weight=0.01, adversarial_weight=1e-4`` 31 % (0.50, 0.21) in 333 s;
    ``feature_weight=0.1, adversarial_weight=1e-3`` 9 % (0.76, 0.32, the extra detail a
    checkerboard pattern of the up-convolutions rather than the image's) in 306 s.
    Dosovitskiy & Brox trained for days on 1.2 million images; in minutes on a few hundred
    the extra terms cost three times the time and cost fidelity, so the default is the
    pixel loss and the recipe an option.

    The shipped decoder (`pretrained`, width 128) was trained with
    ``benchmarks/pretrain_decoder.py`` for 35 minutes on 2 CPU cores (pixel loss) on the
    shared sets, holding out the Mars rover images of the original ``val`` split (622,
    other sols), 150 Imagenette and 500 each of MNIST and Fashion-MNIST test images. On
    its training images 73 % (MSL, Imagenette) and 64-67 % (MNIST, Fashion-MNIST) are
    identified among 100; on the held-out ones 12 % (MSL; MSE 0.91 of the mean image's),
    8 % (Imagenette; 1.00), 55 % (MNIST; 0.53) and 42 % (Fashion-MNIST; 0.32). Pooled
    features of a few thousand images do not generalise to unseen colour photographs:
    fine-tune it on the collection (`epochs`), which starts from a decoder that already
    draws: on the 622 held-out Mars images, 30 epochs of fine-tuning identified 85 % of the
    559 trained on (MSE 0.12), 30 epochs from scratch at the same width 57 % (MSE 0.22), in
    about the same time (``benchmarks/uc_training.py --dataset msl_v1_96px.npz --split val
    --n-images 622 --epochs 30 --pretrained``, or ``--width 128`` for the other); 100 epochs
    of fine-tuning (4 minutes on an idle machine) 92 % (MSE 0.06).

    The default ``residual_shift="training_mean"`` was chosen by measurement on DEMUD's
    first 50 picks over the pooled features: the decoded novel part is nearest its own pick
    among the 50 picks' images in 78 % of cases, against 64 % for ``"item_mean"`` and 60 %
    for ``"none"`` (chance 2 %; the decoded expected part: 2 %: these picks are novel
    through and through). Its input is also about as far from the training features as the
    picks' own features are (root mean square of the standardised features 1.35, picks
    1.32, ``"item_mean"`` 1.60). Over the ``_blocks.15`` map the three treatments do equally
    well (84–86 %).

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel import Demud
    >>> from sknovel.explain import UCInverter
    >>> from sknovel.features import PixelFeaturizer
    >>> images = np.random.default_rng(0).random((32, 8, 8, 3)).astype(np.float32)
    >>> pixels = PixelFeaturizer().fit(images)
    >>> features = pixels.transform(images)
    >>> demud = Demud(2, n_selections=4).fit(features)
    >>> inverter = UCInverter(pixels, demud, image_size=8, width=16, epochs=2,
    ...                       random_state=0).fit(images, features=features)
    >>> pictures = inverter.explain(images, [0, 1], features=features)
    >>> pictures.novel.shape
    (2, 8, 8, 3)
    >>> inverter.inverse_transform(features[:3]).shape
    (3, 8, 8, 3)
    """

    _parameter_constraints = {
        "featurizer": [HasMethods(["fit", "transform"])],
        "ranker": [HasMethods(["fit", "explain"]), None],
        "image_size": [Interval(Integral, 8, 256, closed="both")],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "feature_weight": [Interval(Real, 0, None, closed="left")],
        "adversarial_weight": [Interval(Real, 0, None, closed="left")],
        "pretrained": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "augment": ["boolean"],
        "residual_shift": [StrOptions(set(RESIDUAL_SHIFTS))],
        "random_state": ["random_state"],
        "device": "no_validation",  # checked by resolve_device, which names the parameter
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        featurizer,
        ranker=None,
        *,
        image_size=64,
        width=None,
        epochs=60,
        batch_size=64,
        learning_rate=1e-3,
        weight_decay=0.0,
        feature_weight=FEATURE_WEIGHT,
        adversarial_weight=ADVERSARIAL_WEIGHT,
        pretrained=False,
        validation_fraction=0.0,
        n_iter_no_change=None,
        augment=False,
        residual_shift="training_mean",
        random_state=None,
        device=None,
        verbose=0,
    ):
        self.featurizer = featurizer
        self.ranker = ranker
        self.image_size = image_size
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.feature_weight = feature_weight
        self.adversarial_weight = adversarial_weight
        self.pretrained = pretrained
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.augment = augment
        self.residual_shift = residual_shift
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    @heap_slack()
    def fit(self, X, y=None, *, features=None):
        """Featurize the images and train the decoder from their features back to them.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of image file paths
            The training images: an array (uint8 in [0, 255] or float in [0, 1], C in
            {1, 3, 4}, alpha dropped), or image files of any sizes and modes (read as
            :func:`sknovel.features.load_image` does; colour if any file is colour), as
            far as the featurizer takes them. What the decoder learns to draw is each
            image fitted to `image_size` x `image_size` (see :meth:`target_images`).
        y : None
            Ignored.
        features : array-like of shape (n, d) or None, default=None
            ``featurizer.transform(X)`` when already at hand (the `featurizer` must then be
            fitted), so that the images are not featurized again; the decoder is the same
            as without it. None computes them.

        Returns
        -------
        self : UCInverter
        """
        _check_image_size(self.image_size)
        pretrained = self._pretrained_state() if self.pretrained else None
        if self.epochs == 0 and pretrained is None:
            raise ValueError(
                "epochs=0 trains nothing: it needs pretrained=True (the shipped decoder, used "
                "as it is). Give epochs >= 1 to train a decoder."
            )
        targets = _training_targets(X, self.image_size, self.batch_size)
        if features is None:
            self.featurizer_ = _fitted_featurizer(self.featurizer, X)
            features = _checked_features(self.featurizer_.transform(X), len(targets))
        else:
            self.featurizer_ = _prefitted_featurizer(self.featurizer)
            features = _checked_features(features, len(targets), name="features")
            _check_width(features.shape[1], self.featurizer_, "features")
        mirrored = None
        if self.augment:
            mirrored = _mirrored_features(self.featurizer_, X, len(targets), self.batch_size)
        return self._fit_features(features, targets, mirrored, pretrained)

    def _fit_features(self, features, targets, mirrored=None, pretrained=None):
        """Train on features (n, d), uint8 targets (n, S, S, C) and mirrored features or None.

        `pretrained` is the shipped decoder's state (see :meth:`state_dict`), fine-tuned
        with its own feature standardisation; None trains a new decoder.
        """
        torch = import_torch()
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        n_images = len(targets)
        self.train_indices_, self.validation_indices_ = validation_split(
            n_images, self.validation_fraction, rng
        )
        train_rows = self.train_indices_
        if mirrored is not None:  # rows n .. 2n - 1: the mirror images, trained on alike
            features = np.concatenate([features, mirrored])
            targets = np.concatenate([targets, targets[:, :, ::-1]])
            train_rows = np.concatenate([train_rows, train_rows + n_images])
        self.n_features_in_ = features.shape[1]
        if pretrained is None:
            mean = features[train_rows].mean(0, dtype=np.float64)
            scale = features[train_rows].std(0, dtype=np.float64).astype(np.float32)
        else:
            mean, scale = pretrained["feature_mean"].numpy(), pretrained["feature_scale"].numpy()
        self.feature_mean_ = np.asarray(mean, dtype=np.float32)
        self.feature_scale_ = np.where(scale > MIN_SCALE, scale, np.float32(1))
        self.image_shape_ = tuple(int(v) for v in targets.shape[1:])
        self.mean_image_ = targets[self.train_indices_].mean(0, dtype=np.float64) / 255
        self.mean_image_ = self.mean_image_.astype(np.float32)
        self._network_config = self._decoder_config(self.n_features_in_, self.image_shape_[-1])
        inputs = torch.from_numpy(self._standardise(features))
        pixels = torch.from_numpy(np.ascontiguousarray(np.moveaxis(targets, -1, 1)))
        with torch.random.fork_rng(devices=_fork_devices(device)):
            torch.manual_seed(torch_seed(rng))
            from sknovel.explain.inversion._network import UCDecoder

            self.module_ = UCDecoder(**self._network_config)
            if pretrained is not None:
                self.module_.load_state_dict(
                    _decoder_weights(pretrained["decoder"], self.image_shape_[-1])
                )
            self.module_.to(device)
            self._train(inputs, pixels, train_rows, self.validation_indices_, rng, device)
        self.module_.eval()
        return self

    def _pretrained_state(self):
        """The shipped decoder's state, after checking it fits this inverter."""
        from importlib.resources import files

        _check_pretrained_featurizer(self.featurizer)
        resource = files("sknovel.explain.inversion").joinpath(*PRETRAINED_FILE.split("/"))
        state = read_weights_file(resource)
        for name, value in (("image_size", self.image_size), ("width", self._width())):
            if value != int(state[name]):
                raise ValueError(
                    f"pretrained=True needs {name}={int(state[name])} (the shipped decoder's); "
                    f"got {name}={value}."
                )
        return state

    def _train(self, inputs, pixels, train, validation, rng, device):
        torch = import_torch()
        optimizer = torch.optim.AdamW(
            self.module_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        monitor = EarlyStopping(
            self.module_, self.n_iter_no_change, keep_best=self.n_iter_no_change is not None
        )
        self.loss_curve_, self.validation_loss_curve_ = [], []
        self.n_epochs_ = self.best_epoch_ = 0
        if self.epochs == 0:
            return
        from sknovel.explain.inversion._deepsim import DeePSiMLoss

        criterion = DeePSiMLoss(
            self.feature_weight,
            self.adversarial_weight,
            n_features=inputs.shape[1],
            image_size=self.image_size,
            n_channels=pixels.shape[1],
            reference=pixels[train[:REFERENCE_IMAGES]].to(device, torch.float32) / 255,
            device=device,
        )
        with progress_bar(self.epochs, "UCInverter.fit", unit="epoch", verbose=self.verbose) as bar:
            for epoch in range(1, self.epochs + 1):
                order = rng.permutation(train)
                self.loss_curve_.append(
                    self._epoch(optimizer, criterion, inputs, pixels, order, device)
                )
                schedule.step()
                if len(validation):
                    self.validation_loss_curve_.append(
                        self._loss(inputs[validation], pixels[validation])
                    )
                curve = self.validation_loss_curve_ or self.loss_curve_
                stop = monitor.update(epoch, curve[-1])
                _show_losses(bar, self.loss_curve_, self.validation_loss_curve_)
                if stop:
                    break
        self.n_epochs_ = epoch
        self.best_epoch_ = monitor.restore(epoch)

    def _epoch(self, optimizer, criterion, inputs, pixels, order, device):
        """One pass over the training rows in `order`; return the mean training loss."""
        self.module_.train()
        total = 0.0
        for batch in training_batches(order, self.batch_size):
            x, target = _batch(inputs, pixels, batch, device)
            criterion.discriminator_step(self.module_, x, target)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(self.module_(x), x, target)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        return total / len(order)

    def _loss(self, inputs, pixels):
        """Mean squared pixel error of the decoder (eval mode) on standardised features."""
        torch = import_torch()
        self.module_.eval()
        device = next(self.module_.parameters()).device
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                rows = np.arange(start, min(start + self.batch_size, len(inputs)))
                x, target = _batch(inputs, pixels, rows, device)
                total += float((self.module_(x) - target).pow(2).mean()) * len(rows)
        return total / len(inputs)

    def target_images(self, X):
        """The images as the decoder learns to draw them: square, at `image_size`, in [0, 1].

        Each image is fitted to ``image_size`` x ``image_size`` by the package's resize
        policy (:func:`sknovel.utils.images.fit_to_size`: scaled with its aspect ratio
        kept until it covers the square, antialiased bilinear, then centre-cropped), and
        rounded to 8 bits; compare decoded images with these, e.g. in
        :func:`~sknovel.metrics.inversion_identification_rate`. Needs no fitting.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of image file paths
            An array of images, or files of any sizes and modes (colour if any is colour).

        Returns
        -------
        images : ndarray of shape (n, image_size, image_size, C), float32 in [0, 1]
            C is 1 for greyscale images and 3 otherwise (alpha is dropped).
        """
        _check_image_size(self.image_size)
        return to_unit_float(_training_targets(X, self.image_size, self.batch_size))

    def _decoder_config(self, n_features, n_channels):
        """Arguments of the decoder module for features of width `n_features`."""
        return {
            "n_features": n_features,
            "image_size": self.image_size,
            "n_channels": n_channels,
            "width": self._width(),
        }

    def _width(self):
        """`width`, or its default: the shipped decoder's with `pretrained`, else 256."""
        if self.width is not None:
            return self.width
        return PRETRAINED_WIDTH if self.pretrained else DEFAULT_WIDTH

    def _standardise(self, features):
        return ((features - self.feature_mean_) / self.feature_scale_).astype(np.float32)

    @heap_slack()
    def inverse_transform(self, X):
        """Decode features into images.

        Parameters
        ----------
        X : array-like of shape (n, ``n_features_in_``)
            Features in the featurizer's space, e.g. ``featurizer_.transform(images)`` or
            the ``expected`` parts of a ranker's explanation.

        Returns
        -------
        images : ndarray of shape (n, image_size, image_size, C), float32 in [0, 1]
        """
        if not hasattr(self, "module_"):
            raise NotFittedError(
                "This UCInverter is not fitted yet; call fit(images) before inverse_transform."
            )
        return self._decode(self._check_features(X))

    def _decode(self, features):
        """Validated features (n, d) → images (n, S, S, C), batch by batch."""
        torch = import_torch()
        if not len(features):
            return np.empty((0, *self.image_shape_), dtype=np.float32)
        inputs = torch.from_numpy(self._standardise(features))
        device = next(self.module_.parameters()).device
        self.module_.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                batch = inputs[start : start + self.batch_size].to(device)
                parts.append(tensor_to_images(self.module_(batch)))
        return np.concatenate(parts)

    @heap_slack()
    def explain(self, X, positions=None, *, features=None):
        """Pictures of the ranker's picks, or, without a ranker, of each image's features.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of image file paths
            With a `ranker`: the collection it ranked (all of it, in order), as for
            :meth:`NoveltyMap.explain <sknovel.explain.NoveltyMap.explain>`. Without one:
            the images whose features are decoded.
        positions : sequence of int or None, default=None
            With a `ranker`: the picks to draw, as positions in ``ranker.ranking_``
            (0 = the first pick); None: every pick. Needs a `ranker`.
        features : array-like of shape (n, d) or None, default=None
            ``featurizer_.transform(X)`` when already at hand (with a `ranker`: the very
            array it was fitted on); None computes it.

        Returns
        -------
        pictures : Bunch
            With a `ranker`: ``selections`` (the picks' features decoded), ``expected`` (the
            expected parts x̂ decoded) and ``novel`` (the novel parts e, shifted by
            `residual_shift`, decoded), images of shape (k, image_size, image_size, C),
            float32 in [0, 1]; ``novel_features``, the shifted residuals that were decoded;
            ``positions``; ``indices``, the picked rows of X; ``scores``, the picks' scores.

            Without a ranker: ``reconstructions``, the decoding of each image's features,
            and ``targets``, the images as the decoder learns to draw them
            (:meth:`target_images`), both (n, image_size, image_size, C) float32 in [0, 1].
        """
        self._validate_params()
        check_is_fitted(self, "module_")
        if self.ranker is None:
            if positions is not None:
                raise ValueError(
                    "positions needs a ranker: a UCInverter without one decodes every "
                    "image of X. Pass UCInverter(featurizer, ranker) to draw picks."
                )
            if features is None:
                features = self.featurizer_.transform(X)
            return Bunch(
                reconstructions=self._decode(self._check_features(features, "features")),
                targets=self.target_images(X),
            )
        return self._explain_picks(X, positions, features)

    def _explain_picks(self, X, positions, features):
        check_is_fitted(self.ranker, "ranking_")
        n_picks = len(self.ranker.ranking_)
        positions = _checked_positions(positions, n_picks)
        if features is None:
            features = self.featurizer_.transform(X)  # as given, so caches recognise it
        explanation = self.ranker.explain(features)
        chosen = {key: np.asarray(value)[positions] for key, value in explanation.items()}
        pictures = self._invert(chosen, self.residual_shift)
        pictures.positions = positions
        return pictures

    def reconstruct(self, X):
        """Featurize images and decode their features (deprecated: use ``explain``).

        .. deprecated:: 0.2
            Use ``explain(X).reconstructions`` (of a UCInverter without a ranker), or
            ``inverse_transform(featurizer_.transform(X))``; ``reconstruct`` will be
            removed in the next release.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of image file paths

        Returns
        -------
        images : ndarray of shape (n, image_size, image_size, C), float32 in [0, 1]
        """
        warnings.warn(
            "UCInverter.reconstruct(X) is deprecated and will be removed in the next release; "
            "use UCInverter(featurizer).explain(X).reconstructions, or "
            "inverse_transform(featurizer_.transform(X)).",
            FutureWarning,
            stacklevel=2,
        )
        check_is_fitted(self, "module_")
        return self.inverse_transform(self.featurizer_.transform(X))

    def invert_explanation(self, explanation, *, residual_shift=None):
        """Pictures of a ranker's explanation (deprecated: use ``explain``).

        Each pick, its expected part and its novel part.

        .. deprecated:: 0.2
            Use ``UCInverter(featurizer, ranker).explain(X, positions)``;
            ``invert_explanation`` will be removed in the next release.

        Parameters
        ----------
        explanation : Bunch or mapping
            What ``Demud.explain`` (or ``Pipeline.explain``) returns: ``selections`` x,
            ``expected`` x̂ and ``residuals`` e = x − x̂, each (k, ``n_features_in_``).
        residual_shift : {"training_mean", "item_mean", "none"} or None, default=None
            What the decoder is given for the novel part (see the class's `residual_shift`);
            None: the inverter's `residual_shift`.

        Returns
        -------
        pictures : Bunch
            ``selections``, ``expected`` and ``novel``: images (k, image_size, image_size,
            C), float32 in [0, 1]; ``novel_features``: the shifted residuals that were
            decoded; and ``indices`` and ``scores`` when the explanation has them.
        """
        warnings.warn(
            "UCInverter.invert_explanation(explanation) is deprecated and will be removed in "
            "the next release; use UCInverter(featurizer, ranker).explain(X, positions).",
            FutureWarning,
            stacklevel=2,
        )
        shift = self.residual_shift if residual_shift is None else residual_shift
        if shift not in RESIDUAL_SHIFTS:
            raise ValueError(f"residual_shift must be one of {RESIDUAL_SHIFTS}; got {shift!r}.")
        if not isinstance(explanation, Mapping):
            raise TypeError(
                "explanation must be the Bunch returned by a ranker's explain(); got "
                f"{type(explanation).__name__}."
            )
        missing = [key for key in ("selections", "expected", "residuals") if key not in explanation]
        if missing:
            raise ValueError(f"explanation has no {', '.join(missing)}; pass ranker.explain(X).")
        return self._invert(explanation, shift, name="explanation")

    def _invert(self, explanation, residual_shift, name="ranker.explain(features)"):
        """Decode the selections, expected parts and shifted residuals of an explanation."""
        parts = {
            key: self._check_features(explanation[key], f"{name}[{key!r}]")
            for key in ("selections", "expected", "residuals")
        }
        novel = shift_residuals(
            parts["residuals"], parts["selections"], residual_shift, self.feature_mean_
        )
        pictures = Bunch(
            selections=self._decode(parts["selections"]),
            expected=self._decode(parts["expected"]),
            novel=self._decode(novel),
            novel_features=novel,
        )
        for key in ("indices", "scores"):
            if key in explanation:
                pictures[key] = np.asarray(explanation[key])
        return pictures

    def _check_features(self, X, name="X"):
        check_is_fitted(self, "module_")
        features = check_array(
            X, dtype=np.float32, ensure_all_finite=False, ensure_min_samples=0, input_name=name
        )
        if features.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {features.shape[1]} features, but UCInverter was fitted on "
                f"features of width {self.n_features_in_} (the featurizer's output)."
            )
        if not np.all(np.isfinite(features)):
            raise ValueError(f"{name} contains NaN or infinity.")
        return features

    def state_dict(self):
        """The fitted decoder and what decoding needs besides it, for ``torch.save``.

        The featurizer is not included: it is an estimator of its own (pickle it, or make the
        same one again). Training records (loss curves, the split) are not included either.

        Returns
        -------
        state : dict
            ``decoder`` (the decoder module's ``state_dict``, on the CPU); ``feature_mean``,
            ``feature_scale`` and ``mean_image`` (tensors); ``image_size``, ``width`` and
            ``n_channels`` (ints).

        Examples
        --------
        >>> import numpy as np, torch
        >>> from sknovel.explain import UCInverter
        >>> from sknovel.features import PixelFeaturizer
        >>> images = np.random.default_rng(0).random((16, 8, 8, 3)).astype(np.float32)
        >>> pixels = PixelFeaturizer().fit(images)
        >>> inverter = UCInverter(pixels, image_size=8, width=16, epochs=1).fit(images)
        >>> state = inverter.state_dict()  # torch.save(state, "decoder.pt") to keep it
        >>> copy = UCInverter(pixels, image_size=8, width=16).load_state_dict(state)
        >>> features = pixels.transform(images[:2])
        >>> np.array_equal(copy.inverse_transform(features), inverter.inverse_transform(features))
        True
        """
        check_is_fitted(self, "module_")
        torch = import_torch()
        return {
            "decoder": {
                key: value.detach().cpu().clone()
                for key, value in self.module_.state_dict().items()
            },
            "feature_mean": torch.from_numpy(self.feature_mean_.copy()),
            "feature_scale": torch.from_numpy(self.feature_scale_.copy()),
            "mean_image": torch.from_numpy(self.mean_image_.copy()),
            "image_size": int(self._network_config["image_size"]),
            "width": int(self._network_config["width"]),
            "n_channels": int(self._network_config["n_channels"]),
        }

    def load_state_dict(self, state):
        """Restore a decoder saved with :meth:`state_dict` (e.g. read back with ``torch.load``).

        The inverter's `image_size` and `width` must be those the decoder was trained with,
        and its `featurizer` must be fitted: it is the feature space the decoder inverts.
        The decoder is placed on `device`.

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned.

        Returns
        -------
        self : UCInverter
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"state must be the dict from state_dict(); got {type(state).__name__}."
            )
        keys = ("decoder", "feature_mean", "feature_scale", "mean_image", "image_size", "width")
        missing = [key for key in (*keys, "n_channels") if key not in state]
        if missing:
            raise ValueError(f"state has no {', '.join(missing)}; pass what state_dict() returned.")
        for name, value in (("image_size", self.image_size), ("width", self._width())):
            if int(state[name]) != value:
                raise ValueError(
                    f"{name}={value} but the saved decoder was trained with "
                    f"{name}={int(state[name])}; construct the UCInverter with the same {name}."
                )
        try:
            check_is_fitted(self.featurizer)
        except NotFittedError as error:
            raise ValueError(
                "featurizer must be fitted to load a decoder: the decoder inverts its features. "
                "Fit it (on the images it was fitted on before) or pass the fitted one."
            ) from error
        from sknovel.explain.inversion._network import UCDecoder

        feature_mean = np.asarray(state["feature_mean"], dtype=np.float32)
        _check_width(len(feature_mean), self.featurizer, "decoder")
        network_config = self._decoder_config(len(feature_mean), int(state["n_channels"]))
        module = UCDecoder(**network_config)
        try:
            module.load_state_dict(state["decoder"])
        except RuntimeError as error:
            raise ValueError(
                "state['decoder'] does not fit a decoder of features of width "
                f"{len(feature_mean)} (the length of state['feature_mean']) with image_size="
                f"{self.image_size} and width={self._width()}: {str(error)[:300]}"
            ) from error
        self.featurizer_ = self.featurizer
        self._network_config = network_config
        self.n_features_in_ = len(feature_mean)
        self.feature_mean_ = feature_mean
        self.feature_scale_ = np.asarray(state["feature_scale"], dtype=np.float32)
        self.mean_image_ = np.asarray(state["mean_image"], dtype=np.float32)
        self.image_shape_ = tuple(int(v) for v in self.mean_image_.shape)
        self.module_ = module.to(resolve_device(self.device)).eval()
        return self

    def _build_modules(self):
        from sknovel.explain.inversion._network import UCDecoder

        return {"module_": UCDecoder(**self._network_config)}

    def __sklearn_tags__(self):
        return image_estimator_tags(super().__sklearn_tags__())


def _featurizer_width(featurizer):
    """Width of a fitted featurizer's output when it says (None when it does not)."""
    width = getattr(featurizer, "n_features_out_", None)
    if width is None and hasattr(featurizer, "get_feature_names_out"):
        try:
            width = len(featurizer.get_feature_names_out())
        except (AttributeError, TypeError, ValueError):
            width = None
    return None if width is None else int(width)


def _check_width(n_features, featurizer, what):
    """Refuse `what` (given features, or a saved decoder) not as wide as the featurizer's output."""
    width = _featurizer_width(featurizer)
    if width is None or width == n_features:
        return
    if what == "features":
        problem = f"features has {n_features} columns"
        remedy = "pass featurizer.transform(X)."
    else:
        problem = f"The saved decoder inverts features of width {n_features}"
        remedy = "load it with the featurizer it was trained on."
    raise ValueError(
        f"{problem}, but the featurizer ({type(featurizer).__name__}) outputs {width} "
        f"features; {remedy}"
    )


def shift_residuals(residuals, selections, how, training_mean):
    """The decoder input for the novel part of each pick (see ``UCInverter.residual_shift``)."""
    if how == "item_mean":
        shift = selections.mean(1, keepdims=True) - residuals.mean(1, keepdims=True)
        return (residuals + shift).astype(np.float32)
    if how == "training_mean":
        return (residuals + training_mean).astype(np.float32)
    return residuals


def _show_losses(bar, losses, validation_losses):
    """Advance the epoch bar by one, showing the last losses."""
    postfix = {"loss": f"{losses[-1]:.4g}"}
    if validation_losses:
        postfix["validation_loss"] = f"{validation_losses[-1]:.4g}"
    bar.set_postfix(postfix, refresh=False)
    bar.update(1)


def _checked_positions(positions, n_picks):
    """Positions as an int array, each in [0, n_picks); None: all of them."""
    if positions is None:
        return np.arange(n_picks)
    try:
        positions = np.asarray(list(positions))
    except TypeError as error:
        raise TypeError(
            f"positions must be a sequence of ints; got {type(positions).__name__}."
        ) from error
    if positions.ndim != 1 or (positions.size and positions.dtype.kind not in "iu"):
        raise TypeError(f"positions must be a sequence of ints; got {positions.tolist()!r}.")
    outside = positions[(positions < 0) | (positions >= n_picks)]
    if outside.size:
        raise ValueError(
            f"positions must be in [0, {n_picks}) (the ranker's picks); got {outside[0]}."
        )
    return positions.astype(np.intp)


def _check_image_size(image_size):
    if image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two in [8, 256]; got {image_size}.")


def _fitted_featurizer(featurizer, X):
    try:
        check_is_fitted(featurizer)
    except NotFittedError:
        return clone(featurizer).fit(X)
    return featurizer


def _prefitted_featurizer(featurizer):
    """The featurizer itself, which must be fitted when `features` are given to fit."""
    try:
        check_is_fitted(featurizer)
    except NotFittedError as error:
        raise ValueError(
            "features were given to fit, but featurizer is not fitted: pass the fitted "
            "featurizer that computed them, or leave features=None."
        ) from error
    return featurizer


def _checked_features(features, n_images, name=None):
    """Features as float32 (n_images, d), checked; `name` is the argument they came in."""
    what = "featurizer.transform" if name is None else name
    try:
        features = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be a numeric array of features; {error}") from error
    if features.ndim != 2 or len(features) != n_images:
        verb = "must return" if name is None else "must hold"
        raise ValueError(
            f"{what} {verb} one row of features per image, (n, d); got "
            f"shape {features.shape} for {n_images} images."
        )
    if not np.all(np.isfinite(features)):
        verb = "returned" if name is None else "contains"
        raise ValueError(f"{what} {verb} NaN or infinite features.")
    return features


def _training_targets(X, image_size, batch_size):
    """The training images fitted to (S, S) by the package's resize policy: uint8 (n, S, S, C).

    Files may mix sizes and modes: they are read colour if any is colour.
    """
    if not is_path_sequence(X):
        _check_one_size(X)
        X = check_image_array(X)[..., :3]  # alpha dropped
    parts = [
        np.round(batch * 255).astype(np.uint8)
        for batch in iter_image_batches(X, batch_size, size=(image_size, image_size))
    ]
    return np.concatenate(parts)


def _check_one_size(X):
    if isinstance(X, (list, tuple)) and len(X) > 1:
        shapes = {np.shape(image) for image in X}
        if len(shapes) > 1:
            raise ValueError(
                f"X must hold images of one size; got shapes {sorted(shapes)}. Pass one "
                "array of images, or a list of image file paths (which may mix sizes)."
            )


def _mirrored_features(featurizer, X, n_images, files_at_once, chunk_size=MIRROR_CHUNK):
    """Features of the left-right mirror images of X, a chunk of images at a time.

    Files (of any sizes) are read `files_at_once` at a time, as the featurizer reads them
    (:func:`_mirrored_files`).
    """
    if is_path_sequence(X):
        parts = list(_mirrored_files(featurizer, X, files_at_once))
    else:
        images = check_image_array(X)
        chunks = (images[start : start + chunk_size] for start in range(0, n_images, chunk_size))
        parts = [featurizer.transform(np.ascontiguousarray(chunk[:, :, ::-1])) for chunk in chunks]
    return _checked_features(np.concatenate(parts), n_images)


def _mirrored_files(featurizer, paths, files_at_once):
    """Yield the features of the mirrored files, `files_at_once` files at a time.

    Each file is read with the featurizer's channels and fitted to the size it brings images
    to before its own work (:func:`~sknovel.features.inputs.featurizer_input_size`), so the
    featurizer sees the mirror of what it saw of the file. Where that size is unknown, files
    are mirrored as they are and those of one size are featurized together.
    """
    size = featurizer_input_size(featurizer)
    mode = featurizer_files_mode(featurizer) or files_mode(paths)
    for start in range(0, len(paths), files_at_once):
        mirrored = [
            np.ascontiguousarray(load_image(path, mode=mode, size=size)[:, ::-1])
            for path in paths[start : start + files_at_once]
        ]
        groups = {}
        for row, image in enumerate(mirrored):
            groups.setdefault(image.shape, []).append(row)
        features = [None] * len(mirrored)
        for rows in groups.values():
            chunk = featurizer.transform(np.stack([mirrored[row] for row in rows]))
            chunk = _checked_features(chunk, len(rows))
            for row, values in zip(rows, chunk):
                features[row] = values
        yield np.stack(features)


def _batch(inputs, pixels, rows, device):
    torch = import_torch()
    index = torch.from_numpy(np.asarray(rows))
    x = inputs[index].to(device)
    target = pixels[index].to(device, torch.float32) / 255
    return x, target


def _fork_devices(device):
    return [device.index or 0] if device.type == "cuda" else []


def inverts_with_pretrained_decoder(featurizer):
    """Whether ``UCInverter(featurizer, pretrained=True)`` can use the shipped decoder.

    It inverts the features of ``CNNFeaturizer()`` with its default network, layer, weights
    and input size (its `batch_size`, `device` and `memory` do not matter).

    Parameters
    ----------
    featurizer : object

    Returns
    -------
    bool
    """
    from sknovel.features import CNNFeaturizer

    if type(featurizer) is not CNNFeaturizer:
        return False
    params, default = featurizer.get_params(), CNNFeaturizer().get_params()
    return (
        params["arch"] == default["arch"]
        and params["layer"] in (None, "pool")
        and params["weights"] == default["weights"]
        and params["crop_size"] in (None, 224)
    )


def _check_pretrained_featurizer(featurizer):
    """Refuse a featurizer whose features are not those the shipped decoder inverts."""
    if inverts_with_pretrained_decoder(featurizer):
        return
    raise ValueError(
        "pretrained=True needs featurizer=CNNFeaturizer() with its default arch, layer, "
        f"weights and crop_size (the features the shipped decoder inverts); got {featurizer!r}. "
        "Use pretrained=False to train a decoder for other features."
    )


def _decoder_weights(state, n_channels):
    """A decoder state for `n_channels` output channels (a colour decoder made grey).

    A greyscale image is one whose three channels are equal, so the grey decoder's last
    convolution is the mean of the colour decoder's three output filters.
    """
    state = dict(state)
    *_, weight_key, bias_key = state  # the last convolution, to the colour channels
    if state[weight_key].shape[0] != n_channels:
        if n_channels != 1:
            raise ValueError(
                f"The saved decoder draws {state[weight_key].shape[0]} channels, not {n_channels}."
            )
        state[weight_key] = state[weight_key].mean(0, keepdim=True)
        state[bias_key] = state[bias_key].mean(0, keepdim=True)
    return {key: value.float() for key, value in state.items()}
