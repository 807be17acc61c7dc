"""What a fitted featurizer does to images before its own work: their size and channels.

Explainers use these to show a pick as the featurizer saw it (``NoveltyMap``, ``UCInverter``).
"""


def featurizer_input_size(featurizer):
    """The (height, width) a fitted featurizer brings images to before its own work, or None.

    Images fitted to this size by :func:`fit_to_size` give the featurizer what it would see
    of the originals (up to resampling): its ``size`` when set (``PixelFeaturizer``,
    ``SIFTBoWFeaturizer``); for ``CNNFeaturizer`` the square its shorter side is scaled to
    before the centre crop (``crop_size x 256 / 224``; resnet50 ``x 232 / 224``); else the
    (height, width) of a 3-d ``input_shape_`` (the one size it was fitted on). None when
    unknown (the featurizer takes images as they come).

    Parameters
    ----------
    featurizer : transformer

    Returns
    -------
    size : tuple (height, width) or None
    """
    if getattr(featurizer, "size", None) is not None:
        return tuple(int(v) for v in featurizer.size)
    shape = getattr(featurizer, "input_shape_", None)
    if shape is None or len(shape) != 3:
        return None
    from sknovel.features._cnn import CNNFeaturizer
    from sknovel.features._networks import ARCHITECTURES

    if isinstance(featurizer, CNNFeaturizer):
        architecture = ARCHITECTURES[featurizer.arch]
        side = round(shape[0] * architecture.resize_size / architecture.crop_size)
        return (side, side)
    return (int(shape[0]), int(shape[1]))


def featurizer_files_mode(featurizer):
    """How to read files for a fitted featurizer: ``"L"``/``"RGB"`` as its input, or None.

    Parameters
    ----------
    featurizer : transformer

    Returns
    -------
    mode : {"L", "RGB"} or None
        From the channels of a 3-d ``input_shape_`` (1 or 3); None otherwise.
    """
    shape = getattr(featurizer, "input_shape_", None)
    if shape is None or len(shape) != 3 or shape[-1] not in (1, 3):
        return None
    return "L" if shape[-1] == 1 else "RGB"
