"""Sphinx configuration of the sknovel documentation.

Build (from the repository root; nothing here needs the network)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import inspect
import os
import sys
from importlib import import_module

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
}

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
