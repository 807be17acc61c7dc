"""How well the detectors' thresholds hold on new normal images: training vs held-out images.

A detector's threshold ``offset_`` is the ``contamination`` percentile of normal images'
scores. A network fits its training images better than new ones, so a threshold on the
training images' scores calls more than ``contamination`` of new normal images novel. This
script trains the detectors of ``counterfactual_training.py`` on the first half of the MNIST or
Fashion-MNIST test set (its normal class, and for the outlier-exposure detector 500 other
images as outliers) and reports, for the test half, the share of normal images and of
anomalies that each threshold calls anomalous:

* training threshold: the percentile of the scores of all normal training images;
* held-out threshold: the percentile of ``validation_scores_`` (what ``offset_`` is when the
  detector holds out at least 20 images).

It also reports where the median score of each set falls among the unseen normal images (the
share of them that score as normal or more), which is what the counterfactual explainer's
typical target aims at: 50 % is right.

Run from the repository root with the shared data beside it::

    PYTHONPATH=. python benchmarks/detector_thresholds.py --dataset mnist --normal-class 0 \
        --detector autoencoder --seeds 0 1
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from counterfactual_training import (  # noqa: E402
    DATA_FILES,
    fit_detector,
    load_halves,
    make_detector,
)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATA_FILES), default="mnist")
    parser.add_argument("--normal-class", type=int, default=0, dest="normal_class")
    parser.add_argument("--detector", choices=["autoencoder", "oe"], default="autoencoder")
    parser.add_argument("--detector-epochs", type=int, default=15)
    parser.add_argument("--n-anomalies", type=int, default=500)
    parser.add_argument("--contamination", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


def measure(args, seed, halves):
    """Train one detector; the shares each threshold calls anomalous, as a dict."""
    (normal, anomalous), (test_normal, test_anomalies) = halves
    detector = make_detector(args.detector, args.detector_epochs, seed)
    detector.set_params(contamination=args.contamination)
    X = np.concatenate([normal, anomalous])
    fit_detector(detector, args.detector, X, np.r_[np.ones(len(normal)), -np.ones(len(anomalous))])
    training = detector.score_samples(normal)
    held_out = detector.validation_scores_
    unseen = detector.score_samples(test_normal)
    anomalies = detector.score_samples(test_anomalies)
    percent = 100 * args.contamination
    thresholds = {
        "training": np.percentile(training, percent),
        "held-out": np.percentile(held_out, percent),
    }
    return {
        "n_held_out": len(held_out),
        "normal_called_anomalous": {k: np.mean(unseen < t) for k, t in thresholds.items()},
        "anomalies_called_anomalous": {k: np.mean(anomalies < t) for k, t in thresholds.items()},
        "median_position": {
            "training": np.mean(unseen >= np.median(training)),
            "held-out": np.mean(unseen >= np.median(held_out)),
        },
    }


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    torch.set_num_threads(args.threads)
    halves = load_halves(args)
    if halves is None:
        print("The shared data are not here (../shared/data); nothing measured.")
        return
    print(
        f"{args.detector}, {args.dataset} class {args.normal_class}, contamination "
        f"{args.contamination}: training / held-out threshold"
    )
    for seed in args.seeds:
        result = measure(args, seed, halves)
        normal, anomalies = result["normal_called_anomalous"], result["anomalies_called_anomalous"]
        position = result["median_position"]
        print(
            f"seed {seed} ({result['n_held_out']} held out): unseen normal called anomalous "
            f"{100 * normal['training']:.1f} % / {100 * normal['held-out']:.1f} %; anomalies "
            f"called anomalous {100 * anomalies['training']:.1f} % / "
            f"{100 * anomalies['held-out']:.1f} %; unseen normal scoring at least the median "
            f"{100 * position['training']:.0f} % / {100 * position['held-out']:.0f} %",
            flush=True,
        )


if __name__ == "__main__":
    main()
