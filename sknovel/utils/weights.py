"""Verify and read weights files: the sha256 a file's name promises, ``weights_only`` loading.

A file whose name carries a hash prefix (torchvision's ``<name>-<first hex digits of
sha256>.pth`` convention) must have a sha256 that starts with it; files load with
``torch.load(weights_only=True)``, so a weights file cannot run code.
"""

import hashlib
import re
from pathlib import Path

from sknovel.utils.tensors import import_torch

#: A hash prefix before the suffix of a weights file's name.
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.(?:pth|pt|bin|ckpt)$")
_verified = {}


def check_name_hash(path):
    """Check the sha256 that a file's name promises (none promised: nothing to check).

    Parameters
    ----------
    path : pathlib.Path or importlib.resources.abc.Traversable

    Raises
    ------
    ValueError
        If the file's sha256 does not start with the hex digits in its name.
    """
    match = HASH_IN_NAME.search(path.name)
    if match is None:
        return
    digest = file_sha256(path)
    if not digest.startswith(match.group(1)):
        raise ValueError(
            f"Weights file {str(path)!r} fails its hash check: its name promises a sha256 "
            f"starting {match.group(1)}, but the file's is {digest[:16]}...; the file "
            "is corrupt or not the one its name says."
        )


def file_sha256(path):
    """Hex sha256 of a file, remembered per (path, size, mtime) for files on disk.

    Parameters
    ----------
    path : pathlib.Path or importlib.resources.abc.Traversable

    Returns
    -------
    digest : str
    """
    key = None
    if isinstance(path, Path):
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key in _verified:
            return _verified[key]
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    if key is not None:
        _verified[key] = digest.hexdigest()
    return digest.hexdigest()


def read_weights_file(path):
    """Check a weights file's name hash and load it with ``weights_only=True`` on the CPU.

    Parameters
    ----------
    path : pathlib.Path or importlib.resources.abc.Traversable

    Returns
    -------
    contents : object
        What was saved: tensors, and dicts, lists and numbers of them.

    Raises
    ------
    ValueError
        If the hash check fails or the file cannot be read as a weights file.
    """
    torch = import_torch()
    check_name_hash(path)
    try:
        with path.open("rb") as file:
            return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"Cannot read weights file {str(path)!r}: {error}") from error
