"""Shared helpers for the torch-based parts: import, device choice, seeding, image tensors.

torch is an optional dependency (``pip install "sknovel[torch]"``); every torch-based estimator
imports it through :func:`import_torch`, so that a missing install gives one clear message.
"""

import contextlib

import numpy as np


def import_torch():
    """Import and return torch, or raise an ImportError that says how to install it.

    Returns
    -------
    torch : module
    """
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "This part of sknovel needs PyTorch: pip install torch==2.14.1 torchvision==0.29.1 "
            'then pip install "sknovel[torch]".'
        ) from error
    return torch


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run a block with ``torch.set_num_threads(n_threads)``, restoring the old setting.

    Does nothing when torch is not installed.
    """
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def mkldnn_enabled(enabled):
    """Run a block with oneDNN (``torch.backends.mkldnn``) switched on or off, then restore it.

    Unlike ``torch.backends.mkldnn.flags``, touches no other oneDNN setting (and so raises no
    warning about TF32). The flag is read when a kernel is chosen, so a backward pass must run
    inside the block too for it to apply there. Does nothing when torch is not installed.
    """
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = bool(enabled)
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def resolve_device(device, *, name="device"):
    """Turn a ``device`` parameter (None, "cpu", "cuda", "cuda:1", torch.device) into a device.

    None means "cuda" when a GPU is available, else "cpu". Asking for a device that this
    machine does not have raises a ValueError naming the parameter.

    Parameters
    ----------
    device : None, str or torch.device
    name : str, default="device"
        Parameter name used in error messages.

    Returns
    -------
    device : torch.device
    """
    torch = import_torch()
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{name}={device!r} is not a torch device name.") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} asks for a GPU, but torch sees none here.")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{name}={device!r}: only cpu, cuda and mps devices are supported.")
    return resolved


def torch_seed(random_state):
    """A seed for ``torch.Generator`` / ``torch.manual_seed`` drawn from ``random_state``.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState
        As scikit-learn's ``random_state``.

    Returns
    -------
    seed : int
    """
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def images_to_tensor(batch, device=None, dtype=np.float32):
    """(n, H, W, C) float images → (n, C, H, W) tensor of numpy `dtype` (on ``device``)."""
    torch = import_torch()
    tensor = torch.from_numpy(np.ascontiguousarray(np.moveaxis(batch, -1, 1), dtype=dtype))
    return tensor if device is None else tensor.to(device)


def tensor_to_images(tensor):
    """(n, C, H, W) tensor → (n, H, W, C) float32 numpy array on the CPU."""
    return np.moveaxis(tensor.detach().float().cpu().numpy(), 1, -1)
