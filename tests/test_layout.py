"""The package's layout rules: no module imports a private name of another package."""

import ast
from pathlib import Path

import sknovel

PACKAGE_ROOT = Path(sknovel.__file__).parent


def _module_name(path):
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module, is_package):
    return module if is_package else module.rpartition(".")[0]


def _absolute(node, package):
    """The absolute name of the module an ImportFrom node imports from."""
    if not node.level:
        return node.module
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _private_owner(dotted):
    """The package that owns the first private part of `dotted` (None if all public)."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def _within(package, owner):
    return package == owner or package.startswith(owner + ".")


def cross_package_private_imports():
    """(file, line, imported) for every import of a private name from another package."""
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        module = _module_name(path)
        package = _package_of(module, path.name == "__init__.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node, package)
                targets = [f"{source}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if not target.startswith("sknovel"):
                    continue
                owner = _private_owner(target)
                if owner is not None and not _within(package, owner):
                    found.append((str(path.relative_to(PACKAGE_ROOT)), node.lineno, target))
    return found


def test_no_module_imports_another_packages_private_name():
    found = cross_package_private_imports()
    assert not found, "imports of another package's private names:\n" + "\n".join(
        f"  {file}:{line}: {target}" for file, line, target in found
    )


def test_the_rule_is_checked():
    # The checker itself: a private module of another package is found, one's own is not.
    assert _private_owner("sknovel.features._cnn.CNNFeaturizer") == "sknovel.features"
    assert _private_owner("sknovel.features.fit_to_size") is None
    assert _within("sknovel.explain.heatmaps", "sknovel.explain")
    assert not _within("sknovel.plotting", "sknovel.metrics")
