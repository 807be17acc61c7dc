"""asv benchmarks of the featurizers: SIFT bag-of-words and CNN throughput (images per second).

The CNN ratios the featurizer issue sets targets for (throughput over a bare forward pass,
a three-layer grid search over one pass, bounded memory) are measured in one run by
``benchmarks/featurizer_ratios.py``.

Run as a script, it also times OpenCV's SIFT against scikit-image's on the same 50 grey
images (OpenCV limited to one thread, as scikit-image uses one), the measurement behind
``SIFTBoWFeaturizer``'s choice of OpenCV. From the repository root::

    PYTHONPATH=. python benchmarks/benchmarks/features.py
"""

import time
from pathlib import Path

import numpy as np

#: Images per benchmark run: 96 px, the size of the MSL set of Lee, Wagstaff et al. (2018).
N_IMAGES = 200
IMAGE_SIZE = 96
N_CLUSTERS = 10


def make_images(n_images=N_IMAGES, size=IMAGE_SIZE, random_state=0):
    """Colour uint8 images of MSL size: the MSL set itself when present, else random blobs."""
    from sknovel.datasets import find_data_file, load_labelled_images

    path = find_data_file("msl_v1_96px.npz", start=Path(__file__).parent)
    if path is not None and size == IMAGE_SIZE:
        return load_labelled_images(path, n_samples=n_images, random_state=random_state).images
    rng = np.random.default_rng(random_state)
    coarse = rng.random((n_images, size // 8, size // 8, 3))
    smooth = coarse.repeat(8, axis=1).repeat(8, axis=2)
    noisy = smooth + 0.1 * rng.standard_normal(smooth.shape)
    return (np.clip(noisy, 0, 1) * 255).astype(np.uint8)


class SIFTBoWSuite:
    """``SIFTBoWFeaturizer`` on 200 colour images of 96 px (arrays): fit, transform, images/s."""

    number = 1
    repeat = (3, 5, 60.0)
    warmup_time = 0.0
    timeout = 300.0

    def setup(self):
        from sknovel.features import SIFTBoWFeaturizer

        self.images = make_images()
        self.featurizer = SIFTBoWFeaturizer(N_CLUSTERS, random_state=0).fit(self.images)

    def time_fit(self):
        self.featurizer.fit(self.images)

    def time_transform(self):
        self.featurizer.transform(self.images)

    def track_transform_images_per_second(self):
        start = time.perf_counter()
        self.featurizer.transform(self.images)
        return len(self.images) / (time.perf_counter() - start)

    track_transform_images_per_second.unit = "images/s"


class CNNSuite:
    """``CNNFeaturizer`` on 64 colour images of 96 px (arrays), without the activation cache."""

    params = (["efficientnet_lite0", "alexnet"],)
    param_names = ["arch"]
    number = 1
    repeat = (2, 3, 120.0)
    warmup_time = 0.0
    timeout = 600.0

    def setup(self, arch):
        from sknovel.features import CNNFeaturizer

        self.images = make_images(64)
        weights = "DEFAULT" if arch == "efficientnet_lite0" else "random"
        self.featurizer = CNNFeaturizer(arch, weights=weights, random_state=0)
        self.featurizer.fit(self.images[:1])

    def time_transform(self, arch):
        self.featurizer.transform(self.images)

    def track_transform_images_per_second(self, arch):
        start = time.perf_counter()
        self.featurizer.transform(self.images)
        return len(self.images) / (time.perf_counter() - start)

    track_transform_images_per_second.unit = "images/s"


def compare_sift_implementations(n_images=50, repeats=3):
    """Best-of-`repeats` seconds of OpenCV's and scikit-image's SIFT on the same grey images."""
    import cv2
    from skimage.feature import SIFT

    from sknovel.features._sift import grey_uint8

    cv2.setNumThreads(1)
    grey = grey_uint8(make_images(n_images) / np.float32(255))

    def opencv():
        sift = cv2.SIFT_create()
        return sum(len(sift.detectAndCompute(image, None)[0]) for image in grey)

    def skimage():
        n_descriptors = 0
        for image in grey:
            sift = SIFT()
            try:
                sift.detect_and_extract(image)
            except RuntimeError:  # no keypoint in this image
                continue
            n_descriptors += len(sift.descriptors)
        return n_descriptors

    for name, run in [("opencv " + cv2.__version__, opencv), ("scikit-image", skimage)]:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            n_descriptors = run()
            times.append(time.perf_counter() - start)
        print(
            f"{name:>14}: {min(times):.3f} s for {n_images} images "
            f"({n_images / min(times):.0f} images/s), {n_descriptors} descriptors"
        )


if __name__ == "__main__":
    compare_sift_implementations()
