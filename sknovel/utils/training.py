"""Pieces of a torch training loop shared by the trained detectors and explainers.

Validation split (and how many held-out images are enough to set a threshold on),
mini-batches, early stopping that keeps the best weights, one progress line per epoch, and a
CPU-loadable pickle state (numpy arrays instead of tensors).
"""

import copy

import numpy as np

from sknovel.utils.tensors import import_torch

#: Fewest held-out normal images whose scores set a detector's threshold ``offset_`` (and
#: CounterfactualExplainer's typical target); with fewer, the training images' scores do.
MIN_HELD_OUT_IMAGES = 20


def validation_split(n_samples, fraction, rng, *, name="X", min_train=2):
    """Sorted indices of the training and validation samples (validation may be empty).

    Parameters
    ----------
    n_samples : int
    fraction : float in [0, 1)
        ``ceil(fraction * n_samples)`` samples are held out at random.
    rng : numpy.random.RandomState
    name : str, default="X"
        Parameter name used in the error message.
    min_train : int, default=2
        Fewest training samples allowed.

    Returns
    -------
    train, validation : ndarray of int
    """
    n_validation = int(np.ceil(fraction * n_samples))
    if n_samples - n_validation < min_train:
        raise ValueError(
            f"{name} must hold at least {min_train} training samples after holding out "
            f"validation_fraction={fraction}; got {n_samples} samples."
        )
    order = rng.permutation(n_samples)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def training_batches(order, batch_size):
    """Split `order` into batches of `batch_size`, merging a last batch of one sample.

    A batch of one would break batch norm and gives a very noisy last step.
    """
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


class EarlyStopping:
    """Watch a loss per epoch; keep the weights of the best epoch; say when to stop.

    Parameters
    ----------
    module : torch.nn.Module
        The model being trained; its state is copied at every new best epoch when
        `keep_best` is true.
    n_iter_no_change : int or None
        Stop after this many epochs without improvement; None never stops early.
    keep_best : bool
        Whether to copy the best weights (and restore them in :meth:`restore`).
    tol : float, default=0.0
        An epoch counts as an improvement when its loss is below ``best - tol``.
    """

    def __init__(self, module, n_iter_no_change, keep_best, tol=0.0):
        self.module = module
        self.n_iter_no_change = n_iter_no_change
        self.keep_best = keep_best
        self.tol = tol
        self.best_loss, self.best_epoch, self.stale = np.inf, 0, 0
        self._best_state = None

    def update(self, epoch, loss):
        """Record the monitored `loss` of `epoch` (from 1); return True to stop training."""
        if loss < self.best_loss - self.tol:
            self.best_loss, self.best_epoch, self.stale = loss, epoch, 0
            if self.keep_best:
                self._best_state = copy.deepcopy(self.module.state_dict())
        else:
            self.stale += 1
        return self.n_iter_no_change is not None and self.stale >= self.n_iter_no_change

    def restore(self, last_epoch):
        """Load the best weights (when kept); return the epoch whose weights the module has."""
        if self._best_state is None:
            return last_epoch
        self.module.load_state_dict(self._best_state)
        self._best_state = None
        return self.best_epoch


def state_to_numpy(module):
    """A module's ``state_dict`` as numpy arrays on the CPU (for ``__getstate__``)."""
    return {key: value.detach().cpu().numpy() for key, value in module.state_dict().items()}


def load_numpy_state(module, state):
    """Load a state made by :func:`state_to_numpy` into `module`; return the module."""
    torch = import_torch()
    module.load_state_dict({key: torch.from_numpy(np.array(v)) for key, v in state.items()})
    return module


class NumpyModulePickleMixin:
    """Pickling for estimators holding fitted torch modules, loadable on a CPU-only machine.

    Each module attribute named in ``_module_attributes`` travels as its ``state_dict`` in
    numpy arrays, under ``_<name>state``; unpickling rebuilds the modules with
    ``_build_modules()`` (a dict ``{name: module or None}``, from what ``fit`` stored) and
    loads the weights into them, in eval mode. Put it before ``BaseEstimator`` in the bases.
    """

    _module_attributes = ("module_",)

    def _build_modules(self):
        raise NotImplementedError

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._module_attributes:
            module = state.pop(name, None)
            if module is not None:
                state[f"_{name}state"] = state_to_numpy(module)
        return state

    def __setstate__(self, state):
        weights = {name: state.pop(f"_{name}state", None) for name in self._module_attributes}
        self.__dict__.update(state)
        if all(value is None for value in weights.values()):  # not fitted
            return
        for name, module in self._build_modules().items():
            if module is not None:
                module = load_numpy_state(module, weights[name]).eval()
            setattr(self, name, module)
