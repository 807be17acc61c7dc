"""ConvAutoencoder training time with and without the issue-11 workaround, and its losses.

From the repository root::

    PYTHONPATH=. python benchmarks/train_times.py                      # defaults, 5 000 MNIST
    PYTHONPATH=. python benchmarks/train_times.py --epochs 2           # time per epoch only
    PYTHONPATH=. python benchmarks/train_times.py --paths new,onednn-off --threads 2

Each path trains ``ConvAutoencoder(random_state=0)`` (the estimator's defaults unless
``--epochs`` is given) on the first ``--n-images`` MNIST test images, in its own Python
process, so that a native crash is reported as one line instead of ending the script:

* ``new``: the package as it is -- the 1×1 stride-2 shortcuts of the LSA network computed as
  subsampling / zero insertion and a matrix product, every other layer on oneDNN;
* ``old``: the shortcuts run by torch's strided 1×1 convolutions (the code before the fix),
  which reach oneDNN's ``jit_1x1`` kernel; on AVX2 CPUs with torch 2.14.1 it may crash;
* ``onednn-off``: the package as it is with oneDNN switched off for the whole training (the
  alternative the issue rejects as too slow).

Prints, per path: how it ended, seconds, epochs, seconds per epoch, the ratio to ``new``
and the final training and validation losses (the same network and seed; float32 kernels
differ between the paths, so the losses agree only within rounding noise). Target for
``new`` at the defaults on 5 000 images: at most 300 s on two cores.

``--equality-steps N`` (default 10, batches of 32; 0 skips it) also trains the network N
Adam steps in float64, where no path uses oneDNN, once with each kind of shortcut from the
same initial weights, and prints the largest differences of the losses and of the
reconstructions: the new shortcuts compute the same function, so these are rounding errors
(~1e-15). float64 convolutions are slow: the check takes a minute or two.
"""

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PATHS = ("new", "old", "onednn-off")
#: ConvAutoencoder's progress bar (verbose=1): epochs done and the elapsed [H:]MM:SS.
EPOCH_BAR = re.compile(r"ConvAutoencoder\.fit:.*?\| *(\d+)/\d+ \[(?:(\d+):)?(\d+):(\d+)<")


def _use_convolution_shortcuts():
    """Make the LSA shortcuts run torch's strided 1×1 convolutions again (the old code)."""
    import torch

    from sknovel.detectors import _lsa

    _lsa.StridedPointwiseConv2d.forward = torch.nn.Conv2d.forward
    _lsa.StridedPointwiseConvTranspose2d.forward = torch.nn.ConvTranspose2d.forward


def child(path, n_images, epochs, threads):
    """Train once on one path; print the measurements as one JSON line on stdout."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from autoencoder_training import mnist_or_synthetic

    from sknovel.detectors import ConvAutoencoder
    from sknovel.utils.tensors import mkldnn_enabled

    if threads is not None:
        torch.set_num_threads(threads)  # a script, not library code
    if path == "old":
        _use_convolution_shortcuts()
    images, source = mnist_or_synthetic(n_images)
    detector = ConvAutoencoder(random_state=0, device="cpu", verbose=1)
    if epochs is not None:
        detector.set_params(epochs=epochs)
    start = time.perf_counter()
    with mkldnn_enabled(path != "onednn-off"):
        detector.fit(images)
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "epochs": detector.n_epochs_,
        "best_epoch": detector.best_epoch_,
        "loss": detector.loss_curve_[-1],
        "validation_loss": detector.validation_loss_curve_[-1],
        "threads": torch.get_num_threads(),
        "source": source,
    }
    print(json.dumps(result), flush=True)


def float64_equality(images, n_steps, batch_size=32):
    """Largest |loss| and |reconstruction| differences, new vs old shortcuts, after training."""
    import torch

    from sknovel.detectors import _lsa

    x_all = torch.from_numpy(images[: 8 * batch_size, None] / 255.0)  # float64 (n, 1, H, W)
    torch.manual_seed(0)
    initial = _lsa.LSAAutoencoder(images.shape[1:] + (1,), 64).double().state_dict()
    saved = (_lsa.StridedPointwiseConv2d.forward, _lsa.StridedPointwiseConvTranspose2d.forward)
    results = []
    try:
        for path in ("new", "old"):
            if path == "old":
                _use_convolution_shortcuts()
            network = _lsa.LSAAutoencoder(images.shape[1:] + (1,), 64).double()
            network.load_state_dict(initial)
            optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
            losses = []
            for step in range(n_steps):
                start = (step % (len(x_all) // batch_size)) * batch_size
                x = x_all[start : start + batch_size]
                optimizer.zero_grad()
                loss = (network(x) - x).pow(2).mean()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            with torch.no_grad():
                results.append((np.array(losses), network.eval()(x_all[:64]).numpy()))
    finally:
        _lsa.StridedPointwiseConv2d.forward, _lsa.StridedPointwiseConvTranspose2d.forward = saved
    (new_losses, new_out), (old_losses, old_out) = results
    return np.abs(new_losses - old_losses).max(), np.abs(new_out - old_out).max(), new_losses


def _ended(returncode):
    if returncode < 0:
        return f"crashed: {signal.Signals(-returncode).name}"
    return f"failed: return code {returncode}"


def run_path(path, args):
    """Run `child` for `path` in a fresh process; return a dict of results (or how it ended)."""
    command = [sys.executable, __file__, "--child", path, "--n-images", str(args.n_images)]
    if args.epochs is not None:
        command += ["--epochs", str(args.epochs)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, errors="replace", timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {"status": f"not finished in {args.timeout} s", "seconds": None}
    epochs = [
        (int(n), 3600 * int(hours or 0) + 60 * int(minutes) + int(seconds))
        for n, hours, minutes, seconds in EPOCH_BAR.findall(done.stderr)
    ]
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        done_epochs = epochs[-1][0] if epochs else 0
        status = f"{_ended(done.returncode)} after {done_epochs} epochs ({tail[0][:80]})"
        return {"status": status, "seconds": None, "wall": time.perf_counter() - start}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # seconds per epoch from the bar's last state (training + validation, no final scoring;
    # the bar shows whole seconds)
    result["per_epoch"] = epochs[-1][1] / epochs[-1][0] if epochs and epochs[-1][0] else None
    result["status"] = "ok"
    return result


def _format(value, spec):
    width = int(re.match(r"\d*", spec).group() or 0)
    return "-".rjust(width) if value is None else format(value, spec)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-images", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=None, help="default: the estimator's")
    parser.add_argument("--threads", type=int, default=None, help="default: torch's")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"from {', '.join(PATHS)}")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per path")
    parser.add_argument("--equality-steps", type=int, default=10, help="0 skips the check")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n_images, args.epochs, args.threads)
        return 0
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        parser.error(f"--paths: unknown {unknown}; choose from {', '.join(PATHS)}")

    import torch

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), threads: "
        f"{args.threads or 'torch default'}; {args.n_images} images, epochs: "
        f"{args.epochs or 'estimator default'}",
        flush=True,
    )
    results = {}
    for path in paths:
        print(f"training on path {path!r} ...", file=sys.stderr, flush=True)
        results[path] = run_path(path, args)
    reference = results.get("new", {}).get("seconds")
    header = f"{'path':<11} {'seconds':>8} {'epochs':>6} {'s/epoch':>8} {'ratio':>6}"
    print(f"{header} {'loss':>9} {'val loss':>9}  status")
    for path, r in results.items():
        ratio = r["seconds"] / reference if reference and r["seconds"] else None
        print(
            f"{path:<11} {_format(r['seconds'], '8.1f')} {_format(r.get('epochs'), '6d')} "
            f"{_format(r.get('per_epoch'), '8.2f')} {_format(ratio, '6.2f')} "
            f"{_format(r.get('loss'), '9.6f')} {_format(r.get('validation_loss'), '9.6f')}  "
            f"{r['status']}"
        )
    if reference is not None and args.epochs is None:
        met = "met" if reference <= 300 else "NOT met"
        print(f"target for 'new' at the defaults: <= 300 s: {met}")
    if args.equality_steps > 0:
        sys.path.insert(0, str(Path(__file__).parent))
        from autoencoder_training import mnist_or_synthetic

        images = mnist_or_synthetic(min(args.n_images, 1024))[0]
        loss_gap, output_gap, losses = float64_equality(images, args.equality_steps)
        print(
            f"float64, {args.equality_steps} Adam steps from the same weights, new vs old "
            f"shortcuts: loss {losses[0]:.4f} -> {losses[-1]:.4f}, largest loss difference "
            f"{loss_gap:.1e}, largest reconstruction difference {output_gap:.1e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
