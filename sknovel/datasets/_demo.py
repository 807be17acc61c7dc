"""Small labelled image sets shipped with sknovel (``sknovel/datasets/data/``)."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_MARS_DESCR = """\
Mars rover images: a demo subset of MSL v1
==========================================

{n} images of 96 x 96 pixels (RGB) taken by the Curiosity rover (Mars Science
Laboratory) on sols 3 to 564, in {k} classes: several large classes (ground, wheel,
drill holes, horizon, ...) and a tail of rare ones with one to three images, the
unbalanced setting in which *Interpretable Discovery in Large Image Data Sets* (Lee,
Wagstaff et al. 2018) ranked Mars images with DEMUD.

Source and licence: Stanboli, A. & Wagstaff, K. (2017), "Mars surface image (Curiosity
rover) labeled data set", Zenodo, DOI 10.5281/zenodo.1049137, released under the
Creative Commons Attribution-ShareAlike 4.0 licence (CC BY-SA 4.0). Paper: Wagstaff,
K. et al., "Deep Mars: CNN Classification of Mars Imagery for the PDS Imaging Atlas",
IAAI 2018. Images: NASA/JPL-Caltech/MSSS. This subset is a derived work under the same
licence (CC BY-SA 4.0): the images were scaled (shorter side to 96 px, Lanczos) and
centre-cropped, and {n} of the data set's train and val images were selected, one image
per observation, by ``benchmarks/make_demo_set.py`` in the sknovel repository (numpy
seed 20240611): the class of size rank i keeps min(n_i, round(45 * 45 ** (-i / 23)))
randomly drawn images.

``source_ids`` holds each image's file name in the data set (sol, instrument and
product id); ``target_names`` the data set's class names.
"""

_MNIST_DESCR = """\
MNIST test digits: the first {n} images
=======================================

The first {n} images of the MNIST test set (t10k), in their original order: 28 x 28
greyscale handwritten digits, white on black, values 0-255, ten classes.

Source and licence: Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of
handwritten digits", usually distributed under the Creative Commons Attribution-ShareAlike
3.0 licence (CC BY-SA 3.0); credit the authors when you use it. ``source_ids`` are
``t10k:<index>``.
"""


def _load(file_name):
    with resources.files("sknovel.datasets").joinpath("data", file_name).open("rb") as f:
        with np.load(f, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


def _bunch(arrays, descr, return_X_y):
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise TypeError(f"return_X_y must be True or False; got {return_X_y!r}.")
    if return_X_y:
        return arrays["images"], arrays["target"]
    n, k = len(arrays["target"]), len(arrays["target_names"])
    return Bunch(**arrays, DESCR=descr.format(n=n, k=k))


def load_mars_demo(*, return_X_y=False):
    """Load 288 Mars rover images in 24 very unbalanced classes (shipped with sknovel).

    A subset of the Mars Science Laboratory (Curiosity rover) images of MSL v1 (Stanboli
    & Wagstaff, DOI 10.5281/zenodo.1049137, CC BY-SA 4.0), chosen to show discovery as
    *Interpretable Discovery in Large Image Data Sets* (Lee, Wagstaff et al. 2018) did:
    several large classes and rare classes of one to three images. The images are stored
    in the package, so nothing is downloaded.

    =================   ==========================
    Images              288
    Classes             24 (1 to 45 images each)
    Image shape         (96, 96, 3), uint8 RGB
    =================   ==========================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` : ndarray of shape (288, 96, 96, 3), uint8;
        ``target`` : ndarray of shape (288,), int64, indices into `target_names`;
        ``target_names`` : ndarray of str, the data set's class names;
        ``source_ids`` : ndarray of str, each image's file name in MSL v1;
        ``sol`` : ndarray of shape (288,), int64, the Martian day it was taken;
        ``DESCR`` : str, the description, with the licence, authors and DOI.
    (images, target) : tuple of ndarray
        When `return_X_y` is True.

    See Also
    --------
    load_mnist_sample : 5 000 MNIST test digits, also shipped.

    Notes
    -----
    The images are licensed CC BY-SA 4.0 (not under sknovel's BSD licence): credit
    Stanboli & Wagstaff (2017), DOI 10.5281/zenodo.1049137, and share derived images
    under the same licence. ``DESCR`` says how the subset was drawn.

    Examples
    --------
    >>> from sknovel.datasets import load_mars_demo
    >>> mars = load_mars_demo()
    >>> mars.images.shape, mars.target_names[mars.target[0]]
    ((288, 96, 96, 3), np.str_('ground'))
    """
    return _bunch(_load("mars_demo.npz"), _MARS_DESCR, return_X_y)


def load_mnist_sample(*, return_X_y=False):
    """Load the first 5 000 MNIST test digits (shipped with sknovel).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` : ndarray of shape (5000, 28, 28), uint8, white digits on black;
        ``target`` : ndarray of shape (5000,), int64, the digit;
        ``target_names`` : ndarray of str, ``"0"`` to ``"9"``;
        ``source_ids`` : ndarray of str, ``t10k:<index>``;
        ``DESCR`` : str, the description, with the source and licence.
    (images, target) : tuple of ndarray
        When `return_X_y` is True.

    See Also
    --------
    load_mars_demo : Mars rover images, also shipped.
    sklearn.datasets.load_digits : 1 797 digits of 8 x 8 pixels.

    Examples
    --------
    >>> from sknovel.datasets import load_mnist_sample
    >>> images, target = load_mnist_sample(return_X_y=True)
    >>> images.shape, target[:5]
    ((5000, 28, 28), array([7, 2, 1, 0, 4]))
    """
    return _bunch(_load("mnist_sample.npz"), _MNIST_DESCR, return_X_y)
