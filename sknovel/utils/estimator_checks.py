"""Common checks for image transformers (featurizers), in two layers.

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
"""

import contextlib
import io
import os
import pickle
import re
import tempfile
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as _sklearn_checks
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

__all__ = ["SKLEARN_DATA_FREE_CHECKS", "check_image_transformer", "image_transformer_checks"]

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
    """verbose=0 prints nothing; a true verbose reports progress on stderr."""
    images = _images(images)
    for verbose, should_print in [(0, False), (1, True)]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            _seeded(featurizer).set_params(verbose=verbose).fit_transform(images)
        assert not out.getvalue(), f"{name}: progress must go to stderr, not stdout."
        assert bool(err.getvalue()) == should_print, (
            f"{name} with verbose={verbose} printed {err.getvalue()!r} to stderr."
        )


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
