"""NoveltyMap: exact answers for pixel features, a CNN sanity check, and bad input."""

import numpy as np
import pytest
from PIL import Image

from sknovel import Demud, SVDRanker
from sknovel.explain import NoveltyMap
from sknovel.features import PixelFeaturizer
from sknovel.metrics import removal_baseline

pytest.importorskip("torch")

RNG = np.random.default_rng(0)
IMAGES = RNG.random((30, 8, 6, 3))


def fitted(ranker=None, images=IMAGES):
    pixels = PixelFeaturizer().fit(images)
    ranker = (ranker or Demud(3, n_selections=6)).fit(pixels.transform(images))
    return pixels, ranker


def pick_score(pixels, ranker, position, image):
    model = ranker.selection_models(pixels.transform(IMAGES), [position])[0]
    centred = pixels.transform(image[np.newaxis])[0] - model.mean
    residual = centred - model.components.T @ (model.components @ centred)
    return residual @ residual, residual.reshape(image.shape)


@pytest.mark.parametrize("ranker", [Demud(3, n_selections=6), SVDRanker(3, n_selections=6)])
def test_selection_models_reproduce_the_scores(ranker):
    pixels, ranker = fitted(ranker)
    X = pixels.transform(IMAGES)
    for position, model in enumerate(ranker.selection_models(X, range(6))):
        centred = X[ranker.ranking_[position]] - model.mean
        residual = centred - model.components.T @ (model.components @ centred)
        assert residual @ residual == pytest.approx(ranker.scores_[position], rel=1e-9)
    with pytest.raises(ValueError, match="positions"):
        ranker.selection_models(X, [6])
    with pytest.raises(ValueError, match="fitted on"):
        ranker.selection_models(X[:10], [0])


def test_selection_models_describe_fit_even_after_partial_fit():
    pixels, demud = fitted()
    X = pixels.transform(IMAGES)
    before = demud.selection_models(X, [4])[0]
    demud.partial_fit(RNG.random((5, X.shape[1])))  # the archive grows; fit's history stays
    after = demud.selection_models(X, [4])[0]
    np.testing.assert_array_equal(before.components, after.components)


def test_gradient_is_twice_the_residual_summed_over_channels_for_pixel_features():
    # The gradient of ||r||² for pixel features is 2 r; a colour map sums |2 r| over channels
    # (the one reduction of every map), not its maximum.
    pixels, demud = fitted()
    result = NoveltyMap(pixels, demud, method="gradient").explain(IMAGES, positions=[0, 2, 5])
    for heat, position, index in zip(result.maps, result.positions, result.indices):
        score, residual = pick_score(pixels, demud, position, IMAGES[index])
        per_channel = np.abs(2 * residual)
        np.testing.assert_allclose(heat, per_channel.sum(axis=-1), rtol=1e-4, atol=1e-5)
        assert not np.allclose(heat, per_channel.max(axis=-1))
        assert result.scores[list(result.positions).index(position)] == pytest.approx(score)
    np.testing.assert_allclose(result.scores, demud.scores_[[0, 2, 5]], rtol=1e-6)


def test_smoothgrad_without_noise_is_the_gradient_map_summed_over_channels():
    # SmoothGrad and the gradient reduce over channels alike, so their maps are on one scale.
    pixels, demud = fitted()
    smooth = NoveltyMap(pixels, demud, method="smoothgrad", noise=0.0, n_steps=2)
    result = smooth.explain(IMAGES, [1])
    residual = pick_score(pixels, demud, 1, IMAGES[result.indices[0]])[1]
    expected = np.abs(2 * residual).sum(axis=-1)
    np.testing.assert_allclose(result.maps[0], expected, rtol=1e-4, atol=1e-5)
    gradient = NoveltyMap(pixels, demud, method="gradient").explain(IMAGES, [1]).maps
    np.testing.assert_allclose(result.maps, gradient, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("baseline", ["zero", "blur"])
def test_integrated_gradients_are_complete(baseline):
    # The score is quadratic in the pixels, so the midpoint rule integrates exactly.
    pixels, demud = fitted()
    result = NoveltyMap(pixels, demud, method="integrated_gradients", baseline=baseline, n_steps=4)
    result = result.explain(IMAGES, positions=[1, 4])
    for heat, position, index in zip(result.maps, result.positions, result.indices):
        image = IMAGES[index]
        start = removal_baseline(image, baseline)
        expected = pick_score(pixels, demud, position, image)[0]
        expected -= pick_score(pixels, demud, position, start)[0]
        assert heat.sum() == pytest.approx(expected, rel=1e-4)


def test_occlusion_is_the_smoothed_largest_share_of_the_windows_hiding_each_pixel():
    from scipy.ndimage import gaussian_filter

    pixels, demud = fitted()
    novelty = NoveltyMap(pixels, demud, window=0.5, stride=0.5, baseline="mean")
    result = novelty.explain(IMAGES, positions=[3])
    assert result.map_unit == "share of the novelty score removed when this region is hidden"
    image = IMAGES[demud.ranking_[3]]
    filler = removal_baseline(image, "mean")
    full = pick_score(pixels, demud, 3, image)[0]
    largest = np.full((8, 6), -np.inf)
    for top in (0, 2, 4, 5):  # window 3 (half of 6), step 2, last window flush with the edge
        for left in (0, 2, 3):
            occluded = image.copy()
            occluded[top : top + 3, left : left + 3] = filler[top : top + 3, left : left + 3]
            share = 1 - pick_score(pixels, demud, 3, occluded)[0] / full
            region = largest[top : top + 3, left : left + 3]
            np.maximum(region, share, out=region)
    expected = gaussian_filter(largest, sigma=2 / 4, mode="nearest")  # a quarter of a step
    np.testing.assert_allclose(result.maps[0], expected, rtol=1e-5, atol=1e-7)


def novel_square_collection(top, left, square, side, n_images=40):
    """Grey images of noise around 0.5; the last has a bright square (side `square`) at
    (top, left), which is all its novelty. (pixels, demud, images), the square picked first."""
    rng = np.random.default_rng(1)
    images = 0.5 + 0.02 * rng.standard_normal((n_images, side, side))
    images[-1, top : top + square, left : left + square] = 1.0
    pixels = PixelFeaturizer().fit(images)
    demud = Demud(2, n_selections=1, init="mean").fit(pixels.transform(images))
    assert demud.ranking_[0] == n_images - 1
    return pixels, demud, images


def largest_step(heat):
    """The largest difference between neighbouring pixels."""
    return max(np.abs(np.diff(heat, axis=0)).max(), np.abs(np.diff(heat, axis=1)).max())


def old_blocky_occlusion(pixels, demud, images, starts, side):
    """The map before issue 15 (in shares): each pixel the mean share of the windows
    (`side` wide, at `starts` along both axes) that cover it."""
    score_fn = NoveltyMap(pixels, demud).score_function(
        demud.selection_models(pixels.transform(images), [0])[0]
    )
    full = score_fn(images[-1:])[0]
    total, count = np.zeros(images.shape[1:]), np.zeros(images.shape[1:])
    for top in starts:
        for left in starts:
            hidden = images[-1].copy()
            hidden[top : top + side, left : left + side] = 0.5
            share = 1 - score_fn(hidden[np.newaxis])[0] / full
            total[top : top + side, left : left + side] += share
            count[top : top + side, left : left + side] += 1
    return total / count


def test_occlusion_of_a_novel_square_peaks_there_smoothly_with_a_share_near_one():
    pixels, demud, images = novel_square_collection(24, 48, square=24, side=96)
    # Windows of 24 pixels with steps of 12: the window at (24, 48) hides exactly the square.
    heat = NoveltyMap(pixels, demud, baseline=0.5).explain(images).maps[0]
    row, column = np.unravel_index(np.argmax(heat), heat.shape)
    assert 24 <= row < 48 and 48 <= column < 72
    # Hiding the square removes (nearly) all of the novelty, and the map says so inside it.
    assert heat[36, 60] > 0.95 and heat.max() == pytest.approx(heat[36, 60], rel=1e-3)
    assert heat.min() > -0.05  # hiding noise far from the square removes nothing
    old = old_blocky_occlusion(pixels, demud, images, range(0, 73, 12), 24)
    assert old[36, 60] < 0.6  # the mean over the covering windows understated it
    # Smooth: no step edges at the windows' borders.
    assert largest_step(heat) < 0.3 * largest_step(old)


def test_occlusion_maps_have_no_step_edges_at_window_borders():
    # Windows side by side (stride 1): the old map was one flat block per window, with
    # steps as high as the square's share at its borders.
    pixels, demud, images = novel_square_collection(9, 18, square=9, side=36)
    heat = NoveltyMap(pixels, demud, window=0.25, stride=1.0, baseline=0.5).explain(images)
    heat = heat.maps[0]
    old = old_blocky_occlusion(pixels, demud, images, (0, 9, 18, 27), 9)
    assert largest_step(old) > 0.9
    assert largest_step(heat) < 0.25 * largest_step(old)
    assert np.unravel_index(np.argmax(heat), heat.shape) == (13, 22)


@pytest.mark.parametrize("method", ["occlusion", "integrated_gradients", "gradient"])
def test_every_method_says_what_its_values_mean(method):
    from sknovel.explain.heatmaps._novelty_map import MAP_UNITS

    pixels, demud = fitted()
    result = NoveltyMap(pixels, demud, method=method, n_steps=2).explain(IMAGES, [0])
    assert isinstance(result.map_unit, str) and result.map_unit == MAP_UNITS[method]


def test_smoothgrad_is_reproducible_and_greyscale_images_work():
    grey = RNG.random((25, 7, 7))
    pixels, demud = fitted(images=grey)
    first = NoveltyMap(pixels, demud, method="smoothgrad", random_state=0).explain(grey, [0])
    again = NoveltyMap(pixels, demud, method="smoothgrad", random_state=0).explain(grey, [0])
    np.testing.assert_array_equal(first.maps, again.maps)
    assert first.maps.shape == (1, 7, 7)


def test_with_a_cnn_and_through_a_pipeline():
    from sknovel import Pipeline
    from sknovel.features import CNNFeaturizer

    images = (RNG.random((12, 32, 32, 3)) * 255).astype(np.uint8)
    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=32)
    pipe = Pipeline([("cnn", cnn), ("demud", Demud(2, n_selections=3))]).fit(images)
    novelty = NoveltyMap.from_pipeline(pipe, method="integrated_gradients", n_steps=8)
    result = novelty.explain(images, positions=[0, 1])
    np.testing.assert_allclose(result.scores, pipe[-1].scores_[:2], rtol=1e-3)
    assert result.maps.shape == (2, 32, 32) and np.all(np.isfinite(result.maps))
    occlusion = NoveltyMap.from_pipeline(pipe).explain(images, positions=[2])
    assert occlusion.maps.shape == (1, 32, 32)


def test_is_a_scikit_learn_object():
    from sklearn.base import clone

    pixels, demud = fitted()
    novelty = NoveltyMap(pixels, demud, method="gradient", window=0.5)
    assert novelty.get_params()["method"] == "gradient"
    assert "method='gradient'" in repr(novelty)
    copy = clone(novelty)
    assert copy.get_params()["window"] == 0.5 and copy.featurizer is not pixels
    assert novelty.set_params(method="smoothgrad").method == "smoothgrad"


@pytest.mark.parametrize(
    "params, match",
    [
        ({"method": "lime"}, "'method' parameter"),
        ({"window": 0}, "'window' parameter"),
        ({"stride": 1.5}, "'stride' parameter"),
        ({"baseline": "noise"}, "'baseline' parameter"),
        ({"n_steps": 0}, "'n_steps' parameter"),
        ({"noise": -0.1}, "'noise' parameter"),
        ({"batch_size": 2.5}, "'batch_size' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
        ({"size": 8}, "'size' parameter"),
    ],
)
def test_parameters_are_checked_when_explaining_not_when_constructed(params, match):
    pixels, demud = fitted()
    novelty = NoveltyMap(pixels, demud, **params)  # stored untouched
    with pytest.raises(ValueError, match=match):
        novelty.explain(IMAGES, [0])


def test_bad_input():
    pixels, demud = fitted()
    with pytest.raises(TypeError, match="subspace ranker"):
        NoveltyMap(pixels, object()).explain(IMAGES)

    class Opaque:
        def transform(self, images):
            return pixels.transform(images)

    with pytest.raises(TypeError, match="differentiable featurizer"):
        NoveltyMap(Opaque(), demud, method="gradient").explain(IMAGES)
    assert NoveltyMap(Opaque(), demud).explain(IMAGES, [0]).maps.shape == (1, 8, 6)
    with pytest.raises(ValueError, match="positions"):
        NoveltyMap(pixels, demud).explain(IMAGES, positions=[99])
    with pytest.raises(ValueError, match="NaN"):
        NoveltyMap(pixels, demud).explain(np.full_like(IMAGES, np.nan))
    with pytest.raises(ValueError, match=r"\bX\b.*NaN"):  # features given: the picks are checked
        NoveltyMap(pixels, demud).explain(
            np.full_like(IMAGES, np.nan), [0], features=pixels.transform(IMAGES)
        )
    with pytest.raises(ValueError, match="two steps|2 steps|steps"):
        from sknovel import Pipeline
        from sknovel.features import PixelFeaturizer as P

        NoveltyMap.from_pipeline(Pipeline([("a", P()), ("b", P()), ("c", Demud())]))


@pytest.mark.data
def test_occlusion_maps_are_faithful_on_mars_picks():
    """Removing a map's top 10 % lowers a pick's score more than random regions do."""
    from sknovel.datasets import find_data_file, load_labelled_images
    from sknovel.features import CNNFeaturizer
    from sknovel.metrics import removal_test

    path = find_data_file("msl_v1_96px.npz", start=__file__)
    if path is None:
        pytest.skip("msl_v1_96px.npz is absent: the shared data sets live beside the project")
    images = load_labelled_images(path, n_samples=240, random_state=0).images
    cnn = CNNFeaturizer(crop_size=64, batch_size=64).fit(images)
    demud = Demud(5, n_selections=10).fit(cnn.transform(images))
    novelty = NoveltyMap(cnn, demud)
    maps = novelty.explain(images).maps
    models = demud.selection_models(cnn.transform(images), range(10))
    wins = sum(
        removal_test(
            novelty.score_function(model),
            images[index] / 255.0,
            heat,
            n_random=10,
            random_state=position,
        ).beats_random
        for position, (index, heat, model) in enumerate(zip(demud.ranking_, maps, models))
    )
    # A map no better than random beats the median random region with probability 1/2:
    # 9 or more wins out of 10 then has probability 11/1024.
    assert wins >= 9


def mixed_folder(root):
    """Labelled files of many sizes and modes: colour, grey, 16-bit, palette, one pixel."""
    rng = np.random.default_rng(3)
    for i in range(12):
        height, width = [(40, 30), (25, 50), (1, 1), (33, 33), (20, 60), (64, 17)][i % 6]
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if i % 4 == 1:
            image = image.convert("L")
        elif i % 4 == 2:
            image = Image.fromarray((pixels[..., 0].astype(np.uint16) * 257))  # I;16
        elif i % 4 == 3:
            image = image.convert("P")
        folder = root / ("ab"[i % 2])
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:02d}.png")
    return root


def test_files_of_mixed_sizes_and_modes(tmp_path):
    from sknovel.features import load_image_folder

    paths = load_image_folder(mixed_folder(tmp_path), labels_from_subfolders=True).paths
    pixels = PixelFeaturizer(size=(16, 12)).fit(paths)
    demud = Demud(3, n_selections=5).fit(pixels.transform(paths))
    result = NoveltyMap(pixels, demud).explain(paths)  # was "all input arrays must have..."
    assert result.maps.shape == (5, 16, 12) and result.images.shape == (5, 16, 12, 3)
    np.testing.assert_allclose(result.scores, demud.scores_, rtol=1e-5)
    gradient = NoveltyMap(pixels, demud, method="gradient").explain(paths, [0, 1])
    assert gradient.maps.shape == (2, 16, 12)
    sized = NoveltyMap(pixels, demud, size=(8, 8)).explain(paths, [0])
    assert sized.maps.shape == (1, 8, 8)

    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sknovel.plotting import ExplanationDisplay

    display = ExplanationDisplay.from_explanation(
        paths, demud, novelty_map=NoveltyMap(pixels, demud)
    )
    assert display.axes_.shape == (5, 2)
    matplotlib.pyplot.close(display.figure_)


def test_cnn_maps_of_files_of_mixed_sizes(tmp_path):
    from sknovel.features import CNNFeaturizer, load_image_folder

    paths = load_image_folder(mixed_folder(tmp_path), labels_from_subfolders=True).paths
    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=32).fit(paths)
    demud = Demud(2, n_selections=3).fit(cnn.transform(paths))
    result = NoveltyMap(cnn, demud, method="integrated_gradients", n_steps=4).explain(paths)
    # The square the CNN resizes to before its 32-pixel centre crop: 32 * 256 / 224 = 37.
    assert result.maps.shape == (3, 37, 37) and np.all(np.isfinite(result.maps))
    np.testing.assert_allclose(result.scores, demud.scores_, rtol=0.05)
    assert NoveltyMap(cnn, demud).explain(paths, [0]).maps.shape == (1, 37, 37)


def test_a_feature_extractor_without_a_size_needs_one_for_mixed_files(tmp_path):
    from sknovel.features import load_image_folder

    paths = load_image_folder(mixed_folder(tmp_path)).paths
    pixels = PixelFeaturizer(size=(6, 6)).fit(paths)
    demud = Demud(2, n_selections=3).fit(pixels.transform(paths))

    class Opaque:  # neither size nor input_shape_: maps at the files' own size
        def transform(self, images):
            return pixels.transform(images)

    with pytest.raises(ValueError, match=r"different sizes.*size=\(height, width\)"):
        NoveltyMap(Opaque(), demud).explain(paths)
    assert NoveltyMap(Opaque(), demud, size=(6, 6)).explain(paths).maps.shape == (3, 6, 6)
    with pytest.raises(ValueError, match="size must be None"):
        NoveltyMap(pixels, demud, size=(0, 4)).explain(paths)
