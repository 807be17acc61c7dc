"""Train and measure CounterfactualExplainer in the paper's one-vs-rest setting (<= 15 min).

From the repository root::

    PYTHONPATH=. python benchmarks/counterfactual_training.py               # the defaults
    PYTHONPATH=. python benchmarks/counterfactual_training.py --threads 1 --detector oe \\
        --dataset fashion --normal-class 7 --concepts 3 --seeds 0 1 2 --json runs.json

*Reimagining Anomalies* (Liznerski, Varshneya, Calikus et al. 2024), "one vs rest", on the test
sets at hand (``mnist_test.npz``, ``fashion_mnist_test.npz`` in ``shared/data``, found with
:func:`sknovel.datasets.find_data_file`), split in two random halves of 5 000 (the same for
every run, see ``SPLIT_SEED``): class `--normal-class` of the first half is normal,
`--n-anomalies` images of the other classes of that half are the anomalies (the outlier
exposure of the OE detector and the high-scoring images the explainer learns from). The
detector -- a :class:`~sknovel.detectors.ConvAutoencoder` trained on the normal images
(``--detector autoencoder``) or an :class:`~sknovel.detectors.OutlierExposureDetector` trained
on both (``--detector oe``), 15 epochs each -- and the explainer are trained on that half; only
the explainer's ``fit`` is timed. The explainer has its default parameters unless told
otherwise (``--epochs``, ``--target``, ``--no-adversarial``, ``--lambda-*``, ``--batch-size``,
``--width``, ``--learning-rate``, ``--generator-output``, ``--calibrate-target``);
``--pseudo-anomalies`` trains it on corrupted normal images instead of the anomalies.
``--target heldout`` holds the last fifth of the normal training images out of both trainings
and aims at their median score; ``--hold-out`` holds them out with any other target, so that
targets can be compared on the same detector. ``--target-quantile Q`` sets the explainer's
``target_quantile`` (default: the estimator's, 0.6); ``--detector-validation-fraction F`` the
detector's ``validation_fraction`` (default 0.1), whose held-out images give that target.

It then explains `--n-anomalies` anomalies of the second half and reports, against the
normal images of that half, the paper's measures -- normality (the detector's ROC AUC,
normal vs counterfactuals; 50 % is ideal), validity, disentanglement, proximity -- a
spread ratio (per concept, the pixel standard deviation of its counterfactuals across the
anomalies over that of the normal test images; near 0, one image whatever the anomaly) and
the Fréchet distance ratio: for each concept, the Fréchet distance (EfficientNet-Lite0 features,
:func:`sknovel.metrics.frechet_distance`) of the counterfactuals of the first `--n-frechet`
test anomalies to the normal test images, divided by that of the same anomalies, averaged
over the concepts (sets of equal size, as the distance is biased upwards for small sets;
``--n-frechet 0`` skips it). With several ``--seeds`` every seed trains its own detector and
explainer; ``--json`` appends one record per seed to a JSON list, ``--examples`` saves the
first 16 test anomalies with their counterfactuals and the loss curves, and a picture of the
first ten (a .png beside the .npz), to look at. Other
work on the machine slows training down; on a busy machine one torch thread can be faster
than two.
"""

import argparse
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np

#: Seconds the training may take on two CPU cores.
TARGET_SECONDS = 15 * 60
#: File of each --dataset in shared/data.
DATA_FILES = {"mnist": "mnist_test.npz", "fashion": "fashion_mnist_test.npz"}
#: Images per half of each test set.
HALF = 5000
#: Seed of the random split into halves. Not the first and the last 5 000: MNIST's test set
#: holds 5 000 digits of NIST's cleaner SD-3 first and 5 000 of its harder SD-1 last (LeCun,
#: Cortes and Burges, the MNIST page), so that normal test digits of the second half score as
#: more anomalous than held-out normal digits of the first: the median of the held-out
#: digits' scores then lies 0.05-0.11 below that of the test digits.
SPLIT_SEED = 0
#: Loss weights of the explainer that can be set on the command line.
LAMBDAS = (
    "lambda_detector",
    "lambda_reconstruction",
    "lambda_concept",
    "lambda_adversarial",
    "lambda_proximity",
)
#: Percentiles of the scores of real normal images and counterfactuals that a run records.
PERCENTILES = (10, 25, 50, 75, 90)
#: Other explainer parameters that can be set on the command line, with their types.
OPTIONS = {
    "batch_size": int,
    "width": int,
    "learning_rate": float,
    "generator_output": str,
    "max_restarts": int,
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATA_FILES), default="mnist")
    parser.add_argument("--normal-class", "--digit", type=int, default=0, dest="normal_class")
    parser.add_argument("--detector", choices=["autoencoder", "oe"], default="autoencoder")
    parser.add_argument("--concepts", type=int, default=2, help="n_concepts")
    parser.add_argument("--n-anomalies", type=int, default=500)
    parser.add_argument(
        "--n-frechet", type=int, default=200, help="test anomalies for the Fréchet ratio"
    )
    parser.add_argument("--epochs", type=int, default=None, help="default: the estimator's")
    parser.add_argument("--detector-epochs", type=int, default=15)
    parser.add_argument(
        "--detector-validation-fraction",
        type=float,
        default=0.1,
        help="the detector's validation_fraction: its held-out normal images, whose scores "
        "give the explainer's typical target (default 0.1, the detectors' default)",
    )
    parser.add_argument(
        "--target",
        default=None,
        help='"typical", a float, or "heldout": the median score of a fifth of the normal '
        "training images, held out from detector and explainer (default: the estimator's)",
    )
    parser.add_argument(
        "--target-quantile",
        type=float,
        default=None,
        help="target_quantile: the quantile of the scores of the detector's held-out "
        "validation images that the typical target is (default: the estimator's)",
    )
    parser.add_argument(
        "--hold-out",
        action="store_true",
        help="hold the last fifth of the normal training images out of detector and explainer "
        "training with any target, to compare targets on the same detector (implied by "
        '"--target heldout")',
    )
    parser.add_argument("--no-adversarial", action="store_true", help="leave out the GAN term")
    parser.add_argument(
        "--learning-rate-decay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lower the step size linearly over the second half of the epochs, or not "
        "(default: the estimator's, which does)",
    )
    parser.add_argument(
        "--calibrate-target",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="calibrate the lowest level's loss target during training, or not (default: "
        "the estimator's)",
    )
    for name in LAMBDAS:
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    for name, kind in OPTIONS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    parser.add_argument(
        "--pseudo-anomalies",
        action="store_true",
        help="train the explainer without the anomalies: it corrupts normal images instead",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--json", type=Path, default=None, help="append the results here")
    parser.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="save the first 16 test anomalies, their counterfactuals and the loss curves of "
        "each seed to this .npz file (the seed is added to its name), and a picture of the "
        "first ten beside it (.png)",
    )
    parser.add_argument(
        "--save-explainer",
        type=Path,
        default=None,
        help="pickle each seed's fitted explainer and its detector to this file (seed added)",
    )
    parser.add_argument(
        "--feature-cache", default=None, help="folder caching CNN features between runs"
    )
    return parser.parse_args(argv)


def explainer_params(args):
    """Parameters of CounterfactualExplainer set on the command line."""
    params = {"n_concepts": args.concepts}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if args.target not in (None, "heldout"):
        params["target"] = args.target if args.target == "typical" else float(args.target)
    if args.no_adversarial:
        params["adversarial"] = False
    if args.target_quantile is not None:
        params["target_quantile"] = args.target_quantile
    if args.calibrate_target is not None:
        params["calibrate_target"] = args.calibrate_target
    if args.learning_rate_decay is not None:
        params["learning_rate_decay"] = args.learning_rate_decay
    for name in (*LAMBDAS, *OPTIONS):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    return params


def load_halves(args):
    """Training and test images: normal class and anomalies of each half of the test set."""
    from sknovel.datasets import find_data_file, load_labelled_images

    path = find_data_file(DATA_FILES[args.dataset])
    if path is None:
        return None
    data = load_labelled_images(path)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(data.images))
    halves = []
    for part in (order[:HALF], order[HALF : 2 * HALF]):
        images, labels = data.images[part], data.labels[part]
        normal = images[labels == args.normal_class]
        anomalous = images[labels != args.normal_class][: args.n_anomalies]
        halves.append((normal, anomalous))
    return halves


def make_detector(kind, epochs, seed, validation_fraction=0.1):
    from sknovel.detectors import ConvAutoencoder, OutlierExposureDetector

    common = {"random_state": seed, "device": "cpu", "validation_fraction": validation_fraction}
    if kind == "oe":
        return OutlierExposureDetector(epochs=epochs, **common)
    return ConvAutoencoder(epochs=epochs, batch_size=32, n_iter_no_change=None, **common)


def fit_detector(detector, kind, X, y):
    """Fit `detector` of `kind`: OE on normal images and outliers (y = -1), the autoencoder on
    the normal images (y = 1) alone."""
    return detector.fit(X, y) if kind == "oe" else detector.fit(X[y == 1])


def explainer_scale(detector, images):
    """A protocol detector's scores of `images` as the explainer maps them:
    1 - 2 ** (-max(d, 0) / d_t), d = -score_samples and d_t = -offset_ (see
    CounterfactualExplainer's Notes)."""
    losses = np.maximum(-detector.score_samples(images), 0)
    return 1 - 2.0 ** (-losses / -detector.offset_)


def frechet_ratio(featurizer, counterfactuals, anomalies, normal_features):
    """Mean over concepts of FD(counterfactuals of concept k, normal) / FD(anomalies, normal)."""
    from sknovel.metrics import frechet_distance

    anomaly_distance = frechet_distance(featurizer.transform(anomalies), normal_features)
    per_concept = [
        frechet_distance(featurizer.transform(counterfactuals[:, k]), normal_features)
        for k in range(counterfactuals.shape[1])
    ]
    return float(np.mean(per_concept) / anomaly_distance), anomaly_distance, per_concept


def run_seed(args, seed, halves, featurizer, normal_features):
    """Train detector and explainer with `seed`; the measures as a dict."""
    from sklearn.metrics import roc_auc_score

    from sknovel.explain import CounterfactualExplainer
    from sknovel.metrics import (
        counterfactual_disentanglement,
        counterfactual_normality,
        counterfactual_proximity,
        counterfactual_validity,
    )

    (normal, anomalous), (test_normal, test_anomalies) = halves
    held_out = None
    if args.hold_out or args.target == "heldout":
        normal, held_out = np.split(normal, [len(normal) - len(normal) // 5])
    X = np.concatenate([normal, anomalous])  # labelled as a detector's predict does
    y = np.r_[np.ones(len(normal)), -np.ones(len(anomalous))]
    detector = make_detector(
        args.detector, args.detector_epochs, seed, args.detector_validation_fraction
    )
    start = time.perf_counter()
    fit_detector(detector, args.detector, X, y)
    detector_seconds = time.perf_counter() - start
    params = explainer_params(args)
    if args.target == "heldout":
        params["target"] = float(np.median(explainer_scale(detector, held_out)))
    explainer = CounterfactualExplainer(
        detector, random_state=seed, device="cpu", verbose=1, **params
    )
    start = time.perf_counter()
    if args.pseudo_anomalies:
        explainer.fit(normal)
    else:
        explainer.fit(X, y)
    seconds = time.perf_counter() - start

    explanation = explainer.explain(test_anomalies)
    normal_scores = explainer.anomaly_score(test_normal)
    scores = explanation.scores
    result = {
        "dataset": args.dataset,
        "normal_class": args.normal_class,
        "detector": args.detector,
        "seed": seed,
        "params": params,
        "target_option": args.target,
        "target_quantile": explainer.target_quantile,
        "held_out": 0 if held_out is None else len(held_out),
        "pseudo_anomalies": args.pseudo_anomalies,
        "n_train_normal": len(normal),
        "n_train_anomalous": len(anomalous),
        "split_seed": SPLIT_SEED,
        "n_test_normal": len(test_normal),
        "n_test_anomalies": len(test_anomalies),
        "detector_seconds": detector_seconds,
        "seconds": seconds,
        "epochs": explainer.n_epochs_,
        "detector_auc": roc_auc_score(
            np.r_[np.zeros(len(normal_scores)), np.ones(len(test_anomalies))],
            np.r_[normal_scores, explanation.original_scores],
        ),
        "normality": counterfactual_normality(normal_scores, scores),
        "validity": counterfactual_validity(scores),
        "validity_test_normal": counterfactual_validity(normal_scores),
        "disentanglement": counterfactual_disentanglement(explanation.concept_probabilities),
        "proximity": counterfactual_proximity(test_anomalies, explanation.counterfactuals),
        "target_score": explainer.target_score_,
        "target_source": explainer.target_source_,
        "generator_output": explainer.generator_output_,
        "training_validity": explainer.training_validity_,
        "training_validity_per_attempt": explainer.training_validity_per_attempt_,
        "lowest_loss_target": explainer.lowest_loss_target_,
        "calibration_curve": explainer.calibration_curve_,
        "n_detector_validation": len(getattr(detector, "validation_scores_", ())),
        "median_score_test_normal": float(np.median(normal_scores)),
        "mean_score_anomalies": float(explanation.original_scores.mean()),
        "mean_score_counterfactuals": scores.mean(axis=0).tolist(),
        # Where the scores lie, to read normality by: 10th, 25th, 50th, 75th, 90th percentiles.
        "score_percentiles_test_normal": np.percentile(normal_scores, PERCENTILES).tolist(),
        "score_percentiles_counterfactuals": np.percentile(scores, PERCENTILES).tolist(),
        "spread_ratio": spread_ratio(explanation.counterfactuals, test_normal),
    }
    if args.save_explainer is not None:
        path = args.save_explainer
        with open(path.with_name(f"{path.stem}_seed{seed}{path.suffix}"), "wb") as file:
            pickle.dump(explainer, file)
    if args.examples is not None:
        save_examples(args.examples, seed, test_anomalies, explanation, explainer)
    if featurizer is not None:
        n = args.n_frechet
        ratio, anomaly_distance, per_concept = frechet_ratio(
            featurizer, explanation.counterfactuals[:n], test_anomalies[:n], normal_features
        )
        result.update(
            frechet_ratio=ratio,
            frechet_anomalies=anomaly_distance,
            frechet_counterfactuals=per_concept,
        )
    return result


def pixel_spread(images):
    """Mean over pixels of the standard deviation across images (uint8 or float in [0, 1])."""
    from sknovel.utils.images import to_unit_float

    return float(to_unit_float(np.asarray(images), np.float64).std(axis=0).mean())


def spread_ratio(counterfactuals, normal):
    """How much each concept's counterfactuals vary with their anomaly, over real normal images.

    Per concept: the pixel spread of its counterfactuals across anomalies over that of the real
    normal test images. Near 0, a concept draws nearly the same image whatever the anomaly: the
    paper's normality, validity and disentanglement can all pass for such a generator, and its
    Fréchet distance to real normal images is large.
    """
    reference = pixel_spread(normal)
    return [
        pixel_spread(counterfactuals[:, k]) / reference for k in range(counterfactuals.shape[1])
    ]


def save_examples(path, seed, anomalies, explanation, explainer, n=16):
    """Save `n` anomalies, their counterfactuals and scores, and the explainer's loss curves."""
    np.savez_compressed(
        path.with_name(f"{path.stem}_seed{seed}.npz"),
        anomalies=anomalies[:n],
        counterfactuals=explanation.counterfactuals[:n],
        scores=explanation.scores[:n],
        original_scores=explanation.original_scores[:n],
        loss_curve=np.asarray(explainer.loss_curve_),
        **{f"loss_{k}": np.asarray(v) for k, v in explainer.loss_components_.items()},
    )
    draw_examples(path.with_name(f"{path.stem}_seed{seed}.png"), anomalies, explanation)


def draw_examples(path, anomalies, explanation, n=10):
    """A PNG of the first `n` anomalies (top row) and each concept's counterfactuals below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sknovel.utils.images import to_unit_float

    counterfactuals = explanation.counterfactuals[:n]
    rows = [
        to_unit_float(anomalies[:n]),
        *(counterfactuals[:, k] for k in range(counterfactuals.shape[1])),
    ]
    figure, axes = plt.subplots(len(rows), n, figsize=(n, len(rows)), squeeze=False)
    for row, images in zip(axes, rows):
        for ax, image in zip(row, images):
            ax.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
    figure.subplots_adjust(left=0, right=1, bottom=0, top=1, wspace=0.05, hspace=0.05)
    figure.savefig(path, dpi=60)
    plt.close(figure)


def report(result):
    percent = {
        name: f"{100 * result[name]:.1f} %"
        for name in ("detector_auc", "normality", "validity", "disentanglement")
    }
    lines = [
        f"seed {result['seed']}: detector ROC AUC {percent['detector_auc']}; normality "
        f"{percent['normality']} (paper, MNIST: 72.0 / 80.8 / 75.2 % BCE / HSC / DSVDD), "
        f"validity {percent['validity']} (of normal test images "
        f"{100 * result['validity_test_normal']:.1f} %), disentanglement "
        f"{percent['disentanglement']}, "
        f"proximity {result['proximity']:.3f}",
        f"  scores: target {result['target_score']:.3f}, median of normal test images "
        f"{result['median_score_test_normal']:.3f}, mean of anomalies "
        f"{result['mean_score_anomalies']:.3f}, of counterfactuals "
        f"{np.round(result['mean_score_counterfactuals'], 3).tolist()}",
    ]
    lines.append(
        "  spread across anomalies over that of normal test images, per concept: "
        f"{np.round(result['spread_ratio'], 2).tolist()}"
    )
    if "frechet_ratio" in result:
        lines.append(
            f"  Fréchet distance to normal test images: anomalies "
            f"{result['frechet_anomalies']:.1f}, counterfactuals "
            f"{np.round(result['frechet_counterfactuals'], 1).tolist()}; ratio "
            f"{100 * result['frechet_ratio']:.0f} % (paper, HSC on MNIST: 68 %)"
        )
    lines.append(
        f"  trained in {result['seconds']:.1f} s ({result['seconds'] / 60:.2f} min, "
        f"{result['seconds'] / result['epochs']:.2f} s per epoch; detector "
        f"{result['detector_seconds']:.1f} s); target <= {TARGET_SECONDS} s: "
        f"{'met' if result['seconds'] <= TARGET_SECONDS else 'NOT met'}"
    )
    print("\n".join(lines), flush=True)


def main(argv=None):
    args = parse_args(argv)
    import torch

    halves = load_halves(args)
    if halves is None:
        print(f"{DATA_FILES[args.dataset]} not found (expected in shared/data/)")
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # a script, not library code
    (normal, anomalous), (test_normal, test_anomalies) = halves
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads; {args.dataset}, class "
        f"{args.normal_class} normal, {args.detector} detector: {len(normal)} normal and "
        f"{len(anomalous)} anomalous training images, {len(test_normal)} normal and "
        f"{len(test_anomalies)} anomalous test images; explainer {explainer_params(args)}",
        flush=True,
    )
    featurizer = normal_features = None
    if args.n_frechet > 0:
        from sknovel.features import CNNFeaturizer

        featurizer = CNNFeaturizer(memory=args.feature_cache).fit(test_normal)
        normal_features = featurizer.transform(test_normal)
    results = []
    for seed in args.seeds:
        result = run_seed(args, seed, halves, featurizer, normal_features)
        report(result)
        results.append(result)
    if args.json is not None:
        previous = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps(previous + results, indent=1))
    return 0 if all(r["seconds"] <= TARGET_SECONDS for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
