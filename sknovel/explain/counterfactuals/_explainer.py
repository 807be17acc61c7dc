"""Diverse counterfactual explanations of anomalies: what if this anomaly were normal?"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state, metadata_routing
from sklearn.utils._param_validation import Interval, StrOptions

from sknovel.explain._base import BaseExplainer
from sknovel.explain.counterfactuals._detector_score import (
    THRESHOLD,
    DetectorScore,
    check_detector_output,
    check_score_range,
    make_detector_score,
)
from sknovel.explain.counterfactuals._pseudo_anomalies import pseudo_anomalies
from sknovel.utils.heap import heap_slack
from sknovel.utils.images import (
    check_fitted_images,
    check_image_array,
    to_unit_float,
)
from sknovel.utils.labels import check_outlier_labels
from sknovel.utils.progress import progress_bar
from sknovel.utils.tensors import (
    images_to_tensor,
    import_torch,
    resolve_device,
    tensor_to_images,
    torch_seed,
)
from sknovel.utils.training import MIN_HELD_OUT_IMAGES, NumpyModulePickleMixin, training_batches

#: Training images called anomalous whose counterfactuals ``fit`` checks (training_validity_).
VALIDITY_CHECK_SIZE = 256
#: Training validity below which training restarts (max_restarts) and fit warns.
RESTART_VALIDITY = 0.5
#: Fitted attributes that one training attempt sets, besides the networks.
TRAINED_ATTRIBUTES = (
    "lowest_loss_target_",
    "lowest_loss_weight_",
    "calibration_curve_",
    "loss_curve_",
    "loss_components_",
    "n_epochs_",
)
#: Share of the epochs after which the lowest level's loss target is calibrated, each epoch.
CALIBRATION_START = 0.25
#: Names of the loss terms recorded per epoch in ``loss_components_``.
LOSS_TERMS = (
    "detector",
    "reconstruction",
    "cycle",
    "proximity",
    "concept",
    "adversarial",
    "discriminator",
)


class CounterfactualExplainer(NumpyModulePickleMixin, BaseExplainer):
    """Several images a detector would call normal, each changing an anomaly differently.

    Liznerski, Varshneya, Calikus et al., *Reimagining Anomalies: What If Anomalies Were
    Normal?* (2024), explain an anomaly x by K counterfactuals x̄_k: modified versions of x
    that the detector φ scores as normal, close to x, and different from each other -- each
    shows one *concept* that would have made the anomaly normal. A generator G(x, α, k)
    learns to change an image so that the detector's score becomes α, in the way of concept
    k; a concept classifier R learns, together with G, to tell from a pair (x, G(x, α, k))
    which k made the change, which forces the K concepts apart. This is the scheme of DISSECT
    (Ghandeharioun et al. 2022), scaled down to small images and a CPU (see Notes). The
    repository the paper names held only a README when we looked (December 2026); this is
    an independent implementation.

    Parameters
    ----------
    detector : object, torch.nn.Module or callable
        What is explained: a fitted detector that follows :ref:`the detector protocol
        <detector-protocol>` (``torch_score_samples`` and ``offset_``, e.g. a
        :class:`~sknovel.detectors.ConvAutoencoder`), or any torch module or callable
        mapping an (n, C, H, W) float tensor in [0, 1] to n anomaly scores in [0, 1],
        differentiably (higher = more anomalous; 0.5 is its threshold). It is used in eval
        mode and never changed. A protocol detector's score is mapped to
        ``1 - exp(-max(d, 0) / s)`` with ``d = -torch_score_samples(x)`` and s chosen so
        that its threshold ``offset_`` maps to 0.5 (see Notes).
    n_concepts : int, default=2
        Number K of counterfactuals per anomaly, one per concept (the paper: 2).
    target : "typical" or float, default="typical"
        The detector score the counterfactuals are made to have. "typical": the
        `target_quantile` of the scores of normal images the detector did not train on
        (``target_score_``), so that a counterfactual lands where new normal images are,
        not beyond them (an image far more "normal" than normal ones -- for an autoencoder,
        a faint digit -- is not a realistic explanation). These are the detector's held-out
        validation images when it records at least 20 (``validation_scores_``, as both of
        :mod:`sknovel.detectors` do), else the normal images given to ``fit``
        (``target_source_`` says which). A float in [0, 0.5) sets the score itself; 0.0
        asks for "as normal as possible", the behaviour of earlier versions.
    target_quantile : float, default=0.6
        Which quantile of those normal scores ``target="typical"`` aims at.
        Counterfactuals whose scores gather at the q-quantile of new normal images' scores
        have a normality AUC of about q, and 0.6 aims at the middle of 50-70 %, from
        indistinguishable from normal images to mildly distinguishable (the realism target
        of the user guide's measurements). In its 29 paired runs, the median (0.5, the
        default of earlier versions) left normality below 50 % in 14 and 0.6 in 7; all four
        of the paper's targets were met in 12 runs against 10, though the higher target,
        nearer the detector's threshold, met the disentanglement and Fréchet targets a
        little less often (see Notes). Ignored with a float `target`.
    n_bins : int, default=3
        Number of score levels the generator is conditioned on: ``n_bins`` evenly spaced
        scores from ``target_score_`` to 1 (``bin_values_``). Explanations use the first,
        ``target_score_``. At least 2.
    width : int, default=16
        Channels of the generator's full-size feature maps (doubled at each of its two
        halvings); the concept classifier and the discriminator use the same width.
    generator_output : {"auto", "image", "blend"}, default="auto"
        How the generator makes its image. "image": the image directly (DISSECT's
        generator). "blend": per pixel, a mask m in [0, 1] and a paint p, and the
        counterfactual is ``m * x + (1 - m) * p``, so that what it does not repaint is the
        anomaly itself (the attention mask of GANimation, Pumarola et al. 2018; not in the
        paper). "auto": "image" for a detector that scores by reconstruction (it has
        ``torch_reconstruct``, as :class:`~sknovel.detectors.ConvAutoencoder`), else
        "blend" (``generator_output_`` records the choice). In the user guide's
        measurements, with ``learning_rate_decay=True``: for an outlier-exposure detector
        "image" drew nearly the same, over-typical counterfactual for every anomaly (MNIST:
        normality 21 %), "blend" made them follow their anomaly (Fashion-MNIST, 3 settings ×
        3 seeds: validity and disentanglement above 90 % and Fréchet ratio below 100 % in
        every run); for the autoencoder "blend" changed the anomalies too little (MNIST:
        validity 1 %), where "image" reached validity 94-98 % in two of three seeds.
    epochs : int, default=20
        Passes over the training images (normal and anomalous together).
    batch_size : int, default=32
        Images per optimisation step, and per batch in :meth:`explain`. At least 2.
    learning_rate : float, default=1e-3
        Step size of the Adam optimisers (β = (0.5, 0.999)).
    learning_rate_decay : bool, default=True
        Keep the step size for the first half of the epochs, then lower it linearly, epoch
        by epoch, to ``learning_rate / ceil(epochs / 2)`` in the last (CycleGAN's schedule,
        Zhu et al. 2017): late in training the adversarial game settles instead of
        swinging. In the user guide's paired runs it kept the blend generator's concepts
        apart (disentanglement 58.7 → 94.2 % and 85.5 → 97.1 %). False keeps the step size
        (the default of earlier versions).
    calibrate_target : bool, default=True
        Make the counterfactuals' median score land at ``target_score_``. The realism and
        cycle terms pull the counterfactuals away from the score the detector term asks
        for, so they can end up more anomalous (or more normal) than typical normal images.
        With calibration, from a quarter of the epochs on, after each epoch the median
        detector score of the counterfactuals of up to 256 training images the detector
        calls anomalous is compared with ``target_score_``, and what the detector term asks
        of the lowest level is corrected: first the score it aims at, then, once that is at
        its floor, its weight (see Notes). The level the generator is conditioned on, and
        explains with, stays ``bin_values_[0]``. In the user guide's paired runs it brought
        normality into the 50-70 % range: 69.6 → 51.3 % (autoencoder, MNIST 1; without and
        with it) and 79.8 → 64.1 % (outlier exposure, Fashion-MNIST 0; moving the loss
        target alone, and then the weight too). False aims at ``target_score_`` alone (the
        behaviour of earlier versions).
    lambda_detector : float, default=6.0
        Weight of the detector loss: binary cross-entropy between the detector's score of
        G(x, α, k) and α, plus that of the cycle image G(G(x, α, k), φ(x), k) and φ(x).
    lambda_reconstruction : float, default=10.0
        Weight of the L1 losses that keep G close to the identity: G(x, φ(x), k) ≈ x
        (reconstruction) and the cycle image ≈ x (cycle). Mean absolute pixel error.
    lambda_concept : float, default=10.0
        Weight of the concept classifier's loss (binary cross-entropy per concept), which G
        and R minimise together.
    adversarial : bool, default=True
        Add DISSECT's realism term: a hinge GAN with a spectral-norm projection
        discriminator D(x, score level), trained in turn with G. It keeps the
        counterfactuals on the data: in the user guide's ablation (MNIST, outlier-exposure
        detector, one run each) it took the Fréchet distance of the counterfactuals to
        normal digits from 2.5 to 1.1 times that of the anomalies and the mean pixel change
        from 0.32 to 0.21, for about half again as much training time. False leaves only
        the L1 terms to keep them realistic.
    lambda_adversarial : float, default=1.0
        Weight of the generator's adversarial loss when `adversarial` is True.
    lambda_proximity : float, default=0.0
        Weight of an L1 loss between each counterfactual G(x, α, k) and its anomaly x
        (mean absolute pixel change), the "minimal change" of most counterfactual methods;
        not part of the paper's objective, hence 0 by default. The user guide measures it:
        at 5 it brought the counterfactuals closer to their anomalies but did not make them
        vary more from anomaly to anomaly.
    max_restarts : int, default=1
        How many times training starts again, from new initial weights (the next draws of
        `random_state`), when it ends with ``training_validity_`` below 0.5 -- a generator
        that collapsed into images the detector calls anomalous. The attempt with the
        highest training validity is kept (``n_restarts_`` says how many were run). In the
        user guide's 30 runs one collapsed (outlier-exposure detector, MNIST 1, validity 0);
        a restart costs one more training. 0 never restarts.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the order of the training images, the targets
        drawn for them and the pseudo-anomalies. An int gives the same explainer bit for bit
        on one machine (same torch build and number of threads).
    device : str, torch.device or None, default=None
        Where to train and explain, e.g. ``"cpu"`` or ``"cuda"``; None uses a GPU when torch
        sees one. The detector stays where it is; images are moved to it.
    verbose : int, default=0
        If positive, show a progress bar over the epochs on stderr, with the losses of the
        last epoch.

    Attributes
    ----------
    generator_ : torch.nn.Module
        G, in eval mode: ``generator_(x, concept * n_bins + level)``.
    concept_classifier_ : torch.nn.Module
        R, in eval mode: ``concept_classifier_(x, x_changed)`` gives one logit per concept.
    discriminator_ : torch.nn.Module or None
        D when `adversarial`, else None.
    generator_output_ : {"image", "blend"}
        The generator used: `generator_output`, or what "auto" chose for the detector.
    input_shape_ : tuple of int
        (height, width, channels) of the training images; later inputs must match.
    score_scale_ : float or None
        s of the score mapping ``1 - exp(-max(d, 0) / s)`` for a protocol detector, else
        None.
    threshold_ : float
        Score above which the detector calls an image anomalous: 0.5.
    target_score_ : float
        The score the counterfactuals are made to have, below ``threshold_``: for
        ``target="typical"`` the `target_quantile` of the scores of the detector's held-out
        normal images or of the normal training images (see `target`), else `target`.
    target_source_ : {"detector validation images", "normal training images", "target"}
        Where ``target_score_`` comes from.
    bin_values_ : ndarray of shape (n_bins,)
        The score levels the generator knows: ``linspace(target_score_, 1, n_bins)``.
    training_scores_ : ndarray of shape (n_normal + n_anomalous,)
        Detector scores of the training images, normal ones first.
    n_normal_ : int
        Normal training images.
    n_anomalous_ : int
        Anomalous training images: those labelled -1 in ``y``, or pseudo-anomalies.
    n_pseudo_anomalies_above_threshold_ : int or None
        Of the pseudo-anomalies made (when ``y`` labels no image -1), how many the detector
        calls anomalous; the rest are the highest-scoring other corruptions.
    lowest_loss_target_ : float
        The score the detector term asks of the lowest level at the end of training:
        ``target_score_`` unless `calibrate_target` moved it.
    lowest_loss_weight_ : float
        The factor on the lowest level's detector term at the end of training: 1 unless
        `calibrate_target` raised it.
    calibration_curve_ : list of tuple of float
        With `calibrate_target`, per calibrated epoch: the median score of the calibration
        counterfactuals, and the loss target and weight factor set for the next epoch.
        Empty otherwise.
    loss_curve_ : list of float
        Mean generator loss (all weighted terms) of each epoch.
    loss_components_ : dict of str to list of float
        Mean unweighted value of each loss term per epoch: ``detector``, ``reconstruction``,
        ``cycle``, ``proximity``, ``concept``, ``adversarial`` and ``discriminator`` (the last
        two empty without `adversarial`).
    n_epochs_ : int
        Epochs run.
    training_validity_ : float
        Share of the counterfactuals of training images that the detector calls anomalous
        (the first ``VALIDITY_CHECK_SIZE`` = 256 of them) that it calls normal: a check that
        training worked, made at the end of each training attempt. Below 0.5, training
        restarts (`max_restarts`) and, if the kept attempt is still below, ``fit`` warns (a
        ``ConvergenceWarning``); in the user guide's runs a generator that collapsed into
        one image the detector calls anomalous showed 0. NaN when the detector calls no
        training image anomalous.
    n_restarts_ : int
        Training restarts run (see `max_restarts`).
    training_validity_per_attempt_ : list of float
        ``training_validity_`` of every training attempt, in order.

    See Also
    --------
    sknovel.metrics.counterfactual_normality : ROC AUC of the detector, normal vs counterfactual.
    sknovel.metrics.counterfactual_validity : Share of counterfactuals called normal.
    sknovel.plotting.CounterfactualDisplay : Anomalies beside their counterfactuals.

    Notes
    -----
    **Objective.** For a training image x with detector score φ(x) (its *source* level is
    the nearest of ``bin_values_``), a concept k and a target level α drawn uniformly from
    ``bin_values_``, G and R minimise

    λ_φ [BCE(φ(x̄), α) + BCE(φ(x̃), φ(x))] + λ_rec [‖G(x, φ(x), k) − x‖₁ + ‖x̃ − x‖₁]
    + λ_r L_R [+ λ_adv · (−D(x̄, α))] [+ λ_prox ‖x̄ − x‖₁]

    with x̄ = G(x, α, k) and the cycle image x̃ = G(x̄, φ(x), k). L_R is DISSECT's concept
    loss: R must output the one-hot vector of k for the pairs (x, x̄) and (x̄, x̃) -- all zeros
    when the target level is the source level, as nothing is to change -- and all zeros for
    (x, x̃) and (x, G(x, φ(x), k)). With `adversarial`, D is trained between the generator
    steps with the hinge loss on (x, its level) against (x̄, α).

    **Score mapping.** A protocol detector scores by ``torch_score_samples``, higher being
    more normal. The mapping suits detectors whose score is minus a non-negative loss d ≥ 0,
    which is unbounded (a :class:`~sknovel.detectors.ConvAutoencoder`'s reconstruction loss;
    scikit-learn's outlier detectors' scores are negative in the same way). It is mapped to
    φ = 1 − exp(−max(d, 0) / s), the mapping of the paper's HSC detector, with s = d_t / ln 2
    where d_t = −``offset_`` is the detector's own threshold: φ(d_t) = 0.5, so validity
    (φ ≤ 0.5) is the same as ``predict(x) == 1``, and the loss towards α = 0,
    −log(1 − φ) = d / s, is just the loss in units of the threshold -- its gradient neither
    vanishes nor explodes, unlike a sigmoid's far from its centre. Scores above 0 (d < 0)
    map to 0. The cross-entropies are computed from d itself (log(1 − φ) = −d / s), not from
    φ: an outlier-exposure detector is so sure of most anomalies that φ rounds to 1 in
    float32, where the logarithm of a clipped probability has no gradient -- the detector
    term then taught the generator nothing about those images.

    **Target score.** DISSECT's levels span the whole score range and the paper explains
    with the lowest. For a detector that rewards images for being simple (an autoencoder
    reconstructs a faint image well) "as normal as possible" is more normal than any real
    normal image: the binary cross-entropy towards 0 keeps pushing the score down without a
    floor. With ``target="typical"`` the lowest level is a typical score t of normal
    images, and the BCE towards t is smallest at φ = t, so the generator is not rewarded for
    overshooting. Which normal images matters: a detector fits its training images better
    than new ones, and counterfactuals that gather at the training images' median score are
    more normal than most new normal images, which the normality AUC shows (the user guide
    measured 37-48 % on MNIST that way, and 50-60 % in 6 of 8 runs with the median of
    held-out images). So t is taken over the detector's held-out validation images when it
    records at least ``MIN_HELD_OUT_IMAGES`` = 20 of them, else over the normal images given
    to ``fit``. Which quantile: the normality AUC of counterfactuals whose scores gather at
    the q-quantile of the scores of new normal images is about q, but that quantile is only
    estimated, from a few dozen validation images (the standard error of the share of new
    normal images below it, √(q(1 − q)/n), is 0.07 for n = 50). Aimed at the median, 14 of
    29 runs in the user guide fell below 50 %; ``target_quantile=0.6`` aims at the middle
    of 50-70 % and left 7 of the same 29 below 50 % and 2 above 70 %. When t is not below
    the threshold, ``fit`` raises a ValueError.

    **Calibration.** Scores are compared as u = −log(1 − φ) (for a protocol detector, its
    loss in units of s). A correction c starts at 0 and, after each calibrated epoch, grows
    by half of log(u(median) / u(``target_score_``)). The lowest level's loss target is
    u(``target_score_``)·exp(−c), kept between 1/16 and 4 times u(``target_score_``) and
    below 0.9 times the threshold's u; the part of c beyond the floor multiplies that
    level's detector term by exp(c − log 16), at most 8. The floor matters for a detector
    that scores most normal images near 0 (an outlier-exposure detector): no loss target
    is then low enough, and only a heavier term pulls the counterfactuals further down.
    A float ``target`` of 0 is not calibrated.

    **Pseudo-anomalies.** G learns to move images from high scores to low ones only if it
    sees images with high scores. Pass anomalies (or outlier-exposure images from other
    data) in ``X``, labelled -1 in ``y``; without them, every normal image is corrupted once
    (rotation, mirror image, overlay of another image, random strokes, or a pasted patch of
    another image), and corrupted images the detector calls anomalous are kept, topped up with the
    highest-scoring others, until there are as many as normal images.

    **Scaled down from DISSECT** (64×64, 300 epochs, 1024-channel blocks, Adam 2e-4 with
    β = (0, 0.9), G stepped every fifth D step, λ_GAN = 1, λ_cyc = 100, λ_cls = 1, λ_r = 2 or
    10): channels w, 2w, 4w with w = `width` (about 0.2 million weights in G for w = 16),
    convolutions after down-sampling, Adam 1e-3 with β = (0.5, 0.999), one D step per G
    step, conditional scales and shifts initialised with a little noise so that the concepts
    start apart, and loss weights chosen on MNIST: with a weaker detector or concept term
    the concepts often collapse into one change, or one concept turns into a marker the
    classifier recognises and stops lowering the score (the user guide gives the runs).

    A pickled explainer holds its networks' weights as numpy arrays; unpickling rebuilds
    them on the CPU. The detector is pickled as it is (a ConvAutoencoder the same way).

    ``fit(X_normal, X_anomalous)``, the call of earlier versions, still works for one more
    release but warns: pass ``fit(np.concatenate([X_normal, X_anomalous]), y)`` with ``y`` 1 for
    the normal and -1 for the anomalous images instead.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sknovel.explain import CounterfactualExplainer
    >>> def detector(x):  # bright images are anomalous
    ...     return torch.sigmoid(20 * (x.mean(dim=(1, 2, 3)) - 0.5))
    >>> rng = np.random.default_rng(0)
    >>> normal = (rng.random((16, 8, 8)) * 0.6).astype(np.float32)
    >>> explainer = CounterfactualExplainer(detector, epochs=1, width=4, random_state=0)
    >>> explanation = explainer.fit(normal).explain(1 - normal[:3])
    >>> explanation.counterfactuals.shape, explanation.scores.shape
    ((3, 2, 8, 8), (3, 2))

    Known anomalies (or outlier-exposure images) join the normal images in ``X``, labelled
    -1 in ``y`` as scikit-learn's outlier detectors' ``predict`` labels them:

    >>> X = np.concatenate([normal, 1 - normal[:8]])
    >>> y = np.r_[np.ones(16), -np.ones(8)]
    >>> explainer.fit(X, y).n_anomalous_
    8
    """

    _parameter_constraints = {
        "detector": "no_validation",  # checked in fit, which says what is needed
        "n_concepts": [Interval(Integral, 1, None, closed="left")],
        "target": [StrOptions({"typical"}), Interval(Real, 0, THRESHOLD, closed="left")],
        "target_quantile": [Interval(Real, 0, 1, closed="both")],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "generator_output": [StrOptions({"auto", "image", "blend"})],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_decay": ["boolean"],
        "calibrate_target": ["boolean"],
        "lambda_detector": [Interval(Real, 0, None, closed="left")],
        "lambda_reconstruction": [Interval(Real, 0, None, closed="left")],
        "lambda_concept": [Interval(Real, 0, None, closed="left")],
        "adversarial": ["boolean"],
        "lambda_adversarial": [Interval(Real, 0, None, closed="left")],
        "lambda_proximity": [Interval(Real, 0, None, closed="left")],
        "max_restarts": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "device": "no_validation",  # checked by resolve_device, which names the parameter
        "verbose": ["verbose"],
    }

    _module_attributes = ("generator_", "concept_classifier_", "discriminator_")

    # X_anomalous is a deprecated argument of fit, not metadata to route.
    __metadata_request__fit = {"X_anomalous": metadata_routing.UNUSED}

    def __init__(
        self,
        detector,
        *,
        n_concepts=2,
        target="typical",
        target_quantile=0.6,
        n_bins=3,
        width=16,
        generator_output="auto",
        epochs=20,
        batch_size=32,
        learning_rate=1e-3,
        learning_rate_decay=True,
        calibrate_target=True,
        lambda_detector=6.0,
        lambda_reconstruction=10.0,
        lambda_concept=10.0,
        adversarial=True,
        lambda_adversarial=1.0,
        lambda_proximity=0.0,
        max_restarts=1,
        random_state=None,
        device=None,
        verbose=0,
    ):
        self.detector = detector
        self.n_concepts = n_concepts
        self.target = target
        self.target_quantile = target_quantile
        self.n_bins = n_bins
        self.width = width
        self.generator_output = generator_output
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.calibrate_target = calibrate_target
        self.lambda_detector = lambda_detector
        self.lambda_reconstruction = lambda_reconstruction
        self.lambda_concept = lambda_concept
        self.adversarial = adversarial
        self.lambda_adversarial = lambda_adversarial
        self.lambda_proximity = lambda_proximity
        self.max_restarts = max_restarts
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, X_anomalous=None):
        """Train the generator and the concept classifier on normal and anomalous images.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Training images, uint8 in [0, 255] or float in [0, 1], C in {1, 3, 4}; of the
            detector's ``input_shape_`` when it has one. Normal images (e.g. the detector's
            training images) and, optionally, images with high anomaly scores: known
            anomalies or outlier-exposure images.
        y : array-like of shape (n,), default=None
            1 for a normal image, -1 for an anomalous one (what scikit-learn's outlier
            detectors' ``predict`` returns). None: all images are normal. When no image is
            labelled -1, pseudo-anomalies are made by corrupting the normal images (see
            Notes).
        X_anomalous : ndarray of shape (m, H, W) or (m, H, W, C), default=None
            Deprecated: the anomalous images of the old call ``fit(X_normal, X_anomalous)``
            (also taken when `y` is an array of images); it will be removed in the next
            release. Put them in `X` and label them -1 in `y` instead.

        Returns
        -------
        self : CounterfactualExplainer
            The fitted explainer.
        """
        score = make_detector_score(self.detector)
        X, y = _from_old_call(X, y, X_anomalous)
        images = self._check_training_images(X)
        labels = check_outlier_labels(y, len(images))
        normal = images[labels == 1]
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        self.input_shape_ = tuple(int(v) for v in images.shape[1:])
        self.generator_output_ = self._generator_output()
        self.score_scale_ = score.scale
        self.threshold_ = THRESHOLD
        with score.frozen():
            check_detector_output(score, _to_tensor(normal[: self.batch_size], device))
            anomalous = self._anomalous_images(images[labels == -1], normal, score, device, rng)
            images = np.concatenate([normal, anomalous])
            self.n_normal_, self.n_anomalous_ = len(normal), len(anomalous)
            self.training_scores_ = _scores(score, images, self.batch_size, device)
            check_score_range(self.training_scores_)
            self.target_score_, self.target_source_ = self._target_score(
                self.training_scores_[: len(normal)], score.held_out_scores()
            )
            self.bin_values_ = np.linspace(self.target_score_, 1, self.n_bins)
            attempts = []
            for restart in range(self.max_restarts + 1):
                self._build_networks(device, rng)
                calibration = self._calibration_images(images)
                self._train(score, images, rng, device, calibration, restart=restart)
                attempts.append(self._trained_state(self._training_validity(images)))
                if not attempts[-1]["training_validity_"] < RESTART_VALIDITY:  # or NaN
                    break
        self.training_validity_per_attempt_ = [a["training_validity_"] for a in attempts]
        self.n_restarts_ = len(attempts) - 1
        best = max(attempts, key=lambda attempt: attempt["training_validity_"])
        self.__dict__.update(best)
        self._warn_if_not_converged(images)
        return self

    def _trained_state(self, training_validity):
        """What one training attempt learned, by attribute name (references, not copies:
        the next attempt builds new networks and new lists)."""
        names = (*self._module_attributes, *TRAINED_ATTRIBUTES)
        state = {name: getattr(self, name) for name in names}
        state["training_validity_"] = training_validity
        return state

    def _training_validity(self, images):
        """Validity of the counterfactuals of the training images called anomalous."""
        called_anomalous = self._called_anomalous(images)
        if not len(called_anomalous):
            return float("nan")
        scores = self.explain(called_anomalous).scores
        return float(np.mean(scores <= self.threshold_))

    def _warn_if_not_converged(self, images):
        """A ConvergenceWarning when the kept attempt's training validity is below 0.5."""
        validity = self.training_validity_
        if validity < RESTART_VALIDITY:
            called_anomalous = len(self._called_anomalous(images))
            remedies = [f"more epochs (now {self.epochs})"]
            remedies.append(f"a lower learning_rate (now {self.learning_rate})")
            if not self.learning_rate_decay:
                remedies.append("learning_rate_decay=True")
            attempts = f" (best of {self.n_restarts_ + 1} attempts)" if self.n_restarts_ else ""
            warnings.warn(
                f"Training did not converge: only {validity:.0%} of the counterfactuals of "
                f"{called_anomalous} training images the detector calls anomalous are "
                f"called normal (training_validity_){attempts}. Try {', '.join(remedies)} "
                f"or another random_state.",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit, past sklearn's fit wrapper
            )

    def _generator_output(self):
        """`generator_output`, with "auto" resolved for the detector (see the parameter)."""
        if self.generator_output != "auto":
            return self.generator_output
        reconstructs = callable(getattr(self.detector, "torch_reconstruct", None))
        return "image" if reconstructs else "blend"

    def _target_score(self, normal_scores, held_out_scores):
        """The lowest score level and where it comes from (see `target`)."""
        if self.target != "typical":
            return float(self.target), "target"
        if held_out_scores is not None and len(held_out_scores) >= MIN_HELD_OUT_IMAGES:
            scores, source = held_out_scores, "detector validation images"
        else:
            scores, source = normal_scores, "normal training images"
        typical = float(np.quantile(scores, self.target_quantile))
        if not typical < THRESHOLD:  # also NaN
            quantile = self.target_quantile
            what = "median score" if quantile == 0.5 else f"{quantile:g}-quantile of the scores"
            raise ValueError(
                f"target='typical' needs a detector that calls most normal images normal, but "
                f"the {what} of its {source} is {typical:.3g}, not below the threshold "
                f"{THRESHOLD}; check the detector and the labels y, lower target_quantile, or "
                f"pass a float target in [0, {THRESHOLD})."
            )
        return typical, source

    def _check_training_images(self, X):
        """`X` as float32 (n, H, W, C) in [0, 1], of the detector's input shape if it has one."""
        images = check_image_array(X, name="X")
        expected = getattr(self.detector, "input_shape_", None)
        if expected is not None and images.shape[1:] != tuple(expected):
            raise ValueError(
                f"X has images of shape {images.shape[1:]} (height, width, channels), but the "
                f"detector was fitted on {tuple(expected)}."
            )
        if min(images.shape[1:3]) < 2:
            raise ValueError(
                f"X must hold images of at least 2×2 pixels; got shape {images.shape[1:]}."
            )
        return _as_float(images)

    def _anomalous_images(self, given, normal, score, device, rng):
        """The given anomalies, or pseudo-anomalies made from the normal images if none."""
        if len(given):
            self.n_pseudo_anomalies_above_threshold_ = None
            return given
        made, n_above = pseudo_anomalies(
            normal,
            lambda batch: _scores(score, batch, self.batch_size, device),
            THRESHOLD,
            rng,
        )
        self.n_pseudo_anomalies_above_threshold_ = n_above
        return made

    def _build_networks(self, device, rng):
        torch = import_torch()
        from sknovel.explain.counterfactuals._networks import build_networks

        self._network_config = {
            "channels": self.input_shape_[2],
            "n_concepts": self.n_concepts,
            "n_bins": self.n_bins,
            "width": self.width,
            "adversarial": bool(self.adversarial),
            "output": self.generator_output_,
        }
        with torch.random.fork_rng(devices=[]):  # seed the initialisation, not torch's state
            torch.manual_seed(torch_seed(rng))
            networks = build_networks(**self._network_config)
        for name, module in networks.items():
            setattr(self, name, None if module is None else module.to(device))

    def _called_anomalous(self, images):
        """The first VALIDITY_CHECK_SIZE training images the detector calls anomalous."""
        return images[self.training_scores_ > self.threshold_][:VALIDITY_CHECK_SIZE]

    def _calibration_images(self, images):
        """Training images whose counterfactuals calibrate the lowest level's loss target:
        those the detector calls anomalous, else the anomalous ones."""
        called_anomalous = self._called_anomalous(images)
        if not len(called_anomalous):
            return images[self.n_normal_ :][:VALIDITY_CHECK_SIZE]
        return called_anomalous

    @heap_slack()
    def _train(self, score, images, rng, device, calibration_images, restart=0):
        torch = import_torch()
        from sknovel.explain.counterfactuals._training import (
            TrainingStep,
            decay_factor,
            lowest_level_loss,
            next_correction,
        )

        step = TrainingStep(self, score, device)
        source = self.training_scores_.astype(np.float32)
        self.lowest_loss_target_, self.lowest_loss_weight_ = self.target_score_, 1.0
        correction = 0.0
        self.calibration_curve_ = []
        self.loss_curve_ = []
        self.loss_components_ = {term: [] for term in LOSS_TERMS}
        description = "CounterfactualExplainer.fit"
        if restart:
            description += f" (restart {restart} of at most {self.max_restarts})"
        bar = progress_bar(self.epochs, description, unit="epoch", verbose=self.verbose)
        with bar:
            for epoch in range(1, self.epochs + 1):
                if self.learning_rate_decay:
                    step.scale_learning_rate(decay_factor(epoch, self.epochs))
                totals, n_seen = dict.fromkeys(("total", *LOSS_TERMS), 0.0), 0
                for batch in training_batches(rng.permutation(len(images)), self.batch_size):
                    concepts = rng.randint(self.n_concepts, size=len(batch))
                    targets = rng.randint(self.n_bins, size=len(batch))
                    losses = step(
                        _to_tensor(images[batch], device),
                        torch.as_tensor(source[batch], device=device),
                        torch.as_tensor(concepts, device=device),
                        torch.as_tensor(targets, device=device),
                    )
                    for name, value in losses.items():
                        totals[name] += value * len(batch)
                    n_seen += len(batch)
                if not np.isfinite(totals["total"]):
                    raise ValueError(
                        f"Training diverged: the loss is not finite in epoch {epoch}; lower "
                        f"learning_rate (now {self.learning_rate})."
                    )
                self.loss_curve_.append(totals["total"] / n_seen)
                for term in LOSS_TERMS:
                    if term in step.terms:
                        self.loss_components_[term].append(totals[term] / n_seen)
                if self.calibrate_target and epoch >= CALIBRATION_START * self.epochs:
                    scores = self._lowest_level_scores(score, calibration_images, device)
                    median = float(np.median(scores))
                    correction = next_correction(correction, median, self.target_score_)
                    loss = lowest_level_loss(correction, self.target_score_)
                    self.lowest_loss_target_, self.lowest_loss_weight_ = loss
                    step.set_lowest_level_loss(*loss)
                    self.calibration_curve_.append((median, *loss))
                bar.set_postfix(self._last_losses(), refresh=False)
                bar.update()
        self.n_epochs_ = self.epochs
        step.finish()

    def _lowest_level_scores(self, score, images, device):
        """Detector scores of the lowest-level counterfactuals of `images`, every concept."""
        torch = import_torch()
        generator = self.generator_
        was_training = generator.training
        generator.eval()
        scores = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                x = _to_tensor(images[start : start + self.batch_size], device)
                for k in range(self.n_concepts):
                    scores.append(score(self._lowest_level(generator, x, k)))
        generator.train(was_training)
        return _numpy(torch.cat(scores))

    def _lowest_level(self, generator, x, concept):
        """G(x, bin_values_[0], concept): the counterfactuals explanations show."""
        torch = import_torch()
        condition = torch.full((len(x),), concept * self.n_bins, device=x.device)
        return generator(x, condition)

    def _last_losses(self):
        """The total loss and each recorded term of the last epoch, for the progress bar."""
        last = {"loss": self.loss_curve_[-1]}
        last.update((term, values[-1]) for term, values in self.loss_components_.items() if values)
        return last

    def _check_images(self, X):
        return check_fitted_images(X, self, fitted_attribute="generator_")

    def anomaly_score(self, X):
        """The detector's anomaly score in [0, 1] of each image (above 0.5: anomalous).

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images of the fitted shape, uint8 or float in [0, 1].

        Returns
        -------
        scores : ndarray of shape (n,), float64
            φ(x): for a protocol detector ``1 - exp(-max(d, 0) / score_scale_)`` with
            ``d = -torch_score_samples(x)``.
        """
        images = self._check_images(X)
        score = self._fitted_score()
        device = next(self.generator_.parameters()).device
        with score.frozen():
            return _scores(score, images, self.batch_size, device)

    def _fitted_score(self):
        """φ with the mapping fixed in ``fit`` (a refitted detector keeps its old scale)."""
        return DetectorScore(self.detector, self.score_scale_)

    @heap_slack()
    def explain(self, X):
        """K counterfactuals of each image, with the detector's scores.

        Each counterfactual is G(x, ``target_score_``, k): the image changed, in the way of
        concept k, towards the detector's target score (by default the typical score of
        normal images, see `target`).

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C)
            Images to explain (typically anomalies), of the fitted shape, uint8 or float in
            [0, 1].

        Returns
        -------
        explanation : Bunch
            ``counterfactuals``: float32 in [0, 1], shape (n, K, H, W) for (n, H, W) input,
            (n, K, H, W, C) otherwise; ``scores``: (n, K) detector scores of the
            counterfactuals; ``original_scores``: (n,) those of the images;
            ``concept_probabilities``: (n, K, K), the concept classifier's probability of
            each concept (last axis) for the pair (image, counterfactual k);
            ``threshold``: the score above which an image is anomalous; and
            ``target_score``: the score the counterfactuals were made to have.
        """
        torch = import_torch()
        images = self._check_images(X)
        score = self._fitted_score()
        generator = self.generator_.eval()
        classifier = self.concept_classifier_.eval()
        device = next(generator.parameters()).device
        parts = {"counterfactuals": [], "scores": [], "original": [], "concepts": []}
        with score.frozen(), torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                x = _to_tensor(images[start : start + self.batch_size], device)
                parts["original"].append(score(x))
                changed, scores, concepts = [], [], []
                for k in range(self.n_concepts):
                    counterfactual = self._lowest_level(generator, x, k)
                    changed.append(tensor_to_images(counterfactual))
                    scores.append(score(counterfactual))
                    concepts.append(torch.sigmoid(classifier(x, counterfactual)))
                parts["counterfactuals"].append(np.stack(changed, axis=1))
                parts["scores"].append(torch.stack(scores, dim=1))
                parts["concepts"].append(torch.stack(concepts, dim=1))
        counterfactuals = np.concatenate(parts["counterfactuals"])
        if np.ndim(X) == 3:
            counterfactuals = counterfactuals[..., 0]
        return Bunch(
            counterfactuals=counterfactuals,
            scores=_numpy(torch.cat(parts["scores"])),
            original_scores=_numpy(torch.cat(parts["original"])),
            concept_probabilities=_numpy(torch.cat(parts["concepts"])),
            threshold=self.threshold_,
            target_score=self.target_score_,
        )

    def __setstate__(self, state):
        # Explainers pickled before these parameters existed drew the image at a constant
        # step size.
        state.setdefault("generator_output", "image")
        state.setdefault("learning_rate_decay", False)
        state.setdefault("calibrate_target", False)
        state.setdefault("target_quantile", 0.5)
        state.setdefault("max_restarts", 0)
        if "training_validity_" in state:
            state.setdefault("n_restarts_", 0)
            state.setdefault("training_validity_per_attempt_", [state["training_validity_"]])
        if "input_shape_" in state:  # fitted before "auto" existed: the parameter was the choice
            state.setdefault("generator_output_", state["generator_output"])
        if "target_score_" in state:
            state.setdefault("lowest_loss_target_", state["target_score_"])
            state.setdefault("lowest_loss_weight_", 1.0)
            state.setdefault("calibration_curve_", [])
            state.setdefault(
                "target_source_",
                "target" if state.get("target") != "typical" else "normal training images",
            )
        super().__setstate__(state)

    def _build_modules(self):
        from sknovel.explain.counterfactuals._networks import build_networks

        return build_networks(**self._network_config)


def _from_old_call(X, y, X_anomalous):
    """(X, y) of the call ``fit(X_normal, X_anomalous)`` of earlier versions, with a warning.

    The anomalous images come as `X_anomalous` or, positionally, as `y` (an array of images:
    3 or 4 dimensions; labels have 1). Other calls are returned unchanged.
    """
    if X_anomalous is None and (y is None or _ndim(y) < 3):
        return X, y
    if X_anomalous is not None and y is not None:
        raise ValueError(
            "Pass the anomalous images in X, labelled -1 in y; X_anomalous (deprecated) "
            "cannot be combined with y."
        )
    anomalous = y if X_anomalous is None else X_anomalous
    warnings.warn(
        "CounterfactualExplainer.fit(X_normal, X_anomalous) is deprecated and will be removed "
        "in the next release; put all images in X and label them in y (1 normal, -1 "
        "anomalous): fit(np.concatenate([X_normal, X_anomalous]), "
        "y=np.r_[np.ones(n), -np.ones(m)]).",
        FutureWarning,
        stacklevel=4,  # past _from_old_call, fit and _fit_context's wrapper
    )
    normal = check_image_array(X, name="X")
    anomalous = check_image_array(anomalous, name="X_anomalous")
    if anomalous.shape[1:] != normal.shape[1:]:
        raise ValueError(
            f"X_anomalous has images of shape {anomalous.shape[1:]} (height, width, "
            f"channels) but X has {normal.shape[1:]}; they must match."
        )
    images = np.concatenate([_as_float(normal), _as_float(anomalous)])
    return images, np.r_[np.ones(len(normal)), -np.ones(len(anomalous))]


def _ndim(values):
    """Dimensions of an array-like; 1 when it has none that numpy can tell (ragged lists)."""
    try:
        return np.ndim(values)
    except ValueError:
        return 1


def _as_float(images):
    """(n, H, W, C) uint8 or float images → float32 in [0, 1]."""
    return to_unit_float(images)


def _to_tensor(batch, device):
    return images_to_tensor(_as_float(batch), device)


def _numpy(tensor):
    return tensor.detach().double().cpu().numpy()


def _scores(score, images, batch_size, device):
    """φ of (n, H, W, C) images, in batches, as float64 numpy."""
    torch = import_torch()
    with torch.no_grad():
        parts = [
            score(_to_tensor(images[start : start + batch_size], device))
            for start in range(0, len(images), batch_size)
        ]
    return _numpy(torch.cat(parts))
