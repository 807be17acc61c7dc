"""Common checks for image transformers (featurizers) and for explainers.

Featurizers are checked in two layers.

scikit-learn's ``check_estimator`` feeds estimators 2-D numeric data, which image
transformers (tag ``two_d_array=False``) do not accept, so it runs only the cloneability
check on them. sknovel therefore checks every featurizer with

1. ``SKLEARN_DATA_FREE_CHECKS``: the checks of :mod:`sklearn.utils.estimator_checks` that
   need no data, called directly as ``check(name, featurizer)``;
2. its own image-aware checks, yielded by :func:`image_transformer_checks` and called as
   ``check(name, featurizer, images)``: shapes and feature names, determinism, clone,
   pickle, fitted state, bad input, greyscale and colour arrays, files, batching and a
   pipeline with :class:`sknovel.Demud`.

:func:`check_image_transformer` runs both layers on one featurizer.

Explainers (``docs/developers.rst``, "The explainer contract") are checked by
:func:`check_explainer`: the same data-free scikit-learn checks, then the checks yielded by
:func:`explainer_checks`, each called as ``check(name, explainer, X)``: parameters and
constraints, validation outside ``__init__``, the shape of ``explain``'s Bunch, the wrapped
models left unchanged, determinism, bad input and unfitted models.
"""

import contextlib
import io
import os
import pickle
import re
import tempfile
from functools import partial
from numbers import Integral
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import Bunch, get_tags
from sklearn.utils import estimator_checks as _sklearn_checks
from sklearn.utils.validation import check_is_fitted

from sknovel.utils.images import unit_range_problem

__all__ = [
    "SKLEARN_DATA_FREE_CHECKS",
    "check_explainer",
    "check_image_transformer",
    "explainer_checks",
    "image_transformer_checks",
]

#: scikit-learn checks that need no data, so apply to image transformers unchanged. Each is
#: called as ``check(name, estimator)``. The others need numeric 2-D ``X`` (for instance
#: ``check_dont_overwrite_parameters``); ``check_fit_keeps_parameters`` is their image
#: counterpart.
SKLEARN_DATA_FREE_CHECKS = [
    _sklearn_checks.check_estimator_cloneable,
    _sklearn_checks.check_estimator_tags_renamed,
    _sklearn_checks.check_valid_tag_types,
    _sklearn_checks.check_estimator_repr,
    _sklearn_checks.check_no_attributes_set_in_init,
    _sklearn_checks.check_do_not_raise_errors_in_init_or_set_params,
    _sklearn_checks.check_mixin_order,
    _sklearn_checks.check_parameters_default_constructible,
    _sklearn_checks.check_get_params_invariance,
    _sklearn_checks.check_set_params,
]

#: Tolerances where two computations may add in another order (batches, files vs arrays).
_RTOL, _ATOL = 1e-4, 1e-5
#: Absolute tolerance between features of files and of arrays: two grey levels.
_FILE_ATOL = 2 / 255


def _default_images(n_images=8, size=32, random_state=0):
    """Colour uint8 images (n, size, size, 3): random 4-pixel blocks plus a little noise.

    Blocks give corners and edges (SIFT finds keypoints in every image) and noise makes
    every pixel differ.
    """
    rng = np.random.default_rng(random_state)
    blocks = rng.random((n_images, size // 4, size // 4, 3))
    images = blocks.repeat(4, axis=1).repeat(4, axis=2)
    images += 0.05 * rng.standard_normal(images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)


def image_transformer_checks(featurizer):
    """Yield sknovel's image-aware checks that apply to `featurizer`.

    Checks on lists of file paths are yielded when the featurizer's ``string`` input tag is
    set, the batching check when it has a ``batch_size`` parameter, the progress check when it
    has ``verbose``.

    Parameters
    ----------
    featurizer : estimator
        An image transformer (images in, 2-D float features out).

    Yields
    ------
    check : callable
        ``check(name, featurizer, images=None)``; `images` are uint8 colour images
        (n, H, W, 3), n >= 4, and default to small random ones.

    Examples
    --------
    >>> from sknovel.features import PixelFeaturizer
    >>> from sknovel.utils.estimator_checks import image_transformer_checks
    >>> featurizer = PixelFeaturizer(size=(8, 8))
    >>> for check in image_transformer_checks(featurizer):
    ...     check("PixelFeaturizer", featurizer)
    """
    yield check_transform_output
    yield check_fit_transform_consistent
    yield check_deterministic
    yield check_fit_keeps_parameters
    yield check_clone
    yield check_pickle_round_trip
    yield check_not_fitted
    yield check_bad_input
    yield check_greyscale_and_colour
    yield check_float_matches_uint8
    yield check_row_order_and_subsets
    yield check_pipeline_with_demud
    params = featurizer.get_params()
    if "batch_size" in params:
        yield check_batch_size_invariance
    if "verbose" in params:
        yield check_verbose
    if get_tags(featurizer).input_tags.string:
        yield check_paths_match_arrays
        yield check_bad_files


def check_image_transformer(featurizer, images=None):
    """Run scikit-learn's data-free checks and sknovel's image checks on one featurizer.

    Parameters
    ----------
    featurizer : estimator
        An image transformer; it is cloned, never fitted itself.
    images : ndarray of shape (n, H, W, 3), uint8, default=None
        Images to check with, n >= 4; None uses small random ones.

    Raises
    ------
    AssertionError
        At the first check that fails (or that check's own exception).

    Examples
    --------
    >>> from sknovel.features import PixelFeaturizer
    >>> from sknovel.utils.estimator_checks import check_image_transformer
    >>> check_image_transformer(PixelFeaturizer(size=(8, 8)))
    """
    name = type(featurizer).__name__
    for check in SKLEARN_DATA_FREE_CHECKS:
        check(name, featurizer)
    for check in image_transformer_checks(featurizer):
        check(name, featurizer, images)


# -- helpers -------------------------------------------------------------------------------------


def _images(images):
    images = _default_images() if images is None else np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) < 4:
        raise ValueError(
            f"images must be uint8 colour images (n >= 4, H, W, 3); got {images.dtype} "
            f"{images.shape}."
        )
    return images


def _seeded(featurizer):
    """An unfitted clone, with random_state=0 where it has an unset one."""
    featurizer = clone(featurizer)
    if featurizer.get_params().get("random_state", 0) is None:
        featurizer.set_params(random_state=0)
    return featurizer


@contextlib.contextmanager
def _raises(expected, match, what):
    """Assert that the block raises `expected` (a class or tuple) with `match` in its message."""
    classes = expected if isinstance(expected, tuple) else (expected,)
    expected_name = " or ".join(cls.__name__ for cls in classes)
    try:
        yield
    except expected as error:
        if not re.search(match, str(error)):
            raise AssertionError(
                f"{what}: the {type(error).__name__} should match {match!r}; got: {error}"
            ) from error
    except Exception as error:
        raise AssertionError(
            f"{what}: expected {expected_name}, got {type(error).__name__}: {error}"
        ) from error
    else:
        raise AssertionError(f"{what}: no {expected_name} raised.")


def _assert_close(actual, desired, what):
    np.testing.assert_allclose(actual, desired, rtol=_RTOL, atol=_ATOL, err_msg=what)


def _write_pngs(images, folder):
    from PIL import Image

    paths = []
    for i, image in enumerate(images):
        paths.append(os.path.join(folder, f"image_{i:03d}.png"))
        Image.fromarray(image.squeeze()).save(paths[-1])
    return paths


# -- the checks ----------------------------------------------------------------------------------


def check_transform_output(name, featurizer, images=None):
    """fit returns self; transform gives finite 2-D float, one row per image and
    ``n_features_out_`` columns named by ``get_feature_names_out``."""
    images = _images(images)
    featurizer = _seeded(featurizer)
    assert featurizer.fit(images) is featurizer, f"{name}.fit must return self."
    features = featurizer.transform(images)
    assert isinstance(features, np.ndarray), f"{name}.transform must return an ndarray."
    assert features.ndim == 2 and features.dtype.kind == "f", (
        f"{name}.transform must return 2-D float; got {features.dtype} {features.shape}."
    )
    assert features.shape == (len(images), featurizer.n_features_out_), (
        f"{name}.transform gave {features.shape}; expected "
        f"({len(images)}, n_features_out_={featurizer.n_features_out_})."
    )
    assert np.all(np.isfinite(features)), f"{name}.transform gave NaN or infinity."
    names = featurizer.get_feature_names_out()
    assert len(names) == features.shape[1] == len(set(names)), (
        f"{name}.get_feature_names_out must give {features.shape[1]} distinct names."
    )
    assert all(isinstance(n, str) for n in names), f"{name}: feature names must be str."
    single = featurizer.transform(images[:1])
    assert single.shape == (1, features.shape[1]), f"{name}: one image must give one row."


def check_fit_transform_consistent(name, featurizer, images=None):
    """``fit_transform(X)`` equals ``fit(X).transform(X)``."""
    images = _images(images)
    direct = _seeded(featurizer).fit_transform(images)
    _assert_close(direct, _seeded(featurizer).fit(images).transform(images), name)


def check_deterministic(name, featurizer, images=None):
    """Transforming twice, and fitting twice with the same parameters, give equal output."""
    images = _images(images)
    first = _seeded(featurizer).fit(images)
    features = first.transform(images)
    np.testing.assert_array_equal(
        first.transform(images), features, err_msg=f"{name}: transform twice"
    )
    np.testing.assert_array_equal(
        _seeded(featurizer).fit(images).transform(images), features, err_msg=f"{name}: refit"
    )


def check_fit_keeps_parameters(name, featurizer, images=None):
    """fit changes no parameter and sets only attributes that end with ``_``.

    The image counterpart of scikit-learn's ``check_dont_overwrite_parameters`` and
    ``check_estimators_overwrite_params``, which need numeric 2-D data.
    """
    images = _images(images)
    featurizer = _seeded(featurizer)
    before = {key: joblib.hash(value) for key, value in featurizer.get_params().items()}
    attributes = set(vars(featurizer))
    featurizer.fit(images)
    after = {key: joblib.hash(value) for key, value in featurizer.get_params().items()}
    changed = sorted(key for key in before if before[key] != after[key])
    assert not changed, f"{name}.fit changed the parameters {changed}."
    added = [
        key
        for key in set(vars(featurizer)) - attributes
        if not key.startswith("_") and not key.endswith("_")
    ]
    assert not added, f"{name}.fit set public attributes {added} without a trailing '_'."


def check_clone(name, featurizer, images=None):
    """A clone of a fitted featurizer has the same parameters and is not fitted."""
    fitted = _seeded(featurizer).fit(_images(images))
    copy = clone(fitted)
    params, copied = fitted.get_params(deep=False), copy.get_params(deep=False)
    assert params.keys() == copied.keys(), f"{name}: clone has other parameters."
    for key in params:
        assert joblib.hash(params[key]) == joblib.hash(copied[key]), (
            f"{name}: clone changed parameter {key!r}."
        )
    try:
        check_is_fitted(copy)
    except NotFittedError:
        return
    raise AssertionError(f"{name}: a clone of a fitted featurizer must not be fitted.")


def check_pickle_round_trip(name, featurizer, images=None):
    """A pickled and unpickled fitted featurizer transforms identically."""
    images = _images(images)
    fitted = _seeded(featurizer).fit(images)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        again.transform(images), fitted.transform(images), err_msg=f"{name}: after pickle"
    )


def check_not_fitted(name, featurizer, images=None):
    """transform and get_feature_names_out raise NotFittedError before fit."""
    images = _images(images)
    unfitted = clone(featurizer)
    with _raises(NotFittedError, "", f"{name}.transform before fit"):
        unfitted.transform(images)
    with _raises(NotFittedError, "", f"{name}.get_feature_names_out before fit"):
        unfitted.get_feature_names_out()


def _bad_arrays(images):
    nan = images / 255.0
    nan[0, 0, 0, 0] = np.nan
    return [
        ("a 2-D array", images[0, ..., 0], ValueError),
        ("a 5-D array", images[np.newaxis], ValueError),
        ("no images", images[:0], ValueError),
        ("2 channels", images[..., :2], ValueError),
        ("float with NaN", nan, ValueError),
        ("float outside [0, 1]", images * 2.0, ValueError),
        ("int64 images", images.astype(np.int64), TypeError),
    ]


def check_bad_input(name, featurizer, images=None):
    """Bad image arrays raise an error naming ``X``, in fit and in transform."""
    images = _images(images)
    fitted = _seeded(featurizer).fit(images)
    for what, bad, error in _bad_arrays(images):
        with _raises(error, r"\bX\b", f"{name}.fit on {what}"):
            _seeded(featurizer).fit(bad)
        with _raises(error, r"\bX\b", f"{name}.transform on {what}"):
            fitted.transform(bad)


def check_greyscale_and_colour(name, featurizer, images=None):
    """(n, H, W) and (n, H, W, 1) grey give equal features; RGB and RGBA are accepted."""
    images = _images(images)
    grey = images[..., 0]
    _assert_close(
        _seeded(featurizer).fit_transform(grey),
        _seeded(featurizer).fit_transform(grey[..., np.newaxis]),
        f"{name}: (n, H, W) vs (n, H, W, 1)",
    )
    opaque = np.full(images.shape[:-1] + (1,), 255, dtype=np.uint8)
    for what, array in [("RGB", images), ("RGBA", np.concatenate([images, opaque], axis=-1))]:
        features = _seeded(featurizer).fit_transform(array)
        assert features.ndim == 2 and len(features) == len(images), f"{name} on {what}"


def check_float_matches_uint8(name, featurizer, images=None):
    """Float images in [0, 1] give the features of the uint8 images they come from."""
    images = _images(images)
    expected = _seeded(featurizer).fit_transform(images)
    for dtype in (np.float32, np.float64):
        floats = (images / 255.0).astype(dtype)
        _assert_close(_seeded(featurizer).fit_transform(floats), expected, f"{name}: {dtype}")


def check_row_order_and_subsets(name, featurizer, images=None):
    """Row i of transform depends on image i only: permuting or subsetting permutes rows."""
    images = _images(images)
    fitted = _seeded(featurizer).fit(images)
    features = fitted.transform(images)
    order = np.random.default_rng(0).permutation(len(images))
    _assert_close(fitted.transform(images[order]), features[order], f"{name}: permuted")
    _assert_close(fitted.transform(images[1::2]), features[1::2], f"{name}: subset")


def check_pipeline_with_demud(name, featurizer, images=None):
    """In a :class:`sknovel.Pipeline` before :class:`sknovel.Demud`, the ranking is DEMUD's
    ranking of the features."""
    from sknovel import Demud, Pipeline

    images = _images(images)
    pipe = Pipeline([("features", _seeded(featurizer)), ("demud", Demud(2))]).fit(images)
    direct = Demud(2).fit(_seeded(featurizer).fit_transform(images))
    np.testing.assert_array_equal(pipe[-1].ranking_, direct.ranking_, err_msg=name)
    assert pipe.rank(images[:3], n_selections=2).shape == (2,), f"{name}: Pipeline.rank"


def check_batch_size_invariance(name, featurizer, images=None):
    """The batch size changes neither the fitted model nor the features."""
    images = _images(images)
    one = _seeded(featurizer).set_params(batch_size=1).fit(images)
    many = _seeded(featurizer).set_params(batch_size=len(images)).fit(images)
    _assert_close(one.transform(images), many.transform(images), f"{name}: batch_size")
    _assert_close(
        many.set_params(batch_size=3).transform(images),
        many.set_params(batch_size=len(images)).transform(images),
        f"{name}: batch_size in transform",
    )


def check_verbose(name, featurizer, images=None):
    """verbose=0 prints nothing; a true verbose shows the package's progress bar on stderr:
    ``sknovel.utils.progress.progress_bar`` counting images (unit ``"image"``) up to all."""
    images = _images(images)
    for verbose, should_print in [(0, False), (1, True)]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            _seeded(featurizer).set_params(verbose=verbose).fit_transform(images)
        assert not out.getvalue(), f"{name}: progress must go to stderr, not stdout."
        printed = err.getvalue()
        assert bool(printed) == should_print, (
            f"{name} with verbose={verbose} printed {printed!r} to stderr."
        )
        n = len(images)
        assert not should_print or (
            f"{n}/{n}" in printed and re.search(r"image/s|s/image", printed)
        ), f"{name}: verbose=1 must show a progress bar of images (unit 'image'); got {printed!r}."


def check_paths_match_arrays(name, featurizer, images=None):
    """A list of PNG files (str or Path) gives the features of the array they were written
    from, for fit and for transform; grey files match grey arrays.

    PNG keeps uint8 images exactly, but a featurizer may resize files in 8 bits and arrays in
    floats, so features may differ by up to two grey levels (``2 / 255``).
    """
    images = _images(images)
    with tempfile.TemporaryDirectory() as folder:
        for array in (images, images[..., 0]):
            paths = _write_pngs(array, folder)
            expected = _seeded(featurizer).fit(array)
            from_files = _seeded(featurizer).fit(paths)
            np.testing.assert_allclose(
                from_files.transform(paths),
                expected.transform(array),
                rtol=_RTOL,
                atol=_FILE_ATOL,
                err_msg=f"{name}: fitted and transformed on files",
            )
            np.testing.assert_allclose(
                expected.transform([Path(p) for p in paths]),
                expected.transform(array),
                rtol=_RTOL,
                atol=_FILE_ATOL,
                err_msg=f"{name}: transform of Path objects",
            )


def check_bad_files(name, featurizer, images=None):
    """An empty list raises; a missing or corrupt file raises an error naming the file.

    fit alone need not read every file (a featurizer may learn nothing from images), so the
    bad files are checked with transform and fit_transform.
    """
    images = _images(images)
    fitted = _seeded(featurizer).fit(images)
    with _raises(ValueError, r"\bX\b", f"{name}.fit on an empty list"):
        _seeded(featurizer).fit([])
    with tempfile.TemporaryDirectory() as folder:
        paths = _write_pngs(images, folder)
        missing = os.path.join(folder, "missing.png")
        corrupt = os.path.join(folder, "corrupt.png")
        with open(corrupt, "wb") as file:
            file.write(b"\x89PNG\r\n\x1a\n this is not an image")
        for bad in (missing, corrupt):
            bad_list = paths[:2] + [bad] + paths[2:]
            label = os.path.basename(bad)
            with _raises(
                (ValueError, OSError), re.escape(label), f"{name}.fit_transform with {label}"
            ):
                _seeded(featurizer).fit_transform(bad_list)
            with _raises((ValueError, OSError), re.escape(label), f"{name}.transform with {label}"):
                fitted.transform(bad_list)


# -- explainers ----------------------------------------------------------------------------------
#
# The contract these checks enforce is written out in docs/developers.rst ("The explainer
# contract"). They are duck-typed: they import nothing from sknovel.explain, so any object that
# follows the contract can be checked.


class _NotAParameter:
    """A value no parameter constraint accepts (except "no_validation")."""

    def __repr__(self):
        return "<not a parameter value>"


def explainer_checks(explainer, *, explain_kwargs=None, invalid_params=None, fitted_models=None):
    """Yield sknovel's explainer checks, each bound to the options it needs.

    Parameters
    ----------
    explainer : explainer
        An explainer around small fitted models (unfitted itself if it learns something).
    explain_kwargs : dict, default=None
        Passed to every ``explain(X, **explain_kwargs)`` call, e.g. ``{"positions": [0, 2]}``;
        with ``positions``, an explanation has ``len(positions)`` items, else ``len(X)``.
    invalid_params : dict, default=None
        ``{parameter: invalid value}``: values the constructor must accept and ``fit`` or
        ``explain`` must reject with an error naming the parameter. None: one value that no
        constraint accepts, for the first parameter of ``_parameter_constraints`` that is
        validated.
    fitted_models : sequence of str, default=None
        Constructor parameters whose model must be fitted: an explainer around an unfitted
        clone of one must raise ``NotFittedError``. None: every parameter that holds a fitted
        estimator.

    Yields
    ------
    check : functools.partial
        ``check(name, explainer, X)``; ``check.func.__name__`` is the check's name. `X` is an
        image array (n >= 2, H, W[, C]), uint8 or float in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel import Demud
    >>> from sknovel.explain import NoveltyMap
    >>> from sknovel.features import PixelFeaturizer
    >>> from sknovel.utils.estimator_checks import explainer_checks
    >>> X = np.random.default_rng(0).random((10, 6, 6))
    >>> pixels = PixelFeaturizer().fit(X)
    >>> explainer = NoveltyMap(pixels, Demud(2).fit(pixels.transform(X)), window=0.5)
    >>> for check in explainer_checks(explainer, explain_kwargs={"positions": [0, 3]}):
    ...     check("NoveltyMap", explainer, X)
    """
    options = {"explain_kwargs": explain_kwargs}
    yield partial(check_explainer_parameters)
    yield partial(check_explainer_invalid_params, invalid_params=invalid_params, **options)
    yield partial(check_explain_output, **options)
    yield partial(check_explain_keeps_models, **options)
    yield partial(check_explain_deterministic, **options)
    yield partial(check_explain_bad_input, **options)
    yield partial(check_explain_not_fitted, fitted_models=fitted_models, **options)


def check_explainer(explainer, X, *, explain_kwargs=None, invalid_params=None, fitted_models=None):
    """Run scikit-learn's data-free checks and sknovel's explainer checks on one explainer.

    Parameters
    ----------
    explainer : explainer
        An explainer around small fitted models; unfitted itself if it learns something.
        It is rebuilt from its parameters for each check, never fitted itself; the models it
        wraps are shared, as in use, and must come out unchanged.
    X : ndarray of shape (n, H, W) or (n, H, W, C)
        Images to explain (and to fit the explainer on, if it learns), n >= 2, uint8 or
        float in [0, 1].
    explain_kwargs, invalid_params, fitted_models
        See :func:`explainer_checks`.

    Raises
    ------
    AssertionError
        At the first check that fails (or that check's own exception).

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel import Demud
    >>> from sknovel.explain import NoveltyMap
    >>> from sknovel.features import PixelFeaturizer
    >>> from sknovel.utils.estimator_checks import check_explainer
    >>> X = np.random.default_rng(0).random((10, 6, 6))
    >>> pixels = PixelFeaturizer().fit(X)
    >>> demud = Demud(2).fit(pixels.transform(X))  # ranks all of X: one map per image
    >>> check_explainer(NoveltyMap(pixels, demud, window=0.5), X)
    """
    name, X = type(explainer).__name__, _explainer_images(X)
    for check in SKLEARN_DATA_FREE_CHECKS:
        check(name, explainer)
    options = dict(
        explain_kwargs=explain_kwargs, invalid_params=invalid_params, fitted_models=fitted_models
    )
    for check in explainer_checks(explainer, **options):
        check(name, explainer, X)


# -- helpers for the explainer checks ------------------------------------------------------------


def _explainer_images(X):
    X = np.asarray(X)
    if X.ndim not in (3, 4) or len(X) < 2 or X.dtype.kind not in "uf":
        raise ValueError(
            f"X must be images (n >= 2, H, W) or (n >= 2, H, W, C), uint8 or float; got "
            f"{X.dtype} {X.shape}."
        )
    return X


def _rebuilt(explainer, **changes):
    """A new explainer of the same class from the same parameter objects (models shared)."""
    params = explainer.get_params(deep=False)
    params.update(changes)
    return type(explainer)(**params)


def _seeded_explainer(explainer):
    """Rebuilt, unfitted, with random_state=0 where its random_state is not an int."""
    random_state = explainer.get_params(deep=False).get("random_state", 0)
    if isinstance(random_state, Integral):
        return _rebuilt(explainer)
    return _rebuilt(explainer, random_state=0)


def _fitted_explainer(name, explainer, X):
    """Seeded, and fitted on X when it learns something."""
    explainer = _seeded_explainer(explainer)
    if hasattr(explainer, "fit"):
        assert explainer.fit(X) is explainer, f"{name}.fit must return self."
    return explainer


def _n_items(X, explain_kwargs):
    positions = explain_kwargs.get("positions")
    return len(X) if positions is None else len(positions)


def _fingerprint(value):
    """A hash of a value's content; torch modules by their parameters and buffers."""
    state_dict = getattr(value, "state_dict", None)
    if callable(state_dict) and hasattr(value, "parameters"):
        value = {key: tensor.detach().cpu().numpy() for key, tensor in state_dict().items()}
    try:
        return joblib.hash(value)
    except Exception:  # noqa: BLE001 - an unpicklable value is compared by type only
        return type(value).__qualname__


def _model_state(model):
    """Fingerprints of an estimator's public attributes (parameters and fitted state)."""
    if not hasattr(model, "get_params"):
        return {"": _fingerprint(model)}
    return {key: _fingerprint(value) for key, value in vars(model).items() if key[:1] != "_"}


def _states(explainer):
    """``{parameter: {attribute: fingerprint}}`` of everything the explainer was given."""
    return {key: _model_state(value) for key, value in explainer.get_params(deep=False).items()}


def _changed(before, after):
    return sorted(
        f"{key}.{attribute}" if attribute else key
        for key in before
        for attribute in set(before[key]) | set(after[key])
        if before[key].get(attribute) != after[key].get(attribute)
    )


def _is_fitted_estimator(value):
    if not hasattr(value, "get_params"):
        return False
    try:
        check_is_fitted(value)
    except (NotFittedError, TypeError):
        return False
    return True


def _param_summary(value):
    """A parameter value as clone sees it: estimators by type and parameters, recursively."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        return type(value), {key: _param_summary(item) for key, item in params.items()}
    return _fingerprint(value)


def _assert_same_explanations(first, second, what):
    assert first.keys() == second.keys(), f"{what}: keys {sorted(first)} vs {sorted(second)}."
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=f"{what}: {key!r}")


def _bad_explainer_inputs(X):
    nan = X / 255.0 if X.dtype == np.uint8 else X.astype(np.float64)
    nan[:, 0, 0] = np.nan  # in every image, so that it is in whichever items are read
    one_image = X[0] if X.ndim == 3 else X[0, ..., 0]
    return [
        ("X with NaN", nan),
        ("a 2-D array", one_image),
        ("a 5-D array", X.reshape((1,) * (5 - X.ndim) + X.shape)),
    ]


# -- the explainer checks ------------------------------------------------------------------------


def check_explainer_parameters(name, explainer, X=None):
    """A scikit-learn estimator whose ``__init__`` stores its parameters untouched, each
    declared in ``_parameter_constraints``; ``get_params``/``set_params`` round-trip,
    ``clone`` keeps the parameters, and the repr works."""
    assert isinstance(explainer, BaseEstimator), f"{name} must derive from BaseEstimator."
    params = explainer.get_params(deep=False)
    constraints = getattr(type(explainer), "_parameter_constraints", None)
    assert isinstance(constraints, dict), f"{name} must declare _parameter_constraints (a dict)."
    missing, extra = sorted(set(params) - set(constraints)), sorted(set(constraints) - set(params))
    assert not missing, f"{name}._parameter_constraints lacks the parameters {missing}."
    assert not extra, f"{name}._parameter_constraints names unknown parameters {extra}."
    rebuilt = _rebuilt(explainer)
    stored = [
        key for key, value in rebuilt.get_params(deep=False).items() if value is not params[key]
    ]
    assert not stored, f"{name}.__init__ must store {stored} as given, not a copy or conversion."
    assert rebuilt.set_params(**params) is rebuilt, f"{name}.set_params must return self."
    again = rebuilt.get_params(deep=False)
    assert all(again[key] is params[key] for key in params), f"{name}: set_params/get_params."
    copy = clone(explainer)
    copied = copy.get_params(deep=False)
    assert copied.keys() == params.keys(), f"{name}: clone has other parameters."
    differ = [key for key in params if _param_summary(params[key]) != _param_summary(copied[key])]
    assert not differ, f"{name}: clone changed the parameters {differ}."
    assert type(explainer).__name__ in repr(explainer), f"{name}: its repr must name the class."


def check_explainer_invalid_params(name, explainer, X, *, explain_kwargs=None, invalid_params=None):
    """The constructor accepts an invalid parameter value; fit or explain rejects it with a
    ValueError or TypeError (scikit-learn's InvalidParameterError is both) naming it."""
    X, kwargs = _explainer_images(X), dict(explain_kwargs or {})
    if invalid_params is None:
        constraints = type(explainer)._parameter_constraints
        validated = [key for key, value in constraints.items() if value != "no_validation"]
        invalid_params = {validated[0]: _NotAParameter()} if validated else {}
    for key, value in invalid_params.items():
        try:
            bad = _rebuilt(_seeded_explainer(explainer), **{key: value})
        except Exception as error:
            raise AssertionError(
                f"{name}(..., {key}={value!r}) raised {type(error).__name__}: {error}. "
                "__init__ must store parameters untouched; validate them in fit or explain."
            ) from error
        with _raises((ValueError, TypeError), re.escape(key), f"{name} with {key}={value!r}"):
            if hasattr(bad, "fit"):
                bad.fit(X)
            bad.explain(X, **kwargs)


def check_explain_output(name, explainer, X, *, explain_kwargs=None):
    """explain returns a Bunch; every array in it has one row per explained item; maps are
    finite float (n, H, W) like X; other float arrays of 3 or more axes (images) lie in
    [0, 1]."""
    X, kwargs = _explainer_images(X), dict(explain_kwargs or {})
    result = _fitted_explainer(name, explainer, X).explain(X, **kwargs)
    assert isinstance(result, Bunch), f"{name}.explain must return a Bunch; got {type(result)}."
    n = _n_items(X, kwargs)
    for key, value in result.items():
        if key.endswith("maps"):
            assert isinstance(value, np.ndarray), f"{name}: {key!r} must be an ndarray."
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            continue
        assert len(value) == n, f"{name}: {key!r} has {len(value)} rows for {n} items."
        if key.endswith("maps"):
            assert value.dtype.kind == "f" and value.shape == (n, *X.shape[1:3]), (
                f"{name}: {key!r} must be float (n, H, W) = {(n, *X.shape[1:3])}; got "
                f"{value.dtype} {value.shape}."
            )
            assert np.all(np.isfinite(value)), f"{name}: {key!r} holds NaN or infinity."
        elif (value.ndim >= 3 and value.dtype.kind == "f") or key.endswith("images"):
            assert value.dtype.kind == "f", f"{name}: images {key!r} must be float."
            problem = unit_range_problem(value)
            assert not problem, f"{name}: images {key!r} {problem}."


def check_explain_keeps_models(name, explainer, X, *, explain_kwargs=None):
    """fit and explain change neither the models the explainer wraps nor its parameters;
    fit sets only public attributes ending in ``_``."""
    X, kwargs = _explainer_images(X), dict(explain_kwargs or {})
    explainer = _seeded_explainer(explainer)
    before = _states(explainer)
    if hasattr(explainer, "fit"):
        attributes = set(vars(explainer))
        explainer.fit(X)
        changed = _changed(before, _states(explainer))
        assert not changed, f"{name}.fit changed {changed}."
        added = [
            key for key in set(vars(explainer)) - attributes if key[:1] != "_" and key[-1] != "_"
        ]
        assert not added, f"{name}.fit set public attributes {added} without a trailing '_'."
    explainer.explain(X, **kwargs)
    changed = _changed(before, _states(explainer))
    assert not changed, f"{name}.explain changed {changed}."


def check_explain_deterministic(name, explainer, X, *, explain_kwargs=None):
    """With a fixed random_state, explaining twice, and fitting twice, give equal output."""
    X, kwargs = _explainer_images(X), dict(explain_kwargs or {})
    fitted = _fitted_explainer(name, explainer, X)
    first = fitted.explain(X, **kwargs)
    _assert_same_explanations(first, fitted.explain(X, **kwargs), f"{name}: explain twice")
    if hasattr(fitted, "fit"):
        again = _fitted_explainer(name, explainer, X).explain(X, **kwargs)
        _assert_same_explanations(first, again, f"{name}: fitted twice")


def check_explain_bad_input(name, explainer, X, *, explain_kwargs=None):
    """X with NaN, or of 2 or 5 axes, raises a ValueError naming ``X``, in fit and explain."""
    X, kwargs = _explainer_images(X), dict(explain_kwargs or {})
    fitted = _fitted_explainer(name, explainer, X)
    for what, bad in _bad_explainer_inputs(X):
        with _raises(ValueError, r"\bX\b", f"{name}.explain on {what}"):
            fitted.explain(bad, **kwargs)
        if hasattr(fitted, "fit"):
            with _raises(ValueError, r"\bX\b", f"{name}.fit on {what}"):
                _seeded_explainer(explainer).fit(bad)


def check_explain_not_fitted(name, explainer, X, *, explain_kwargs=None, fitted_models=None):
    """explain before fit, and fit or explain around an unfitted clone of a wrapped model,
    raise NotFittedError."""
    X, kwargs = _explainer_images(X), dict(explain_kwargs or {})
    if hasattr(explainer, "fit"):
        with _raises(NotFittedError, "", f"{name}.explain before fit"):
            _seeded_explainer(explainer).explain(X, **kwargs)
    params = explainer.get_params(deep=False)
    if fitted_models is None:
        fitted_models = [key for key, value in params.items() if _is_fitted_estimator(value)]
    for key in fitted_models:
        unfitted = _rebuilt(_seeded_explainer(explainer), **{key: clone(params[key])})
        with _raises(NotFittedError, "", f"{name} around an unfitted {key}"):
            if hasattr(unfitted, "fit"):
                unfitted.fit(X)
            unfitted.explain(X, **kwargs)
