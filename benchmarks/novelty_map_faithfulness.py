"""Which NoveltyMap method is faithful? Removal tests and deletion AUCs on 20 Mars picks.

DEMUD (K = 10) ranks the MSL images (Lee, Wagstaff et al. 2018's Mars data) on
EfficientNet-Lite0 pooled features; for each of its first 20 picks and each heatmap method:

* removal test: does removing the map's top 10 % (replaced by the baseline) lower the pick's
  score more than removing the top 10 % of smooth random maps (median of 10)?
* deletion AUC (normalised by the pick's score; lower = more faithful) of the map, beside the
  mean over 3 smooth random maps;
* seconds per heatmap.

Usage (from the repository root; needs ../shared/data/msl_v1_96px.npz)::

    PYTHONPATH=. python benchmarks/novelty_map_faithfulness.py [--picks 20] [--json out.json]
"""

import argparse
import json
import sys
import time

import numpy as np

from sknovel import Demud
from sknovel.datasets import find_data_file, load_labelled_images
from sknovel.explain import NoveltyMap
from sknovel.features import CNNFeaturizer
from sknovel.metrics import curve_auc, deletion_curve, random_maps, removal_test

METHODS = ("occlusion", "integrated_gradients", "smoothgrad", "gradient")
FRACTIONS = np.linspace(0, 1, 6)


def log(message):
    print(message, file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--picks", type=int, default=20)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--baseline", default="blur")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--json")
    args = parser.parse_args()
    path = find_data_file("msl_v1_96px.npz")
    if path is None:
        sys.exit("msl_v1_96px.npz not found (shared/data beside the repository).")
    images = load_labelled_images(path).images
    start = time.perf_counter()
    cnn = CNNFeaturizer(crop_size=args.crop_size, batch_size=64).fit(images)
    features = cnn.transform(images)
    log(f"featurized {len(images)} images in {time.perf_counter() - start:.0f} s")
    demud = Demud(n_components=10, n_selections=args.picks).fit(features)
    positions = list(range(args.picks))
    models = demud.selection_models(features, positions)
    results = {}
    for method in args.methods:
        novelty = NoveltyMap(cnn, demud, method=method, baseline=args.baseline, random_state=0)
        start = time.perf_counter()
        maps = novelty.explain(images, positions).maps
        seconds = (time.perf_counter() - start) / args.picks
        wins, ours_auc, random_auc = 0, [], []
        for position, heat, model in zip(positions, maps, models):
            image = images[demud.ranking_[position]] / 255.0
            score_fn = novelty.score_function(model)
            test = removal_test(
                score_fn, image, heat, baseline=args.baseline, n_random=10, random_state=position
            )
            wins += test.beats_random
            curve = deletion_curve(
                score_fn, image, heat, baseline=args.baseline, fractions=FRACTIONS
            )
            ours_auc.append(curve_auc(curve))
            noise = random_maps(heat.shape, 3, random_state=position)
            random_auc.append(
                np.mean(
                    [
                        curve_auc(
                            deletion_curve(
                                score_fn, image, n, baseline=args.baseline, fractions=FRACTIONS
                            )
                        )
                        for n in noise
                    ]
                )
            )
        results[method] = dict(
            beats_random=int(wins),
            picks=args.picks,
            deletion_auc=float(np.mean(ours_auc)),
            random_deletion_auc=float(np.mean(random_auc)),
            seconds_per_map=seconds,
        )
        log(
            f"{method:22s} beats random in {wins:2d}/{args.picks}  deletion AUC "
            f"{np.mean(ours_auc):.3f} vs random {np.mean(random_auc):.3f}  {seconds:.1f} s/map"
        )
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
