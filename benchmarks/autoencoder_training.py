"""Time ConvAutoencoder training on ~5 000 MNIST-size images (target: <= 5 minutes, 2 cores).

From the repository root::

    PYTHONPATH=. python benchmarks/autoencoder_training.py               # the defaults
    PYTHONPATH=. python benchmarks/autoencoder_training.py --threads 1   # one torch thread

Trains with the estimator's default parameters (30 epochs at most, early stopping after 10
without improvement) on the first `--n-images` MNIST test images (``mnist_test.npz``, found
with :func:`sknovel.datasets.find_data_file`), or on as many synthetic 28×28 stroke images
when that file is absent, on the CPU. Prints the machine, the time, the epochs run and the
time per epoch. Other work on the machine slows it down; on a busy machine one torch thread
can be much faster than two, which wait for each other.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np


def mnist_or_synthetic(n_images):
    """The first `n_images` MNIST test images, or synthetic 28×28 images of random strokes."""
    from sknovel.datasets import find_data_file, load_labelled_images

    path = find_data_file("mnist_test.npz")
    if path is not None:
        return load_labelled_images(path).images[:n_images], f"MNIST ({path})"
    rng = np.random.default_rng(0)
    pixels = np.stack(np.mgrid[:28, :28], axis=-1).astype(float)  # (28, 28, 2) positions
    images = np.zeros((n_images, 28, 28), dtype=np.uint8)
    for image in images:
        for start, end in rng.uniform(4, 24, (3, 2, 2)):  # three strokes, 1.5 px thick
            image[_distance_to_segment(pixels, start, end) < 1.5] = 255
    return images, "synthetic strokes (mnist_test.npz not found)"


def _distance_to_segment(points, start, end):
    """Euclidean distance of every point (..., 2) to the segment from `start` to `end`."""
    direction = end - start
    t = np.clip((points - start) @ direction / max(direction @ direction, 1e-12), 0, 1)
    return np.linalg.norm(points - (start + t[..., np.newaxis] * direction), axis=-1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-images", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=None, help="default: the estimator's")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args(argv)

    import torch

    from sknovel.detectors import ConvAutoencoder

    if args.threads is not None:
        torch.set_num_threads(args.threads)  # a script, not library code
    images, source = mnist_or_synthetic(args.n_images)
    detector = ConvAutoencoder(random_state=0, device="cpu", verbose=1)
    if args.epochs is not None:
        detector.set_params(epochs=args.epochs)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"{len(images)} images of {images.shape[1:]} from {source}",
        flush=True,
    )
    start = time.perf_counter()
    detector.fit(images)
    seconds = time.perf_counter() - start
    print(
        f"trained in {seconds:.1f} s ({seconds / 60:.2f} min): {detector.n_epochs_} epochs "
        f"(best {detector.best_epoch_}), {seconds / detector.n_epochs_:.2f} s per epoch, "
        f"final validation loss {detector.validation_loss_curve_[-1]:.5f}; "
        f"target <= 300 s: {'met' if seconds <= 300 else 'NOT met'}"
    )
    return 0 if seconds <= 300 else 1


if __name__ == "__main__":
    sys.exit(main())
