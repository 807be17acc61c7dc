"""Featurizing with Dask: bags of paths and dask arrays in, chunked features out, on the workers.

Most tests use Dask's threaded scheduler; the last ones run a LocalCluster of two worker
processes (loopback only), started and closed by a module fixture.
"""

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from sknovel.features import (
    ActivationStore,
    CNNFeaturizer,
    PixelFeaturizer,
    SIFTBoWFeaturizer,
    dask_client,
    featurize_with_dask,
)
from sknovel.features._distributed import sift_descriptor_sample

dask = pytest.importorskip("dask", reason="the Dask paths need dask (pip install sknovel[dask])")
da = pytest.importorskip("dask.array", reason="dask arrays need dask[array]")
db = pytest.importorskip("dask.bag")

RNG = np.random.default_rng(0)
#: Smooth random colour images (blurred noise), so that SIFT finds keypoints in every one.
IMAGES = np.stack(
    [
        np.asarray(
            Image.fromarray((RNG.random((12, 14, 3)) * 255).astype(np.uint8)).resize(
                (60, 52), Image.Resampling.BICUBIC
            )
        )
        for _ in range(12)
    ]
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The IMAGES as PNG files 00.png ... 11.png in one folder."""
    root = tmp_path_factory.mktemp("dask_images")
    for i, image in enumerate(IMAGES):
        Image.fromarray(image).save(root / f"{i:02d}.png")
    return root


@pytest.fixture
def paths(folder):
    return sorted(str(p) for p in folder.glob("*.png"))


@pytest.fixture
def threads():
    """Dask's threaded scheduler, even while the module's cluster client is the default."""
    with dask.config.set(scheduler="threads"):
        yield


def _featurizers():
    pytest.importorskip("cv2")
    return [
        PixelFeaturizer(size=(16, 16), batch_size=2),
        SIFTBoWFeaturizer(4, size=(64, 64), random_state=0, batch_size=3),
        CNNFeaturizer(weights="random", random_state=0, crop_size=32, batch_size=4),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["pixels", "sift", "cnn"])
@pytest.mark.parametrize("kind", ["bag", "array"])
def test_same_features_as_in_memory(index, kind, paths, threads):
    in_memory_input = paths if kind == "bag" else IMAGES
    # Partitions cut the CNN's batches (of 4) as in memory: oneDNN picks its kernels by batch
    # size, so other cuts agree only up to float32 rounding. Pixels and SIFT: any cut.
    rows = 4 if index == 2 else 5
    if kind == "bag":
        X = db.from_sequence(paths, partition_size=rows)
    else:
        X = da.from_array(IMAGES, chunks=(rows, -1, -1, -1))
    expected_featurizer = _featurizers()[index].fit(in_memory_input)
    expected = expected_featurizer.transform(in_memory_input)
    featurizer = _featurizers()[index].fit(X)
    features = featurizer.transform(X)
    assert isinstance(features, da.Array)
    # Shape and chunks are known before anything is computed.
    assert features.shape == expected.shape and not np.isnan(features.shape[0])
    assert features.chunks[1] == (expected.shape[1],) and sum(features.chunks[0]) == 12
    assert features.dtype == expected.dtype
    computed = features.compute()
    assert computed.dtype == expected.dtype
    np.testing.assert_array_equal(computed, expected)
    if index == 1:  # every descriptor fits in the sample: the in-memory vocabulary
        np.testing.assert_array_equal(
            featurizer.cluster_centers_, expected_featurizer.cluster_centers_
        )
        assert featurizer.n_descriptors_ == expected_featurizer.n_descriptors_


def test_rows_follow_the_bag_order(paths, threads):
    order = [5, 0, 11, 3, 7, 1, 2, 4, 6, 8, 9, 10]
    bag = db.from_sequence([paths[i] for i in order], npartitions=5)
    featurizer = PixelFeaturizer(size=(8, 8)).fit(paths)
    np.testing.assert_array_equal(
        featurizer.transform(bag).compute(), featurizer.transform(paths)[order]
    )


def test_sift_sample_is_bounded_and_repeatable(paths, threads):
    pytest.importorskip("cv2")
    bag = db.from_sequence(paths, npartitions=12)
    in_memory = SIFTBoWFeaturizer(3, size=(64, 64), max_descriptors=None).fit(paths)
    assert in_memory.n_descriptors_ > 40
    featurizer = SIFTBoWFeaturizer(3, size=(64, 64), max_descriptors=20, random_state=1)
    found = sift_descriptor_sample(featurizer, bag, np.random.RandomState(1))
    assert found.rows.shape == (20, 128) and found.n_seen == in_memory.n_descriptors_
    assert found.n_images == 12
    # Sampled rows are real descriptors of the images.
    every = {row.tobytes() for row in _all_descriptors(in_memory, paths)}
    assert all(row.tobytes() in every for row in found.rows)
    first = featurizer.fit(bag).cluster_centers_.copy()
    np.testing.assert_array_equal(featurizer.fit(bag).cluster_centers_, first)
    assert featurizer.n_descriptors_ == in_memory.n_descriptors_


def _all_descriptors(featurizer, paths):
    return np.concatenate([d for batch in featurizer._descriptors(paths, "fit") for d in batch])


def test_array_chunked_within_images_is_refused(threads):
    X = da.from_array(IMAGES, chunks=(4, 26, -1, -1))
    featurizer = PixelFeaturizer().fit(IMAGES)
    with pytest.raises(ValueError, match=r"chunked along axis 1.*rechunk\(\{1: -1, 2: -1, 3: -1\}"):
        featurizer.transform(X)
    with pytest.raises(ValueError, match="chunked along axis 1"):
        PixelFeaturizer().fit(X)
    with pytest.raises(TypeError, match="uint8 in"):
        CNNFeaturizer(weights="random", crop_size=32).fit(da.zeros((2, 8, 8), dtype=int))


def test_bag_items_must_be_paths(threads):
    featurizer = PixelFeaturizer().fit(IMAGES)
    with pytest.raises(TypeError, match="items must be image file paths"):
        featurizer.transform(db.from_sequence([IMAGES[0], IMAGES[1]]))
    with pytest.raises(ValueError, match="empty dask bag"):
        featurizer.transform(db.from_sequence([], npartitions=1))


def test_corrupt_file_is_named_or_skipped(folder, paths, tmp_path, threads):
    broken = tmp_path / "broken.png"
    broken.write_bytes(Image.new("RGB", (8, 8)).tobytes()[:50])
    with_broken = [*paths[:5], str(broken), *paths[5:]]
    featurizer = PixelFeaturizer(size=(8, 8)).fit(paths)
    features = featurizer.transform(db.from_sequence(with_broken, npartitions=3))
    with pytest.raises(ValueError, match=r"Cannot read image file .*broken\.png"):
        features.compute()
    # As load_image_folder(on_error="skip"): left out, reported with the reason.
    result = featurize_with_dask(
        PixelFeaturizer(size=(8, 8)), with_broken, on_error="skip", partition_size=4
    )
    assert result.skipped == [str(broken)] and len(result.skip_reasons) == 1
    assert result.paths == paths and list(result.kept_indices) == [*range(5), *range(6, 13)]
    np.testing.assert_array_equal(result.features.compute(), featurizer.transform(paths))


def test_featurize_a_folder_with_labels(tmp_path, threads):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(IMAGES[i]).save(tmp_path / label / f"{i}.png")
    result = featurize_with_dask(
        PixelFeaturizer(size=(8, 8)), tmp_path, labels_from_subfolders=True, partition_size=2
    )
    assert result.class_names == ["a", "b"] and list(result.labels) == [0, 0, 0, 1, 1, 1]
    assert result.features.chunks[0] == (2, 2, 2)
    np.testing.assert_array_equal(
        result.features.compute(), PixelFeaturizer(size=(8, 8)).fit_transform(result.paths)
    )


def test_dask_client_refuses_a_bad_scheduler():
    with pytest.raises(ValueError, match="scheduler must be"):
        with dask_client(""):
            pass
    with dask_client("threads") as client:
        assert client is None and dask.config.get("scheduler") == "threads"


def _heap_slack_depth():
    from sknovel.utils import heap

    return heap._depth


def test_local_cluster_workers_hold_the_heap_slack_for_their_life():
    """dask_client("processes") keeps freed memory in each worker's heap between partitions
    (see sknovel.utils.heap); the client's process is left alone."""
    pytest.importorskip("distributed", reason="needs dask.distributed")
    from sknovel.utils import heap

    if heap._glibc() is None:
        pytest.skip("heap_slack acts on glibc only")
    with dask_client("processes", n_workers=2) as client:
        assert list(client.run(_heap_slack_depth).values()) == [1, 1]
        assert _heap_slack_depth() == 0


def test_cnn_pickles_without_weights():
    featurizer = CNNFeaturizer(crop_size=32).fit(IMAGES[:1])  # real EfficientNet-Lite0 weights
    assert len(pickle.dumps(featurizer)) < 2_000


def test_cnn_with_a_store_runs_without_it_on_the_workers(threads):
    store = ActivationStore()
    featurizer = CNNFeaturizer(crop_size=32, batch_size=4, memory=store).fit(IMAGES)
    assert len(store) == 1 and len(pickle.dumps(featurizer)) < 2_000  # the store travels empty
    features = featurizer.transform(da.from_array(IMAGES, chunks=(4, -1, -1, -1))).compute()
    np.testing.assert_allclose(features, featurizer.transform(IMAGES), rtol=1e-5, atol=1e-6)
    assert len(store) == 1  # the partitions were not stored
    assert featurizer.memory is store


# --- on a LocalCluster of two worker processes -------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


@pytest.fixture
def workers_in(client, folder):
    """The workers' working folder is the image folder; the client's stays elsewhere."""
    assert os.getcwd() != str(folder)
    back = os.getcwd()
    client.run(os.chdir, str(folder))
    yield
    client.run(os.chdir, back)


@pytest.mark.usefixtures("workers_in")
def test_images_are_read_only_on_the_workers(client, paths):
    # Relative names resolve only in the workers' folder: had the client opened one file, for
    # fit or transform, it would have failed.
    names = [os.path.basename(p) for p in paths]
    assert not os.path.exists(names[0])
    bag = db.from_sequence(names, npartitions=4)
    pixels = PixelFeaturizer(size=(16, 16)).fit(bag)
    features = pixels.transform(bag)
    graph_bytes = len(pickle.dumps(dict(features.__dask_graph__())))
    assert graph_bytes < 20_000 < IMAGES.nbytes  # paths and a featurizer, not pixels
    np.testing.assert_array_equal(
        features.compute(), PixelFeaturizer(size=(16, 16)).fit(paths).transform(paths)
    )
    pytest.importorskip("cv2")
    sift = SIFTBoWFeaturizer(4, size=(64, 64), random_state=0).fit(bag)
    expected = SIFTBoWFeaturizer(4, size=(64, 64), random_state=0).fit(paths)
    np.testing.assert_array_equal(sift.cluster_centers_, expected.cluster_centers_)
    np.testing.assert_array_equal(sift.transform(bag).compute(), expected.transform(paths))


def test_cnn_weights_load_once_per_worker(client, paths):
    def forget_networks():
        from sknovel.features import _cnn

        _cnn._NETWORKS.clear()
        _cnn._NETWORK_LOADS.clear()

    def loads():
        from sknovel.features import _cnn

        return sum(_cnn._NETWORK_LOADS.values())

    client.run(forget_networks)
    featurizer = CNNFeaturizer(crop_size=32, batch_size=2).fit(paths[:1])  # real weights
    bag = db.from_sequence(paths, npartitions=6)
    features = featurizer.transform(bag).compute()
    per_worker = client.run(loads)
    # Six partitions on two single-threaded workers: each worker built the network once.
    assert sorted(per_worker.values()) in ([1, 1], [0, 1])
    expected = CNNFeaturizer(crop_size=32, batch_size=2).fit(paths).transform(paths)
    # Worker processes run torch on one thread, this process on more: float32 sums in another
    # order (the tolerance of test_cnn.py's child-process test).
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    assert features.dtype == np.float32
