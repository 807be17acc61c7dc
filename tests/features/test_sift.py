"""SIFTBoWFeaturizer against a brute-force reference, its edge cases and its invariants.

The checks common to every featurizer are in ``test_common_featurizers.py``.
"""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sknovel.datasets import find_data_file, load_labelled_images
from sknovel.features import SIFTBoWFeaturizer
from sknovel.features._sift import _Reservoir

cv2 = pytest.importorskip("cv2")


def _images(n_images=8, size=32, random_state=0):
    """Colour uint8 images of random 4-pixel blocks plus noise: keypoints in every one."""
    rng = np.random.default_rng(random_state)
    blocks = rng.random((n_images, size // 4, size // 4, 3)).repeat(4, axis=1).repeat(4, axis=2)
    noisy = blocks + 0.05 * rng.standard_normal(blocks.shape)
    return (np.clip(noisy, 0, 1) * 255).astype(np.uint8)


IMAGES = _images()


def _reference_histograms(images, centres, max_keypoints=None):
    """Pillow grey levels, OpenCV SIFT, nearest centre by brute force, normalised counts."""
    sift = cv2.SIFT_create()
    rows = []
    for image in images:
        grey = np.asarray(Image.fromarray(image).convert("L"))
        keypoints, descriptors = sift.detectAndCompute(grey, None)
        counts = np.zeros(len(centres))
        if descriptors is not None:
            if max_keypoints is not None:
                strongest = np.argsort([-k.response for k in keypoints], kind="stable")
                descriptors = descriptors[strongest[:max_keypoints]]
            distances = ((descriptors[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            for word in distances.argmin(axis=1):
                counts[word] += 1
        rows.append(counts / counts.sum() if counts.sum() else counts)
    return np.array(rows)


@pytest.mark.parametrize("max_keypoints", [None, 5])
def test_transform_matches_brute_force_reference(max_keypoints):
    featurizer = SIFTBoWFeaturizer(4, max_keypoints=max_keypoints, random_state=0).fit(IMAGES)
    features = featurizer.transform(IMAGES)
    expected = _reference_histograms(
        IMAGES, featurizer.cluster_centers_.astype(float), max_keypoints
    )
    np.testing.assert_allclose(features, expected, atol=1e-12)
    assert features.dtype == np.float64
    if max_keypoints is not None:
        assert featurizer.n_descriptors_ == max_keypoints * len(IMAGES)


def test_vocabulary_is_a_kmeans_fixed_point():
    # Every centre is (to k-means' tolerance) the mean of the descriptors nearest to it.
    featurizer = SIFTBoWFeaturizer(3, max_descriptors=None, random_state=0).fit(IMAGES)
    sift = cv2.SIFT_create()
    greys = [np.asarray(Image.fromarray(image).convert("L")) for image in IMAGES]
    descriptors = np.concatenate([sift.detectAndCompute(g, None)[1] for g in greys])
    assert featurizer.n_descriptors_ == len(descriptors)
    centres = featurizer.cluster_centers_
    nearest = ((descriptors[:, None] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    means = np.array([descriptors[nearest == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(centres, means, atol=0.5)  # descriptor values reach ~250
    assert featurizer.vocabulary_.n_clusters == featurizer.n_features_out_ == 3
    names = featurizer.get_feature_names_out()
    assert list(names) == ["sift_cluster_0", "sift_cluster_1", "sift_cluster_2"]


def test_images_without_keypoints_give_zero_rows_and_are_counted():
    flat = np.full((2,) + IMAGES.shape[1:], 128, dtype=np.uint8)
    images = np.concatenate([IMAGES[:3], flat, IMAGES[3:]])
    featurizer = SIFTBoWFeaturizer(4, random_state=0).fit(images)
    assert featurizer.n_images_without_keypoints_ == 2
    features = featurizer.transform(images)
    np.testing.assert_array_equal(features[3:5], 0)
    np.testing.assert_allclose(np.delete(features, [3, 4], axis=0).sum(axis=1), 1)


def test_too_few_descriptors_is_an_error_naming_n_clusters():
    flat = np.zeros((3, 32, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"n_clusters=4 .*gave 0 \(3 had no keypoints\)"):
        SIFTBoWFeaturizer(4).fit(flat)
    n_found = SIFTBoWFeaturizer(1).fit(IMAGES[:1]).n_descriptors_
    with pytest.raises(ValueError, match=f"n_clusters={n_found + 1} "):
        SIFTBoWFeaturizer(n_found + 1).fit(IMAGES[:1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 0}, "'n_clusters' parameter"),
        ({"max_keypoints": 0}, "'max_keypoints' parameter"),
        ({"max_descriptors": 3}, "max_descriptors=3 must be at least n_clusters=4"),
        ({"size": (16,)}, "size must be None"),
        ({"size": (16, 0)}, "size must be None"),
        ({"batch_size": 0}, "'batch_size' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SIFTBoWFeaturizer(**{"n_clusters": 4, **params}).fit(IMAGES)


def test_sampled_vocabulary_is_repeatable_and_batch_independent():
    make = lambda **kw: SIFTBoWFeaturizer(4, max_descriptors=50, **kw).fit(IMAGES)  # noqa: E731
    first = make(random_state=1, batch_size=3)
    assert first.n_descriptors_ > 50  # the sample is a real subsample
    np.testing.assert_array_equal(first.cluster_centers_, make(random_state=1).cluster_centers_)
    assert not np.array_equal(first.cluster_centers_, make(random_state=2).cluster_centers_)


def test_files_of_mixed_sizes(tmp_path):
    paths = []
    for i, image in enumerate(IMAGES):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image[: 32 - 2 * i]).save(paths[-1])  # heights 32, 30, ..., 18
    featurizer = SIFTBoWFeaturizer(4, random_state=0, batch_size=3).fit(paths)
    np.testing.assert_allclose(featurizer.transform(paths).sum(axis=1), 1)
    resized = SIFTBoWFeaturizer(4, size=(24, 24), random_state=0).fit(paths)
    assert resized.transform(paths).shape == (len(paths), 4)


def test_size_follows_the_shared_resize_policy(tmp_path):
    from sknovel.utils.images import fit_to_size

    grey = (IMAGES[..., 0].astype(np.float32)[:, :, :24] * 0.9).astype(np.uint8)  # 32 x 24
    fitted = np.rint(fit_to_size(grey[..., None], (20, 20))[..., 0] * 255).astype(np.uint8)
    resized = SIFTBoWFeaturizer(4, size=(20, 20), random_state=0).fit(grey)
    plain = SIFTBoWFeaturizer(4, random_state=0).fit(fitted)
    np.testing.assert_array_equal(resized.cluster_centers_, plain.cluster_centers_)
    paths = []
    for i, image in enumerate(grey):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    np.testing.assert_array_equal(resized.transform(paths), plain.transform(fitted))


def test_one_pixel_and_empty_images(tmp_path):
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (9, 9, 9)).save(dot)
    paths = [str(dot)]
    for i, image in enumerate(IMAGES[:3]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    for size in (None, (16, 16)):
        featurizer = SIFTBoWFeaturizer(3, size=size, random_state=0).fit(paths)
        features = featurizer.transform(paths)
        assert features[0].tolist() == [0.0, 0.0, 0.0] and featurizer.n_images_without_keypoints_
    with pytest.raises(ValueError, match="without pixels"):
        SIFTBoWFeaturizer(3).fit(np.zeros((2, 0, 8), dtype=np.uint8))  # was cv2.error


def test_missing_opencv_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match=r'pip install "sknovel\[sift\]"'):
        SIFTBoWFeaturizer(4).fit(IMAGES)


# -- properties ----------------------------------------------------------------------------------

FITTED = SIFTBoWFeaturizer(4, random_state=0).fit(IMAGES)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n_flat=st.integers(0, 2), n_images=st.integers(1, 5))
def test_rows_are_distributions_and_follow_their_images(seed, n_flat, n_images):
    images = np.concatenate([_images(n_images, random_state=seed), np.zeros((n_flat, 32, 32, 3))])
    images = images.astype(np.uint8)
    features = FITTED.transform(images)
    sums = features.sum(axis=1)
    assert np.all(features >= 0)
    np.testing.assert_allclose(sums[:n_images], 1)
    np.testing.assert_array_equal(sums[n_images:], 0)
    order = np.random.default_rng(seed).permutation(len(images))
    np.testing.assert_array_equal(FITTED.transform(images[order]), features[order])


@settings(max_examples=50, deadline=None)
@given(
    chunks=st.lists(st.integers(0, 30), min_size=1, max_size=8),
    capacity=st.integers(1, 40),
    cut=st.integers(0, 30),
)
def test_reservoir_sample_ignores_chunking(chunks, capacity, cut):
    rows = np.arange(sum(chunks), dtype=np.float32)[:, None]
    whole = _Reservoir(capacity, np.random.RandomState(0))
    start = 0
    for size in chunks:
        whole.add(rows[start : start + size])
        start += size
    # The same stream cut differently: at `cut`, then the rest, row by row.
    other = _Reservoir(capacity, np.random.RandomState(0))
    other.add(rows[:cut])
    for row in rows[cut:]:
        other.add(row[None])
    sample = whole.sample()
    assert len(sample) == min(capacity, len(rows))
    assert len(np.unique(sample)) == len(sample)  # no row twice
    np.testing.assert_array_equal(sample, other.sample())


def test_reservoir_sample_is_uniform():
    # Algorithm R keeps every row with probability capacity / n; 2000 runs, 40 rows, keep 10.
    hits = np.zeros(40)
    rng = np.random.RandomState(0)
    for _ in range(2000):
        reservoir = _Reservoir(10, rng)
        for start in range(0, 40, 7):
            reservoir.add(np.arange(start, min(start + 7, 40))[:, None])
        hits[reservoir.sample().ravel().astype(int)] += 1
    # Each count is Binomial(2000, 1/4): mean 500, sd 19.4; 5 sd is never reached by chance.
    assert np.abs(hits - 500).max() < 5 * 19.4


# -- real data -----------------------------------------------------------------------------------


@pytest.mark.data
def test_msl_images_give_non_degenerate_features():
    path = find_data_file("msl_v1_96px.npz")
    if path is None:
        pytest.skip("msl_v1_96px.npz is absent: the shared data sets live beside the project")
    data = load_labelled_images(path, n_samples=100, random_state=0)
    featurizer = SIFTBoWFeaturizer(10, random_state=0)
    features = featurizer.fit_transform(data.images)
    assert features.shape == (100, 10)
    assert featurizer.n_images_without_keypoints_ < 20
    assert np.all(features.std(axis=0) > 0.01)  # every visual word varies between images
    assert np.linalg.matrix_rank(features) >= 9  # rows sum to 1 (or 0): rank 10 at most
    assert len(np.unique(features.round(6), axis=0)) > 80
