"""Every torch trainer runs without a native crash, and never through the kernel that crashed.

Issue 11 §1: with torch 2.14.1 (oneDNN 3.12) on AVX2 CPUs, oneDNN's strided 1×1 convolution
kernel corrupts the heap in its backward pass (grey images, one torch thread), and the test
process died with SIGSEGV or SIGABRT. Two kinds of test here:

* each trainer runs in a fresh Python process (one and the default number of torch threads,
  oneDNN on and off), so that a native crash is one failing test that names the trainer, the
  signal and the end of stderr -- not a dead test session; with oneDNN's verbose log on, the
  same run shows which oneDNN primitives ran, and none may be a strided 1×1 convolution;
* ``torch.profiler`` lists the convolutions of a training step of each trainer, on any CPU:
  none may be a 1×1 convolution with a stride (the call that reaches that kernel), so that a
  machine that does not crash is kept off the path too.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sknovel.utils.tensors import mkldnn_enabled  # noqa: E402

TRAINERS = (
    "ConvAutoencoder",
    "OutlierExposureDetector",
    "UCInverter",
    "UCInverter-DeePSiM",
    "UCInverter-pretrained",
    "CounterfactualExplainer",
)
#: Seconds one trainer's process may take, all four settings together (10-25 s here).
TIMEOUT = 240
REPOSITORY = Path(__file__).resolve().parents[1]

#: Trains one trainer (sys.argv[1]) on tiny grey 28×28 images -- the input that crashed --
#: with one torch thread and the default number, oneDNN on and off; oneDNN's verbose log
#: (stdout) is on for the run with one thread and oneDNN on.
CHILD = r"""
import sys

import numpy as np
import torch

from sknovel.detectors import ConvAutoencoder, OutlierExposureDetector
from sknovel.explain import CounterfactualExplainer, UCInverter
from sknovel.features import CNNFeaturizer, PixelFeaturizer
from sknovel.utils.tensors import mkldnn_enabled, torch_threads

IMAGES = np.random.default_rng(0).random((8, 28, 28)).astype(np.float32)
COMMON = {"epochs": 1, "batch_size": 4, "random_state": 0, "device": "cpu"}
trainer = sys.argv[1]


def autoencoder():
    return ConvAutoencoder(latent_dim=4, **COMMON).fit(IMAGES)


if trainer == "CounterfactualExplainer":
    print("@@ 1 torch thread(s), oneDNN on (its detector)", file=sys.stderr, flush=True)
    with torch_threads(1):
        detector = autoencoder()  # trained in every setting by the ConvAutoencoder test
TRAIN = {
    "ConvAutoencoder": autoencoder,
    "OutlierExposureDetector": lambda: OutlierExposureDetector(**COMMON).fit(IMAGES),
    "UCInverter": lambda: UCInverter(PixelFeaturizer(), image_size=8, width=8, **COMMON).fit(
        IMAGES
    ),
    # the comparator network's backward pass and the discriminator
    "UCInverter-DeePSiM": lambda: UCInverter(
        PixelFeaturizer(), image_size=16, width=8, feature_weight=0.1, adversarial_weight=0.01,
        **COMMON,
    ).fit(IMAGES),
    # fine-tuning the shipped decoder, made grey
    "UCInverter-pretrained": lambda: UCInverter(
        CNNFeaturizer(batch_size=8, device="cpu"), pretrained=True, **COMMON
    ).fit(IMAGES),
    "CounterfactualExplainer": lambda: CounterfactualExplainer(
        detector, width=4, **{**COMMON, "batch_size": 8}
    ).fit(IMAGES),
}[trainer]
mkldnn = torch.backends.mkldnn
for threads in sorted({1, torch.get_num_threads()}):
    for onednn in (True, False):
        setting = f"{threads} torch thread(s), oneDNN {'on' if onednn else 'off'}"
        print(f"@@ {setting}", file=sys.stderr, flush=True)
        log = threads == 1 and onednn and mkldnn.is_available()
        with torch_threads(threads), mkldnn_enabled(onednn):
            with mkldnn.verbose(mkldnn.VERBOSE_ON if log else mkldnn.VERBOSE_OFF):
                TRAIN()
        sys.stdout.flush()
print("@@ done", file=sys.stderr, flush=True)
"""

#: A oneDNN (de)convolution whose kernel is 1×1 with a stride above 1 in its verbose log line.
STRIDED_POINTWISE_PRIMITIVE = re.compile(
    r"^onednn_verbose.*,(de)?convolution,.*(kh1sh([2-9]|\d\d)|kw1sw([2-9]|\d\d))"
)


def _child_environment():
    """This process's environment; idle OpenMP threads sleep instead of spinning.

    On cores busy with other work, spinning threads made one tiny counterfactual fit with two
    torch threads take 20-40 s instead of 1 s. How idle threads wait changes no kernel.
    """
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _how_it_ended(returncode):
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"{name} (return code {returncode})"
    return f"return code {returncode}"


def _where(stderr):
    """Where the child was, from the last progress line it wrote to stderr."""
    settings = re.findall(r"^@@ (.*)$", stderr, flags=re.MULTILINE)
    if not settings:
        return "at start-up"
    if settings[-1] == "done":
        return "after training, at exit (memory corrupted earlier)"
    return f"while training with {settings[-1]}"


@pytest.mark.parametrize("trainer", TRAINERS)
def test_trainer_survives_a_fresh_process(trainer):
    try:
        run = subprocess.run(
            [sys.executable, "-c", CHILD, trainer],
            cwd=REPOSITORY,
            env=_child_environment(),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr or ""
        if isinstance(stderr, bytes):  # the captured part comes as bytes even with text=True
            stderr = stderr.decode(errors="replace")
        pytest.fail(
            f"{trainer} did not finish in {TIMEOUT} s: stuck {_where(stderr)}; end of its "
            f"stderr:\n{stderr[-2000:]}"
        )
    if run.returncode != 0 or "@@ done" not in run.stderr:
        pytest.fail(
            f"{trainer} died with {_how_it_ended(run.returncode)} {_where(run.stderr)}; end of "
            f"its stderr:\n{run.stderr[-2000:]}",
            pytrace=False,
        )
    if torch.backends.mkldnn.is_available():  # the log is there to be read
        assert re.search(r"^onednn_verbose.*,(de)?convolution,", run.stdout, re.MULTILINE)
    strided = [line for line in run.stdout.splitlines() if STRIDED_POINTWISE_PRIMITIVE.match(line)]
    assert not strided, (
        f"{trainer} ran {len(strided)} oneDNN strided 1×1 convolution primitive(s), the kernel "
        f"that corrupts memory on AVX2 CPUs; first:\n{strided[0]}"
    )


def test_the_verbose_log_pattern_finds_the_crashing_primitive():
    # the backward-weights line of the first down-block's shortcut, as logged before the fix
    line = (
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_1x1:avx2,backward_weights,"
        "src:f32:ap:blocked:aBcd8b::f0 wei:f32:ap:blocked:ABcd8b8a::f0 bia:undef::undef::: "
        "dst:f32:a:blocked:aBcd8b::f0,attr-scratchpad:user,alg:convolution_direct,"
        "mb16_ic1oc32_ih28oh14kh1sh2dh0ph0_iw28ow14kw1sw2dw0pw0,0.115967"
    )
    assert STRIDED_POINTWISE_PRIMITIVE.match(line)
    assert not STRIDED_POINTWISE_PRIMITIVE.match(
        line.replace("kh1sh2", "kh1sh1").replace("kw1sw2", "kw1sw1")
    )
    assert not STRIDED_POINTWISE_PRIMITIVE.match(
        line.replace("kh1sh2", "kh3sh2").replace("kw1sw2", "kw3sw2")
    )


# --- torch.profiler: which convolutions a training step calls, on any CPU -------------------


def strided_pointwise_convolutions(train):
    """Run `train()` under torch.profiler; list its 1×1 convolution calls with a stride > 1.

    Forward (``aten::convolution``) and backward (``aten::convolution_backward``) calls are
    checked, transposed or not. oneDNN is off meanwhile: the calls are recorded all the same,
    and the kernel that crashes cannot run in this process.

    Returns
    -------
    found : list of str
        One description per offending call.
    n_convolutions : int
        How many convolution calls were seen in all.
    """
    from torch.profiler import ProfilerActivity, profile

    # (weight position, stride position) among each op's arguments
    positions = {"aten::convolution": (1, 3), "aten::convolution_backward": (2, 4)}
    with mkldnn_enabled(False), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        train()
    found, n_convolutions = [], 0
    for event in p.events():
        if event.name not in positions:
            continue
        n_convolutions += 1
        weight_at, stride_at = positions[event.name]
        weight_shape = list(event.input_shapes[weight_at])
        stride = list(event.concrete_inputs[stride_at])
        if all(side == 1 for side in weight_shape[2:]) and any(step > 1 for step in stride):
            found.append(f"{event.name} weight {weight_shape} stride {stride}")
    return found, n_convolutions


def test_the_profiler_check_finds_a_strided_pointwise_convolution():
    layer = torch.nn.Conv2d(1, 4, 1, stride=2, bias=False)
    found, n_convolutions = strided_pointwise_convolutions(
        lambda: layer(torch.rand(2, 1, 8, 8)).sum().backward()
    )
    assert n_convolutions == 2 and len(found) == 2  # forward and backward


def _train_autoencoder(images):
    from sknovel.detectors import ConvAutoencoder

    settings = {"epochs": 1, "validation_fraction": 0, "random_state": 0, "device": "cpu"}
    return ConvAutoencoder(latent_dim=4, batch_size=len(images), **settings).fit(images)


def _autoencoder_training(images):
    return lambda: _train_autoencoder(images)


def _outlier_exposure_training(images):
    from sknovel.detectors import OutlierExposureDetector

    detector = OutlierExposureDetector(
        epochs=1, validation_fraction=0, batch_size=len(images), random_state=0, device="cpu"
    )
    return lambda: detector.fit(images)


def _uc_inverter_training(images):
    from sknovel.explain import UCInverter
    from sknovel.features import PixelFeaturizer

    inverter = UCInverter(
        PixelFeaturizer(), image_size=8, width=8, epochs=1, batch_size=len(images), device="cpu"
    )
    return lambda: inverter.fit(images)


def _deepsim_training(images):
    from sknovel.explain import UCInverter
    from sknovel.features import PixelFeaturizer

    inverter = UCInverter(
        PixelFeaturizer(),
        image_size=16,
        width=8,
        epochs=1,
        batch_size=len(images),
        feature_weight=0.1,
        adversarial_weight=0.01,
        device="cpu",
    )
    return lambda: inverter.fit(images)


def _pretrained_fine_tuning(images):
    from sknovel.explain import UCInverter
    from sknovel.features import CNNFeaturizer

    featurizer = CNNFeaturizer(batch_size=len(images), device="cpu").fit(images)
    features = featurizer.transform(images)  # the featurizer's inference is not trained
    inverter = UCInverter(
        featurizer, pretrained=True, epochs=1, batch_size=len(images), device="cpu"
    )
    return lambda: inverter.fit(images, features=features)


def _counterfactual_training(images):
    from sknovel.explain import CounterfactualExplainer

    with mkldnn_enabled(False):  # the detector's own training is checked on its own
        detector = _train_autoencoder(images)
    explainer = CounterfactualExplainer(
        detector, width=4, epochs=1, batch_size=len(images), device="cpu"
    )
    return lambda: explainer.fit(images)


@pytest.mark.parametrize(
    "training",
    [
        _autoencoder_training,
        _outlier_exposure_training,
        _uc_inverter_training,
        _deepsim_training,
        _pretrained_fine_tuning,
        _counterfactual_training,
    ],
)
def test_no_trainer_calls_a_strided_pointwise_convolution(training, one_torch_thread):
    images = np.random.default_rng(0).random((8, 28, 28)).astype(np.float32)
    found, n_convolutions = strided_pointwise_convolutions(training(images))
    assert n_convolutions > 0  # the profiler saw the network's convolutions
    assert not found, found


# --- SKNOVEL_TEST_MKLDNN: the whole suite with oneDNN off -------------------------------------

PROBE = """
import torch


def test_probe():
    print("oneDNN enabled:", torch.backends.mkldnn.enabled)
"""


def _pytest_with_root_conftest(tmp_path, value):
    """Run a one-test file under pytest with the repository's conftest and the variable set."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**_child_environment(), "SKNOVEL_TEST_MKLDNN": value}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-s", "-p", "no:cacheprovider"]
        + [str(tmp_path / "test_probe.py")],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_environment_variable_switches_onednn_off_for_the_session(tmp_path):
    # (unset or 1 leaves oneDNN on: every other test runs that way)
    run = _pytest_with_root_conftest(tmp_path, "0")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "oneDNN enabled: False" in run.stdout
    assert "torch oneDNN: off (SKNOVEL_TEST_MKLDNN=0)" in run.stdout  # the report header


def test_environment_variable_rejects_other_values(tmp_path):
    run = _pytest_with_root_conftest(tmp_path, "no")
    assert run.returncode != 0
    assert "SKNOVEL_TEST_MKLDNN must be 0 or 1; got 'no'" in run.stdout + run.stderr
