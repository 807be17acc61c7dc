"""Sphinx configuration of the sknovel documentation.

Build (from the repository root; nothing here needs the network)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import inspect
import json
import os
import re
import sys
from importlib import import_module
from pathlib import Path

from sphinx.errors import ExtensionError

# The package is imported from this checkout, so the docs build without installing it.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

import sknovel  # noqa: E402

# -- Project ------------------------------------------------------------------------------------

project = "sknovel"
author = "The sknovel developers"
copyright = "The sknovel developers"
release = sknovel.__version__
version = ".".join(release.split(".")[:2])

# -- General ------------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md"]
root_doc = "index"
default_role = "literal"
add_module_names = False

# No intersphinx: the build must work offline, so references to scikit-learn and numpy stay
# plain text (Sphinx does not warn about them unless nitpicky is set, which it is not).

# -- autodoc / autosummary / numpydoc ------------------------------------------------------------

autosummary_generate = True  # pages go to api/generated/ (the :toctree: of docs/api.rst)
autodoc_default_options = {"member-order": "bysource"}
autodoc_inherit_docstrings = True

# numpydoc would otherwise add a second, automatic members table to every class; the class
# template (_templates/autosummary/class.rst) lists and documents the methods instead.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True


def _public_names(module_name):
    module = import_module(module_name)
    names = getattr(module, "__all__", [])
    return [(module_name, name) for name in names if not name.startswith("__")]


def _defining_class(cls, name):
    for base in cls.__mro__:
        if name in vars(base):
            return base
    return None


def _sknovel_methods(cls):
    """Public methods of `cls` defined by sknovel itself, in a stable order.

    Methods inherited from scikit-learn (``get_params``, ``set_params``, the metadata-routing
    helpers, the whole of sklearn's ``Pipeline``) are documented by scikit-learn; their
    docstrings refer to labels of scikit-learn's own site and would not render here.
    """
    methods = []
    for name in dir(cls):
        if name.startswith("_") and name != "__call__":
            continue
        owner = _defining_class(cls, name)
        if owner is None or not owner.__module__.startswith("sknovel"):
            continue
        # getattr (not getattr_static) so that methods behind scikit-learn's available_if
        # descriptor (Pipeline.rank, .explain) count as the functions they are.
        # The module test drops what scikit-learn generates inside sknovel's classes (the
        # metadata-routing ``set_*_request`` methods).
        routine = getattr(cls, name, None)
        if inspect.isroutine(routine) and getattr(routine, "__module__", "").startswith("sknovel"):
            methods.append(name)
    order = ["fit", "partial_fit", "rank", "explain", "score_samples", "is_fitted_on"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


_DOCUMENTED_MODULES = [
    "sknovel",
    "sknovel.features",
    "sknovel.explain",
    "sknovel.metrics",
    "sknovel.plotting",
]
autosummary_context = {
    # {"sknovel.Demud": ["fit", ...], ...}: plain data, so Sphinx can cache the config.
    "sknovel_methods": {
        f"{module}.{name}": _sknovel_methods(getattr(import_module(module), name))
        for module_name in _DOCUMENTED_MODULES
        for module, name in _public_names(module_name)
        if inspect.isclass(getattr(import_module(module), name))
    },
}

# -- sphinx-gallery ------------------------------------------------------------------------------

# The examples run inside this process. Their matrices are small, so BLAS threads buy nothing,
# and on a busy machine OpenBLAS threads that wait for each other made an example 10-40x
# slower (15 s instead of 0.4 s); one thread keeps every example to a few seconds.
from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)

_blas_limits = threadpool_limits(limits=1, user_api="blas")
# The same holds for torch's threads: the autoencoder example trained 1.8x faster with one
# thread than with two while the machine's two cores were busy with other work.
try:
    import torch
except ImportError:  # pragma: no cover - the examples that need torch would fail anyway
    pass
else:
    torch.set_num_threads(1)

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "show_memory": False,
    # The execution-times pages load DataTables from a CDN; the per-example time is still
    # printed at the end of each example.
    "write_computation_times": False,
    # An example that raises fails the build (and none may skip itself: each runs on data that
    # sknovel or scikit-learn ships).
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
}

#: "Run time: about N s on 2 cores" (or "N min"), which every example's docstring states.
_STATED_TIME = re.compile(r"Run time: about (\d+(?:\.\d+)?) (s|min) on 2 cores")
#: An example fails the build when it takes longer than this many times its stated time.
_TIME_MARGIN = 2.0


def stated_run_time(source):
    """Seconds an example's docstring says it takes, or None when it says nothing."""
    match = _STATED_TIME.search(source)
    if match is None:
        return None
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def check_example_times(app):
    """Fail the build when an example states no run time or takes over twice what it states.

    Runs after sphinx-gallery has executed the examples (``builder-inited``, priority 900);
    the measured times are the ``<example>.cost.json`` files sphinx-gallery writes beside
    each generated page (for an example not rerun, those of its last run).
    """
    conf = app.config.sphinx_gallery_conf
    if not conf.get("plot_gallery", True) or str(conf.get("plot_gallery")) == "False":
        return
    source_dir = Path(app.srcdir) / "examples"
    target_dir = Path(app.srcdir) / "auto_examples"
    problems = []
    for example in sorted(source_dir.glob("plot_*.py")):
        stated = stated_run_time(example.read_text(encoding="utf-8"))
        if stated is None:
            problems.append(f"{example.name} does not state 'Run time: about N s on 2 cores'")
            continue
        cost = target_dir / f"{example.stem}.cost.json"
        if not cost.is_file():
            problems.append(f"{example.name} has no measured time ({cost} is missing)")
            continue
        measured = float(json.loads(cost.read_text())["time"])
        if measured > _TIME_MARGIN * stated:
            problems.append(
                f"{example.name} took {measured:.0f} s, over {_TIME_MARGIN:g} x its stated "
                f"{stated:.0f} s: make it faster or state a time that holds"
            )
    if problems:
        raise ExtensionError("Gallery run times:\n  " + "\n  ".join(problems))


# -- HTML ---------------------------------------------------------------------------------------

try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # pragma: no cover - the docs extra installs it
    html_theme = "alabaster"
    html_theme_options = {}
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        # Nothing fetched at build time or by the pages: no version switcher, no analytics,
        # no external icon links.
        "navbar_end": ["theme-switcher", "navbar-icon-links"],
        "icon_links": [],
        "show_prev_next": True,
        "navigation_with_keys": False,
        "secondary_sidebar_items": ["page-toc"],
    }
html_title = f"sknovel {release}"
html_show_sourcelink = False
html_sidebars = {"index": [], "install": [], "benchmarks": []}


# -- Docstrings of module-level instances ----------------------------------------------------------


def _instance_comment(app, what, name, obj, options, lines):
    """Use the ``#:`` comment of a module-level instance (e.g. ``discovery_scorer``).

    autodoc documents such an object under its public module (``sknovel.metrics``), where the
    comment is not, and falls back to the docstring of its *class*; read the comment from the
    module that defines the class instead.
    """
    if what != "data" or inspect.isclass(obj) or inspect.isroutine(obj) or not lines:
        return
    if obj.__doc__ is None or "\n".join(lines).strip() != inspect.cleandoc(obj.__doc__).strip():
        return
    from sphinx.pycode import ModuleAnalyzer

    attribute = name.rsplit(".", 1)[-1]
    comments = ModuleAnalyzer.for_module(type(obj).__module__).find_attr_docs()
    comment = comments.get(("", attribute))
    if comment:
        lines[:] = [line for line in comment if line.strip()] + [
            "",
            f"An instance of :class:`{type(obj).__name__}`.",
        ]


def setup(app):
    # Before numpydoc (priority 500) so that numpydoc formats the replacement text.
    app.connect("autodoc-process-docstring", _instance_comment, priority=400)
    # After sphinx-gallery's generate_gallery_rst (default priority 500) has run the examples.
    app.connect("builder-inited", check_example_times, priority=900)
