"""The detector a counterfactual explainer explains, as a differentiable score in [0, 1].

Counterfactual training pushes the detector's score of generated images towards a target, so
it needs the score as a torch function of the image with a gradient. Two kinds of detector are
accepted, told apart by what they offer, not by their class:

* a fitted detector following :ref:`the detector protocol <detector-protocol>` (such as
  :class:`~sknovel.detectors.ConvAutoencoder`): it has ``torch_score_samples`` and the
  threshold ``offset_``; its score is mapped to [0, 1] by :func:`protocol_anomaly_score`;
* a ``torch.nn.Module`` or any callable mapping an (n, C, H, W) float tensor in [0, 1] to one
  anomaly score in [0, 1] per image, differentiably (e.g. a sigmoid classifier head).

Either way an image is called anomalous when its score exceeds :data:`THRESHOLD` = 0.5.
"""

import contextlib
import math

import numpy as np
from sklearn.exceptions import NotFittedError

from sknovel.utils.tensors import import_torch

#: Score above which an image is anomalous, for every detector (a protocol detector's own
#: threshold ``offset_`` is mapped onto it).
THRESHOLD = 0.5

_NEEDED = (
    "a fitted detector with torch_score_samples and offset_ (the detector protocol of "
    "sknovel.detectors, e.g. a ConvAutoencoder), a torch.nn.Module, or a callable that maps "
    "an (n, C, H, W) float tensor in [0, 1] to a differentiable torch tensor of n anomaly "
    "scores in [0, 1]"
)


def follows_protocol(detector):
    """Whether `detector` offers the differentiable score of the detector protocol."""
    return callable(getattr(detector, "torch_score_samples", None))


def protocol_scale(detector):
    """Scale s of ``1 - exp(-d / s)`` that maps the detector's threshold onto THRESHOLD.

    The threshold is ``d_t = -offset_`` (for a ConvAutoencoder, the ``1 - contamination``
    quantile of the training losses); ``1 - exp(-d_t / s) = 0.5`` gives ``s = d_t / ln 2``.
    """
    threshold_loss = max(-float(detector.offset_), np.finfo(np.float32).tiny)
    return threshold_loss / math.log(1 / (1 - THRESHOLD))


def protocol_anomaly_score(detector, x, scale):
    """φ(x) = 1 − exp(−max(d, 0) / s) with d = −``detector.torch_score_samples(x)``.

    This suits detectors whose ``score_samples`` is minus a non-negative loss (a
    reconstruction error, a distance), as the negative scores of scikit-learn's outlier
    detectors are: d ≥ 0 grows with how anomalous an image is, d = 0 maps to 0, and the
    detector's threshold ``-offset_`` maps to :data:`THRESHOLD` (see :func:`protocol_scale`).
    A ``score_samples`` above 0 (d < 0) maps to 0, the most normal score.

    Parameters
    ----------
    detector : object
        A fitted detector with ``torch_score_samples``.
    x : torch.Tensor of shape (n, C, H, W)
        Float pixels in [0, 1].
    scale : float
        s, from :func:`protocol_scale`.

    Returns
    -------
    scores : torch.Tensor of shape (n,)
        Differentiable with respect to `x`.
    """
    torch = import_torch()
    return -torch.expm1(-_loss_units(detector, x, scale))


def _loss_units(detector, x, scale):
    """max(d, 0) / s with d = −``detector.torch_score_samples(x)``, checked to be a tensor."""
    torch = import_torch()
    loss = -detector.torch_score_samples(x)
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"detector.torch_score_samples must return a torch tensor; it returned a "
            f"{type(loss).__name__}."
        )
    return loss.clamp(min=0) / scale


#: Probabilities are kept in [EPSILON, 1 - EPSILON] before their logarithm where they are
#: given as probabilities (a module or callable detector).
EPSILON = 1e-6


def protocol_log_probabilities(detector, x, scale):
    """log φ(x) and log(1 − φ(x)) of :func:`protocol_anomaly_score`, from the loss d itself.

    log(1 − φ) = −max(d, 0) / s exactly, with its gradient however anomalous the image: a
    confident detector (an outlier-exposure one) gives most anomalies a φ that rounds to 1
    in float32, where the logarithm of a clipped probability has no gradient at all.
    log φ = log(1 − exp(−max(d, 0) / s)), its argument kept at least EPSILON.
    """
    torch = import_torch()
    units = _loss_units(detector, x, scale)
    return torch.log(-torch.expm1(-units.clamp(min=EPSILON))), -units


class DetectorScore:
    """φ: (n, C, H, W) tensor in [0, 1] → (n,) anomaly score in [0, 1], differentiable.

    Parameters
    ----------
    detector : object, torch.nn.Module or callable
        A protocol detector (when `scale` is given), or a module or callable giving scores.
    scale : float or None
        The protocol detector's score scale (see :func:`protocol_scale`); None for a module
        or callable, whose scores are used as they are.
    """

    def __init__(self, detector, scale=None):
        self.detector = detector
        self.scale = scale

    def __call__(self, x):
        torch = import_torch()
        if self.scale is not None:
            scores = protocol_anomaly_score(self.detector, x, self.scale)
        else:
            device = _module_device(self.detector)
            scores = self.detector(x if device is None else x.to(device))
            if isinstance(scores, torch.Tensor) and scores.ndim == 2 and scores.shape[1] == 1:
                scores = scores[:, 0]
        if not isinstance(scores, torch.Tensor):
            raise TypeError(
                f"detector must be {_NEEDED}; calling it returned a {type(scores).__name__}, "
                "not a torch tensor, so its score cannot be differentiated."
            )
        return scores.to(x.device, torch.float32)

    def log_probabilities(self, x):
        """log φ(x) and log(1 − φ(x)), each of shape (n,), for the binary cross-entropy.

        For a protocol detector from its loss (:func:`protocol_log_probabilities`), so that
        the gradient does not vanish where φ rounds to 1; otherwise the logarithms of φ
        clipped to [EPSILON, 1 - EPSILON].
        """
        torch = import_torch()
        if self.scale is not None:
            log_score, log_complement = protocol_log_probabilities(self.detector, x, self.scale)
            return log_score.to(x.device, torch.float32), log_complement.to(x.device, torch.float32)
        score = self(x).clamp(EPSILON, 1 - EPSILON)
        return score.log(), (1 - score).log()

    def held_out_scores(self):
        """φ of the normal images the detector held out from training, or None.

        A protocol detector that records ``validation_scores_`` (``score_samples`` of its
        held-out normal images, as :class:`~sknovel.detectors.ConvAutoencoder` and
        :class:`~sknovel.detectors.OutlierExposureDetector` do) gives them mapped as
        :func:`protocol_anomaly_score` maps a batch; any other detector gives None.
        """
        raw = getattr(self.detector, "validation_scores_", None)
        if self.scale is None or raw is None:
            return None
        losses = np.maximum(-np.asarray(raw, dtype=np.float64), 0)
        return -np.expm1(-losses / self.scale)

    @contextlib.contextmanager
    def frozen(self):
        """Eval mode and no weight gradients for the detector's modules; restored on exit.

        Batch norm and dropout layers must not change the detector while it is being
        explained; freezing its weights spares computing their gradients. The modules are the
        detector itself when it is a torch module, else the torch modules among its
        attributes (a ConvAutoencoder's ``module_``).
        """
        modules = _modules_of(self.detector)
        states = [(module, module.training) for module in modules]
        flags = [(p, p.requires_grad) for module in modules for p in module.parameters()]
        for module in modules:
            module.eval()
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        try:
            yield self
        finally:
            for parameter, flag in flags:
                parameter.requires_grad_(flag)
            for module, training in states:
                module.train(training)


def _modules_of(detector):
    """The torch modules that make up `detector`: itself, or those among its attributes."""
    torch = import_torch()
    if isinstance(detector, torch.nn.Module):
        return [detector]
    attributes = getattr(detector, "__dict__", {}).values()
    return [value for value in attributes if isinstance(value, torch.nn.Module)]


def _module_device(module):
    """Device of a module's first parameter or buffer; None for a callable without them."""
    torch = import_torch()
    if not isinstance(module, torch.nn.Module):
        return None
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return None


def make_detector_score(detector):
    """Check `detector` and wrap it as a :class:`DetectorScore`.

    Raises
    ------
    NotFittedError
        For a protocol detector without ``offset_`` (not fitted).
    TypeError
        For a detector that gives no differentiable score, naming what is missing.
    """
    torch = import_torch()
    if follows_protocol(detector):
        if not hasattr(detector, "offset_"):
            raise NotFittedError(
                f"detector ({type(detector).__name__}) is not fitted: it has "
                "torch_score_samples but no threshold offset_; fit it on normal images first."
            )
        return DetectorScore(detector, protocol_scale(detector))
    if isinstance(detector, torch.nn.Module) or (
        callable(detector) and not hasattr(detector, "fit")
    ):
        return DetectorScore(detector)
    raise TypeError(
        f"detector must be {_NEEDED}; got {type(detector).__name__}, which has no "
        "torch_score_samples method and so gives no differentiable score of the image (wrap "
        "a differentiable torch model instead)."
    )


def check_detector_output(score, x):
    """Probe φ on a batch `x` (a leaf tensor): n finite scores in [0, 1] with a gradient."""
    torch = import_torch()
    probe = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        try:
            scores = score(probe)
        except Exception as error:
            if str(error).startswith(("detector must be", "detector.torch_score_samples")):
                raise
            raise TypeError(
                f"detector must be {_NEEDED}; calling it on a tensor of shape "
                f"{tuple(probe.shape)} failed: {error}"
            ) from error
        if scores.shape != (len(probe),):
            raise ValueError(
                f"detector must return one score per image, shape ({len(probe)},); got shape "
                f"{tuple(scores.shape)} for a batch of shape {tuple(probe.shape)}."
            )
        if not scores.requires_grad:
            raise TypeError(
                f"detector must be {_NEEDED}; its scores do not depend differentiably on the "
                "image (no gradient; was it computed under torch.no_grad or via numpy?)."
            )
    check_score_range(scores.detach())


def check_score_range(scores):
    """Raise a ValueError unless every score (tensor or array) is finite and in [0, 1]."""
    scores = np.asarray(scores.cpu() if hasattr(scores, "cpu") else scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ValueError(
            f"detector must return anomaly scores in [0, 1]; got values in "
            f"[{np.nanmin(scores):.4g}, {np.nanmax(scores):.4g}]. Map an unbounded score "
            "d >= 0 first, e.g. lambda x: 1 - torch.exp(-d(x))."
        )
