"""Train a UCInverter on Imagenette and print its training time and inversion quality.

Fits ``UCInverter(CNNFeaturizer(...))`` with its defaults (unless overridden) on the 1 500
64-px Imagenette images of ``shared/data/imagenette_64px.npz``, except that 10 % of them are
held out (``--validation-fraction``; the estimator's default is 0, for transductive use). With
``n_iter_no_change=None`` (the default) the held-out images select nothing, so they are honest
unseen images. The decoder thus trains on 1 350 images; training time grows linearly with
their number. Printed:

* seconds to featurize the images, and to fit (train; with ``augment`` this includes
  featurizing the mirror images);
* transductive figures, on the training images: how often an inverted image is nearest (pixel
  MSE) to its own source among 100 candidates (target >= 50 %; chance 1 %), and its pixel MSE
  over that of the mean training image (target <= 0.5);
* the same figures on the held-out images;
* with ``--picks T``: DEMUD's first T picks on the same features, and for each treatment of the
  residual (``residual_shift``) how often the decoded novel part is nearest its own pick
  among the T picks' images (and the same for the decoded expected part).

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/uc_training.py [--picks 50] [--json out.json]
    PYTHONPATH=. python benchmarks/uc_training.py --layer _blocks.15 --crop-size 128

Timings depend on the machine's load: on a shared machine, report them with its load.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np
import torch

from sknovel import Demud
from sknovel.datasets import find_data_file, load_labelled_images
from sknovel.explain import UCInverter
from sknovel.features import CNNFeaturizer
from sknovel.metrics import inversion_identification_rate, inversion_mse_ratio

#: The treatments of a pick's residual compared (UCInverter's ``residual_shift``).
RESIDUAL_SHIFTS = ("training_mean", "item_mean", "none")


def log(message):
    print(message, file=sys.stderr, flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=1500, help="images to use (of 1500)")
    parser.add_argument("--layer", default="pool", help="CNNFeaturizer layer (default: pool)")
    parser.add_argument("--crop-size", type=int, default=None, help="CNNFeaturizer crop_size")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--feature-weight", type=float, default=None, help="DeePSiM feature loss")
    parser.add_argument(
        "--adversarial-weight", type=float, default=None, help="DeePSiM adversarial loss"
    )
    parser.add_argument("--pixel-loss", action="store_true", help="both DeePSiM weights 0")
    parser.add_argument("--pretrained", action="store_true", help="start from the shipped decoder")
    parser.add_argument(
        "--dataset", default="imagenette_64px.npz", help="shared set (imagenette_64px.npz, ...)"
    )
    parser.add_argument("--split", default=None, help="msl_v1_96px.npz only: orig_split to use")
    parser.add_argument("--figure", default=None, help="save 8 targets and decodings (PNG)")
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--picks", type=int, default=0, help="DEMUD picks to invert (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args()


def inverter_params(args):
    names = (
        "width",
        "epochs",
        "learning_rate",
        "weight_decay",
        "feature_weight",
        "adversarial_weight",
    )
    params = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.pixel_loss:
        params.update(feature_weight=0.0, adversarial_weight=0.0)
    return dict(
        params,
        augment=args.augment,
        validation_fraction=args.validation_fraction,
        pretrained=args.pretrained,
    )


def figures(originals, decoded, baseline, seed):
    n_candidates = min(100, len(originals))
    return {
        "n_images": len(originals),
        "identification_rate": inversion_identification_rate(
            originals, decoded, n_candidates=n_candidates, random_state=seed
        ),
        "n_candidates": n_candidates,
        "mse_ratio": inversion_mse_ratio(originals, decoded, baseline=baseline),
        "sharpness_ratio": sharpness(decoded) / sharpness(originals),
    }


def sharpness(images):
    """Mean absolute difference between neighbouring pixels (both axes): edges and texture.

    A blurred decoding has less of it than its source; the ratio decoded / source is 1 for
    decodings as detailed as real images.
    """
    return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())


def save_figure(path, targets, decoded):
    """Eight targets (top row) above their decodings (bottom row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(8, len(targets))
    figure, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.6), squeeze=False)
    for i in range(n):
        for row, image in enumerate((targets[i], decoded[i])):
            axes[row, i].imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=1)
            axes[row, i].axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def explanation_figures(inverter, images, features, targets, n_picks, seed):
    """How often each decoded part of DEMUD's picks is nearest its own pick's image."""
    demud = Demud(n_selections=n_picks).fit(features)
    picks = targets[demud.ranking_]
    inverter.set_params(ranker=demud)
    result = {}
    for shift in RESIDUAL_SHIFTS:
        inverter.set_params(residual_shift=shift)
        pictures = inverter.explain(images, features=features)
        result[f"novel[{shift}]"] = inversion_identification_rate(
            picks, pictures.novel, n_candidates=n_picks, random_state=seed
        )
    result["expected"] = inversion_identification_rate(
        picks, pictures.expected, n_candidates=n_picks, random_state=seed
    )
    result["selections"] = inversion_identification_rate(
        picks, pictures.selections, n_candidates=n_picks, random_state=seed
    )
    return result


def main():
    args = parse_args()
    path = find_data_file(args.dataset)
    if path is None:
        sys.exit(f"{args.dataset} not found: run from the repository, beside shared/data.")
    if args.split:  # the MSL set's original split, e.g. "val": images the shipped decoder never saw
        with np.load(path) as archive:
            images = archive["images"][archive["orig_split"] == args.split][: args.n_images]
    else:
        data = load_labelled_images(path, n_samples=args.n_images, random_state=args.seed)
        images = data.images
    layer = None if args.layer == "pool" and args.pretrained else args.layer
    featurizer = CNNFeaturizer(layer=layer, crop_size=args.crop_size, device="cpu")
    inverter = UCInverter(
        featurizer,
        image_size=args.image_size,
        random_state=args.seed,
        device="cpu",
        verbose=1,
        **inverter_params(args),
    )
    log(f"UCInverter parameters: {inverter.get_params(deep=False)}")

    start = time.perf_counter()
    featurizer.fit(images)
    features = featurizer.transform(images)
    featurize_seconds = time.perf_counter() - start
    start = time.perf_counter()
    # the features at hand are not computed again; with augment, this includes
    # featurizing the mirror images
    inverter.fit(images, features=features)
    train_seconds = time.perf_counter() - start

    targets = inverter.target_images(images)
    decoded = inverter.inverse_transform(features)
    train, held_out = inverter.train_indices_, inverter.validation_indices_
    result = {
        "machine": {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
        },
        "layer": args.layer,
        "crop_size": args.crop_size,
        "n_features": inverter.n_features_in_,
        "params": {
            k: v
            for k, v in inverter.get_params(deep=False).items()
            if k not in ("featurizer", "ranker")
        },
        "featurize_seconds": featurize_seconds,
        "train_seconds": train_seconds,
        "total_seconds": featurize_seconds + train_seconds,
        "n_epochs": inverter.n_epochs_,
        "final_loss": inverter.loss_curve_[-1],
        "final_validation_loss": (inverter.validation_loss_curve_ or [None])[-1],
        "transductive": figures(targets[train], decoded[train], inverter.mean_image_, args.seed),
        "held_out": figures(targets[held_out], decoded[held_out], inverter.mean_image_, args.seed),
    }
    if args.figure:
        save_figure(args.figure, targets[train], decoded[train])
    if args.picks:
        result["picks"] = explanation_figures(
            inverter, images, features, targets, args.picks, args.seed
        )

    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
