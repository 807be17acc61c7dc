"""The detector a counterfactual explainer explains, as a differentiable score in [0, 1].

Counterfactual training pushes the detector's score of generated images towards a target, so
it needs the score as a torch function of the image with a gradient. Two kinds of detector are
accepted:

* a fitted :class:`~sknovel.detectors.ConvAutoencoder`, whose reconstruction loss d (minus its
  ``score_samples``, unbounded) is mapped to ``1 - exp(-d / scale)``;
* a ``torch.nn.Module`` or any callable mapping an (n, C, H, W) float tensor in [0, 1] to one
  anomaly score in [0, 1] per image, differentiably (e.g. a sigmoid classifier head).

Either way an image is called anomalous when its score exceeds :data:`THRESHOLD` = 0.5.
"""

import contextlib
import math

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sknovel.detectors._autoencoder import ConvAutoencoder, per_image_loss
from sknovel.utils.tensors import import_torch

#: Score above which an image is anomalous, for every detector (a ConvAutoencoder's own
#: threshold ``offset_`` is mapped onto it).
THRESHOLD = 0.5

_NEEDED = (
    "a fitted sknovel ConvAutoencoder, a torch.nn.Module, or a callable that maps an "
    "(n, C, H, W) float tensor in [0, 1] to a differentiable torch tensor of n anomaly "
    "scores in [0, 1]"
)


def autoencoder_scale(detector):
    """Scale s of ``1 - exp(-d / s)`` that maps the detector's threshold onto THRESHOLD.

    The threshold is the loss ``d_t = -offset_`` (the ``1 - contamination`` quantile of the
    training losses); ``1 - exp(-d_t / s) = 0.5`` gives ``s = d_t / ln 2``.
    """
    threshold_loss = max(-float(detector.offset_), np.finfo(np.float32).tiny)
    return threshold_loss / math.log(1 / (1 - THRESHOLD))


class DetectorScore:
    """φ: (n, C, H, W) tensor in [0, 1] → (n,) anomaly score in [0, 1], differentiable.

    Parameters
    ----------
    detector : ConvAutoencoder, torch.nn.Module or callable
    scale : float or None
        The ConvAutoencoder's loss scale (see :func:`autoencoder_scale`); None otherwise.
    """

    def __init__(self, detector, scale=None):
        self.detector = detector
        self.scale = scale
        self.module = detector.module_ if isinstance(detector, ConvAutoencoder) else detector

    def __call__(self, x):
        torch = import_torch()
        device = _module_device(self.module)
        inputs = x if device is None else x.to(device)
        if isinstance(self.detector, ConvAutoencoder):
            parameter = next(self.module.parameters())
            inputs = inputs.to(parameter.dtype)
            loss = per_image_loss(self.module(inputs), inputs)
            scores = -torch.expm1(-loss / self.scale)
        else:
            scores = self.module(inputs)
            if isinstance(scores, torch.Tensor) and scores.ndim == 2 and scores.shape[1] == 1:
                scores = scores[:, 0]
        if not isinstance(scores, torch.Tensor):
            raise TypeError(
                f"detector must be {_NEEDED}; calling it returned a {type(scores).__name__}, "
                "not a torch tensor, so its score cannot be differentiated."
            )
        return scores.to(x.device, torch.float32)

    @contextlib.contextmanager
    def frozen(self):
        """Eval mode and no weight gradients for a module detector; restored on exit.

        Batch norm and dropout layers must not change the detector while it is being
        explained; freezing its weights spares computing their gradients.
        """
        torch = import_torch()
        if not isinstance(self.module, torch.nn.Module):
            yield self
            return
        training = self.module.training
        flags = [(p, p.requires_grad) for p in self.module.parameters()]
        self.module.eval()
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        try:
            yield self
        finally:
            for parameter, flag in flags:
                parameter.requires_grad_(flag)
            self.module.train(training)


def _module_device(module):
    """Device of a module's first parameter or buffer; None for a callable without them."""
    torch = import_torch()
    if not isinstance(module, torch.nn.Module):
        return None
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return None


def make_detector_score(detector):
    """Check `detector` and wrap it as a :class:`DetectorScore`; raise TypeError if unusable."""
    torch = import_torch()
    if isinstance(detector, ConvAutoencoder):
        try:
            check_is_fitted(detector)
        except NotFittedError as error:
            raise NotFittedError(
                "detector is a ConvAutoencoder that is not fitted yet; fit it on normal images "
                "first."
            ) from error
        return DetectorScore(detector, autoencoder_scale(detector))
    if isinstance(detector, torch.nn.Module) or (
        callable(detector) and not hasattr(detector, "fit")
    ):
        return DetectorScore(detector)
    raise TypeError(
        f"detector must be {_NEEDED}; got {type(detector).__name__}, which gives no gradient "
        "of its score with respect to the image (wrap a differentiable torch model instead)."
    )


def check_detector_output(score, x):
    """Probe φ on a batch `x` (a leaf tensor): n finite scores in [0, 1] with a gradient."""
    torch = import_torch()
    probe = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        try:
            scores = score(probe)
        except Exception as error:
            if str(error).startswith("detector must be"):
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
