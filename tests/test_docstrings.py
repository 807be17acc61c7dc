"""Every public name has a numpydoc docstring that documents its parameters and returns."""

import importlib
import inspect

import pytest

validate = pytest.importorskip("numpydoc.validate").validate

PUBLIC_MODULES = [
    "sknovel",
    "sknovel.datasets",
    "sknovel.detectors",
    "sknovel.explain",
    "sknovel.features",
    "sknovel.metrics",
    "sknovel.plotting",
    "sknovel.rankers",
    "sknovel.utils",
]
# GL08 no docstring, SS01 no summary, PR01/PR02 parameters missing or unknown, RT01 no Returns.
CHECKS = {"GL08", "SS01", "PR01", "PR02", "RT01"}
# Parameters documented by reference to scikit-learn's own class.
EXEMPT = {("sknovel.Pipeline", "PR01")}


def _public_names():
    seen = set()
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an optional dependency is missing
            continue
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            key = getattr(obj, "__module__", None), getattr(obj, "__qualname__", name)
            # Instances (e.g. the ready-made scorer) are documented by their class.
            if not (inspect.isclass(obj) or inspect.isroutine(obj)) or key in seen:
                continue
            seen.add(key)
            yield f"{module_name}.{name}"
            if inspect.isclass(obj):
                for attribute, value in vars(obj).items():
                    if attribute.startswith("_"):
                        continue
                    if callable(value) or isinstance(value, property):
                        yield f"{module_name}.{name}.{attribute}"


@pytest.mark.parametrize("name", sorted(set(_public_names())))
def test_public_docstring(name):
    errors = [
        f"{code}: {message}"
        for code, message in validate(name)["errors"]
        if code in CHECKS and (name, code) not in EXEMPT
    ]
    assert not errors, f"{name}:\n" + "\n".join(errors)
