"""Train the UC decoder that ships with sknovel (``UCInverter(pretrained=True)``) and measure it.

The decoder inverts the default ``CNNFeaturizer()`` (EfficientNet-Lite0, pooled, 1 280
features) into 64-px colour images. It learns from the shared image sets in
``shared/data`` (found with :func:`sknovel.datasets.find_data_file`): the 1 500 Imagenette
images, the Mars rover (MSL) images of the 2018 paper, and the first 5 000 MNIST and 2 500
Fashion-MNIST test images (greyscale, repeated over three channels). Held out from training,
to measure it honestly: the MSL images of the original ``val`` split (622 images, other
sols than the 887 of ``train``), 150 Imagenette and 500 images of each greyscale set (fixed
draws). The shipped weights are those measured, so the held-out figures are unseen-data
figures.

Steps (each can be run alone):

1. ``--featurize``: run the featurizer over every image once and keep the features and the
   64-px targets in ``--work`` (about 20 minutes on 2 busy CPU cores).
2. Train (``--minutes``): an epoch passes over each set ``--repeat`` times (a fraction draws
   that share of the set afresh each epoch; the default sees the MSL images twice, Imagenette
   once and 40 % of each greyscale set), in batches of 64, with Adam and a cosine decay of
   the learning rate over ``--minutes`` of wall time (so a run fits its budget on any
   machine; the epochs it managed are printed), with the DeePSiM loss of ``UCInverter``
   (``--feature-weight``, ``--adversarial-weight``; both 0, the default: the pixel loss).
   ``--init`` continues from a checkpoint, keeping its feature standardisation.
3. ``--evaluate``: for each set, held-out and training images: how often a decoded image
   is nearest (pixel MSE) its own source among 100 (the mean over 3 draws of candidates;
   chance 1 %), and its pixel MSE over that of the set's mean training image.
4. ``--baselines``: what decoders that only *retrieve* training images reach on the held-out
   images, to tell how far the training sets can carry a decoder: the training image nearest
   in (standardised) feature space, and the training image nearest in pixel space (an oracle
   that sees the answer), beside a ridge regression from features to pixels (the best linear
   decoder, at a few regularisations).
5. ``--ship``: write the checkpoint as a ``UCInverter.state_dict()`` (decoder weights in
   float16) to ``sknovel/explain/inversion/weights/`` under a name carrying its sha256
   prefix, and print the name to put in ``PRETRAINED_FILE``.

The shipped decoder was made with these steps (see the user guide's "Inverting features
into images" for its figures); its first 20 minutes ran in an earlier form of this script
with the same recipe. Training is timed, not counted in epochs, so a rerun gives a decoder of
the same quality, not the same bits::

    PYTHONPATH=. python benchmarks/pretrain_decoder.py --featurize
    PYTHONPATH=. python benchmarks/pretrain_decoder.py --sets imagenette,msl,mnist \\
        --repeat 1,2,0.4 --minutes 20 --feature-weight 0 --adversarial-weight 0 --out a.pt
    PYTHONPATH=. python benchmarks/pretrain_decoder.py --init a.pt --minutes 15 \\
        --feature-weight 0 --adversarial-weight 0 --learning-rate 5e-4 --out b.pt
    PYTHONPATH=. python benchmarks/pretrain_decoder.py --evaluate b.pt --ship b.pt
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

#: The shared sets: file, how many images are used, held-out rows (None: the MSL val split).
SETS = {
    "imagenette": ("imagenette_64px.npz", 1500, 150),
    "msl": ("msl_v1_96px.npz", 1509, None),
    "mnist": ("mnist_test.npz", 5000, 500),
    "fashion": ("fashion_mnist_test.npz", 2500, 500),
}
IMAGE_SIZE = 64
WIDTH = 128
BATCH_SIZE = 64


def log(message):
    print(message, file=sys.stderr, flush=True)


def data_file(name):
    from sknovel.datasets import find_data_file

    path = find_data_file(SETS[name][0], start=Path(__file__).parent)
    if path is None:
        sys.exit(f"{SETS[name][0]} not found: the shared data sets live in ../shared/data")
    return path


def featurize(work):
    from sknovel.features import CNNFeaturizer, fit_to_size
    from sknovel.utils.images import to_unit_float

    for name, (_, n_images, _) in SETS.items():
        images = np.load(data_file(name))["images"][:n_images]
        start = time.perf_counter()
        featurizer = CNNFeaturizer(batch_size=64).fit(images[:1])
        features = np.concatenate(
            [featurizer.transform(images[i : i + 1000]) for i in range(0, len(images), 1000)]
        )
        pixels = to_unit_float(images)
        pixels = pixels[..., None] if pixels.ndim == 3 else pixels
        pixels = np.repeat(pixels, 3, -1) if pixels.shape[-1] == 1 else pixels
        targets = np.round(fit_to_size(pixels, (IMAGE_SIZE, IMAGE_SIZE)) * 255).astype(np.uint8)
        np.save(work / f"feats_{name}.npy", features.astype(np.float32))
        np.save(work / f"targets_{name}.npy", targets)
        log(f"{name}: {features.shape} in {time.perf_counter() - start:.0f} s")


def held_out_rows(name, n_images):
    """The fixed held-out rows of a set."""
    n_held = SETS[name][2]
    if n_held is None:
        return np.flatnonzero(np.load(data_file(name))["orig_split"][:n_images] == "val")
    return np.sort(np.random.default_rng(1).choice(n_images, n_held, replace=False))


def load_sets(work, names):
    """{name: (features, targets, held-out rows, training rows)}."""
    sets = {}
    for name in names:
        features = np.load(work / f"feats_{name}.npy")
        targets = np.load(work / f"targets_{name}.npy")
        held = held_out_rows(name, len(features))
        sets[name] = (features, targets, held, np.setdiff1d(np.arange(len(features)), held))
    return sets


def train(args, work):
    import torch

    from sknovel.explain.inversion._deepsim import DeePSiMLoss
    from sknovel.explain.inversion._network import UCDecoder

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    names = args.sets.split(",")
    repeats = [float(r) for r in args.repeat.split(",")]
    sets = load_sets(work, names)
    features = np.concatenate([sets[name][0] for name in names])
    targets = np.concatenate([sets[name][1] for name in names])
    offsets = np.cumsum([0] + [len(sets[name][0]) for name in names])
    plan = [
        (offset + sets[name][3], repeat) for name, offset, repeat in zip(names, offsets, repeats)
    ]
    all_train = np.concatenate([rows for rows, _ in plan])
    if args.init:
        checkpoint = torch.load(args.init, weights_only=True)
        mean, scale = checkpoint["feature_mean"].numpy(), checkpoint["feature_scale"].numpy()
    else:
        mean = features[all_train].mean(0)
        scale = features[all_train].std(0)
        scale = np.where(scale > 1e-6, scale, 1).astype(np.float32)
    inputs = torch.from_numpy(((features - mean) / scale).astype(np.float32))
    pixels = torch.from_numpy(np.ascontiguousarray(targets.transpose(0, 3, 1, 2)))
    decoder = UCDecoder(features.shape[1], IMAGE_SIZE, 3, WIDTH)
    if args.init:
        decoder.load_state_dict({k: v.float() for k, v in checkpoint["decoder"].items()})
    reference = pixels[rng.choice(all_train, 256, replace=False)].float() / 255
    criterion = DeePSiMLoss(
        args.feature_weight,
        args.adversarial_weight,
        features.shape[1],
        IMAGE_SIZE,
        3,
        reference,
        torch.device("cpu"),
    )
    optimizer = torch.optim.Adam(decoder.parameters(), lr=args.learning_rate)

    def epoch_rows():
        rows = []
        for training, repeat in plan:
            rows += [training] * int(repeat)
            share = repeat - int(repeat)
            if share:
                rows.append(rng.choice(training, int(round(share * len(training))), replace=False))
        return rng.permutation(np.concatenate(rows))

    start, epoch, budget = time.perf_counter(), 0, args.minutes * 60
    while time.perf_counter() - start < budget:
        order, total, n_batches = epoch_rows(), 0.0, 0
        for first in range(0, len(order) - BATCH_SIZE + 1, BATCH_SIZE):
            elapsed = time.perf_counter() - start
            if elapsed >= budget:
                break
            rows = torch.from_numpy(order[first : first + BATCH_SIZE])
            x, target = inputs[rows], pixels[rows].float() / 255
            criterion.discriminator_step(decoder, x, target)
            loss = criterion(decoder(x), x, target)
            for group in optimizer.param_groups:
                group["lr"] = args.learning_rate * 0.5 * (1 + np.cos(np.pi * elapsed / budget))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, n_batches = total + float(loss.detach()), n_batches + 1
        epoch += 1
        seconds = time.perf_counter() - start
        log(f"epoch {epoch}: loss {total / max(n_batches, 1):.4f}, {seconds:.0f} s")
        save(args.out, decoder, mean, scale, targets[all_train].mean(0) / 255)
    log(f"trained {epoch} epochs in {time.perf_counter() - start:.0f} s")


def save(path, decoder, mean, scale, mean_image):
    """A checkpoint in ``UCInverter.state_dict()``'s format."""
    import torch

    torch.save(
        {
            "decoder": {k: v.detach().clone() for k, v in decoder.state_dict().items()},
            "feature_mean": torch.from_numpy(np.asarray(mean, np.float32)),
            "feature_scale": torch.from_numpy(np.asarray(scale, np.float32)),
            "mean_image": torch.from_numpy(np.asarray(mean_image, np.float32)),
            "image_size": IMAGE_SIZE,
            "width": WIDTH,
            "n_channels": 3,
        },
        path,
    )


def evaluate(path, work):
    import torch

    from sknovel.explain.inversion._network import UCDecoder
    from sknovel.metrics import inversion_identification_rate, inversion_mse_ratio

    checkpoint = torch.load(path, weights_only=True)
    decoder = UCDecoder(1280, IMAGE_SIZE, 3, int(checkpoint["width"]))
    decoder.load_state_dict({k: v.float() for k, v in checkpoint["decoder"].items()})
    decoder.eval()
    mean, scale = checkpoint["feature_mean"].numpy(), checkpoint["feature_scale"].numpy()
    results = {}
    for name, (features, targets, held, training) in load_sets(work, list(SETS)).items():
        inputs = torch.from_numpy(((features - mean) / scale).astype(np.float32))
        with torch.no_grad():
            decoded = torch.cat([decoder(inputs[i : i + 256]) for i in range(0, len(inputs), 256)])
        decoded = decoded.permute(0, 2, 3, 1).numpy()
        targets = targets / 255
        baseline = targets[training].mean(0)
        for kind, rows in (("held out", held), ("training", training)):
            rates = [
                inversion_identification_rate(targets[rows], decoded[rows], random_state=seed)
                for seed in range(3)
            ]
            ratio = inversion_mse_ratio(targets[rows], decoded[rows], baseline=baseline)
            results[f"{name}, {kind}"] = {
                "images": int(len(rows)),
                "identified": round(float(np.mean(rates)), 3),
                "mse_ratio": round(float(ratio), 3),
            }
            print(
                f"{name:<10} {kind:<9} {len(rows):>5} images: identified "
                f"{np.mean(rates):6.1%}, MSE / mean image {ratio:.3f}"
            )
    return results


def squared_distances(a, b):
    """Squared Euclidean distances between the rows of a and b (float64)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]


def baselines(work, names, ridge_penalties=(0.1, 1.0)):
    """Identification and MSE ratio of retrieval and ridge decoders on the held-out images."""
    from sknovel.metrics import inversion_identification_rate, inversion_mse_ratio

    sets = load_sets(work, list(SETS))
    train_features = np.concatenate([sets[n][0][sets[n][3]] for n in SETS]).astype(np.float64)
    train_pixels = np.concatenate([sets[n][1][sets[n][3]] for n in SETS]) / 255
    mean, scale = train_features.mean(0), train_features.std(0)
    scale = np.where(scale > 1e-6, scale, 1)
    inputs = (train_features - mean) / scale
    flat = train_pixels.reshape(len(inputs), -1)
    eigenvalues, vectors = np.linalg.eigh(inputs.T @ inputs)
    projected = vectors.T @ (inputs.T @ (flat - flat.mean(0)))
    results = {}
    for name in names:
        features, targets, held, training = sets[name]
        targets = targets / 255
        own = targets[training]
        queries = (features[held] - mean) / scale
        nearest_feature = squared_distances(queries, (features[training] - mean) / scale)
        decodings = {
            "nearest in features": own[nearest_feature.argmin(1)],
            "nearest in pixels (oracle)": own[squared_distances(targets[held], own).argmin(1)],
        }
        for penalty in ridge_penalties:
            weights = vectors @ (projected / (eigenvalues + penalty * len(inputs))[:, None])
            ridge = np.clip(queries @ weights + flat.mean(0), 0, 1)
            decodings[f"ridge, penalty {penalty:g}"] = ridge.reshape(targets[held].shape)
        for label, decoded in decodings.items():
            rate = np.mean(
                [
                    inversion_identification_rate(targets[held], decoded, random_state=seed)
                    for seed in range(3)
                ]
            )
            ratio = inversion_mse_ratio(targets[held], decoded, baseline=own.mean(0))
            results[f"{name}, {label}"] = {
                "identified": round(float(rate), 3),
                "mse_ratio": round(float(ratio), 3),
            }
            print(f"{name:<10} held out, {label:<27}: identified {rate:6.1%}, MSE {ratio:.3f}")
    return results


def ship(path):
    import hashlib

    import torch

    checkpoint = torch.load(path, weights_only=True)
    checkpoint["decoder"] = {k: v.half() for k, v in checkpoint["decoder"].items()}
    folder = Path(__file__).parents[1] / "sknovel" / "explain" / "inversion" / "weights"
    folder.mkdir(exist_ok=True)
    temporary = folder / "decoder.tmp"
    torch.save(checkpoint, temporary)
    digest = hashlib.sha256(temporary.read_bytes()).hexdigest()[:8]
    final = folder / f"uc_efficientnet_lite0_pool_64px-{digest}.pt"
    temporary.rename(final)
    print(f'PRETRAINED_FILE = "weights/{final.name}" ({final.stat().st_size / 1e6:.1f} MB)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="pretrain_work", help="folder for features and targets")
    parser.add_argument("--featurize", action="store_true")
    parser.add_argument("--sets", default="imagenette,msl,mnist,fashion")
    parser.add_argument("--repeat", default="1,2,0.4,0.4", help="passes over each set per epoch")
    parser.add_argument("--minutes", type=float, default=0, help="training wall time (0: none)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--feature-weight", type=float, default=0.0)
    parser.add_argument("--adversarial-weight", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None, help="checkpoint to continue from")
    parser.add_argument("--out", default="decoder.pt")
    parser.add_argument("--evaluate", default=None, help="checkpoint to measure")
    parser.add_argument(
        "--baselines", action="store_true", help="retrieval and ridge decoders on held-out images"
    )
    parser.add_argument("--json", default=None, help="write the measurements here")
    parser.add_argument("--ship", default=None, help="checkpoint to write as package data")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(exist_ok=True)
    if args.featurize:
        featurize(work)
    if args.minutes > 0:
        train(args, work)
    if args.evaluate:
        results = evaluate(args.evaluate, work)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    if args.baselines:
        results = baselines(work, args.sets.split(","))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    if args.ship:
        ship(args.ship)


if __name__ == "__main__":
    main()
