"""The torch modules of the counterfactual explainer: generator, concept classifier, critic.

DISSECT's networks (Ghandeharioun et al. 2022, used by Liznerski et al. for counterfactual
anomaly explanations), scaled down from 64×64 images and 1024-channel blocks to small images
and a CPU budget:

* :class:`CounterfactualGenerator` G(x, c): residual encoder-decoder whose batch norms are
  *conditional* -- one scale and shift per condition c = concept · n_bins + score bin;
* :class:`ConceptClassifier` R(a, b): which concept changed image a into image b (one logit per
  concept, multi-label);
* :class:`ProjectionDiscriminator` D(x, bin): hinge-GAN critic with a projection on the score
  bin.

R and D use spectral normalisation on every weight, as in DISSECT. Images enter in [0, 1].
Sizes that are not multiples of 4 are padded (replicating edge pixels) at the bottom and right
and the output is cropped back.
"""

from sknovel.utils.tensors import import_torch

torch = import_torch()
nn = torch.nn
F = torch.nn.functional
spectral_norm = torch.nn.utils.parametrizations.spectral_norm

#: Standard deviation of the initial conditional scales and shifts around 1 and 0.
INIT_SPREAD = 0.2
#: Two stride-2 stages: inputs are padded to a multiple of this.
MULTIPLE = 4


def _pad(x):
    """Pad (n, C, H, W) at the bottom and right to multiples of MULTIPLE (edge pixels)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine part, then a scale and shift chosen by the condition.

    Scales start near 1 and shifts near 0 but not at them (normal, standard deviation
    INIT_SPREAD): with equal starting values every concept would begin as the same function,
    and the concept classifier would have no difference to start learning from.
    """

    def __init__(self, channels, n_conditions):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(n_conditions, channels)
        self.shift = nn.Embedding(n_conditions, channels)
        nn.init.normal_(self.scale.weight, 1.0, INIT_SPREAD)
        nn.init.normal_(self.shift.weight, 0.0, INIT_SPREAD)

    def forward(self, x, condition):
        scale = self.scale(condition)[:, :, None, None]
        shift = self.shift(condition)[:, :, None, None]
        return self.norm(x) * scale + shift


class GeneratorBlock(nn.Module):
    """CBN-ReLU-resample-conv3×3-CBN-ReLU-conv3×3 plus a resampled 1×1 shortcut (DISSECT).

    `resample` is "down" (2×2 average pooling), "up" (nearest-neighbour doubling) or None.
    Either way the convolutions run at the output size.
    """

    def __init__(self, in_channels, out_channels, n_conditions, resample=None):
        super().__init__()
        self.resample = resample
        self.norm1 = ConditionalBatchNorm2d(in_channels, n_conditions)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = ConditionalBatchNorm2d(out_channels, n_conditions)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def _resample(self, x):
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        return x

    def forward(self, x, condition):
        # DISSECT's encoder pools after its convolutions; pooling first costs a quarter as
        # much, which is what makes training on two CPU cores affordable.
        h = self._resample(F.relu(self.norm1(x, condition)))
        h = self.conv1(h)
        h = self.conv2(F.relu(self.norm2(h, condition)))
        return h + self.shortcut(self._resample(x))


class CounterfactualGenerator(nn.Module):
    """G(x, condition) → image in [0, 1] of x's shape.

    conv3×3(w) → down-blocks (2w at H/2, 4w at H/4) → one block at H/4 → up-blocks
    (2w at H/2, w at H) → CBN-ReLU-conv3×3 → output, with ``w = width``. The condition
    index is ``concept * n_bins + score_bin``.

    Parameters
    ----------
    channels : int
        Image channels C.
    n_conditions : int
        n_concepts · n_bins.
    width : int
        Channels of the full-size feature maps.
    output : {"image", "blend"}
        "image": the last convolution gives C channels and a sigmoid the image (DISSECT).
        "blend": it gives a mask logit and C paint channels, and the output is
        ``m * x + (1 - m) * p`` with ``m = sigmoid(logit)`` and ``p = sigmoid(paint)``:
        every pixel is kept or repainted (the attention mask of GANimation, Pumarola et
        al. 2018), so what the generator does not change is the input itself. The mask
        starts near one half, not near "keep everything": the concepts' initial
        differences then show in the output, and the concept classifier has something to
        learn from (started at 95 % kept, the concepts collapsed into one change).
    """

    def __init__(self, channels, n_conditions, width, output="image"):
        super().__init__()
        self.output = output
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        sizes = [width, 2 * width, 4 * width, 4 * width, 2 * width, width]
        resamples = ["down", "down", None, "up", "up"]
        self.blocks = nn.ModuleList(
            GeneratorBlock(a, b, n_conditions, r) for a, b, r in zip(sizes, sizes[1:], resamples)
        )
        self.norm = ConditionalBatchNorm2d(width, n_conditions)
        out_channels = channels + 1 if output == "blend" else channels
        self.head = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x, condition):
        height, width = x.shape[-2:]
        h = self.stem(_pad(x) * 2 - 1)  # DISSECT works on [-1, 1]
        for block in self.blocks:
            h = block(h, condition)
        h = self.head(F.relu(self.norm(h, condition)))[..., :height, :width]
        if self.output == "image":
            return torch.sigmoid(h)
        keep = torch.sigmoid(h[:, :1])
        return keep * x + (1 - keep) * torch.sigmoid(h[:, 1:])


class CriticBlock(nn.Module):
    """SNGAN residual block: ReLU-conv3×3-ReLU-conv3×3 (+1×1 shortcut), optional 2×2 pooling."""

    def __init__(self, in_channels, out_channels, downsample=True, first=False):
        super().__init__()
        self.first = first
        self.downsample = downsample
        self.conv1 = spectral_norm(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.shortcut = spectral_norm(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        shortcut = self.shortcut(x)
        if self.downsample:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
        return h + shortcut


def _critic_trunk(in_channels, widths):
    blocks = [CriticBlock(in_channels, widths[0], first=True)]
    blocks += [CriticBlock(a, b) for a, b in zip(widths, widths[1:])]
    return nn.Sequential(*blocks)


class ConceptClassifier(nn.Module):
    """R(a, b) → one logit per concept: which concept turned image a into image b.

    The two images are stacked on the channel axis (2C channels) and go through two
    spectral-norm residual blocks (``width``, ``2 * width``) that halve the size, ReLU, a sum
    over positions and a spectral-norm linear layer (DISSECT's R, narrower).
    """

    def __init__(self, channels, n_concepts, width):
        super().__init__()
        self.trunk = _critic_trunk(2 * channels, [width, 2 * width])
        self.linear = spectral_norm(nn.Linear(2 * width, n_concepts))

    def forward(self, a, b):
        h = F.relu(self.trunk(_pad(torch.cat([a, b], dim=1) * 2 - 1)))
        return self.linear(h.sum(dim=(2, 3)))


class ProjectionDiscriminator(nn.Module):
    """D(x, bin) → realism logit: SNGAN residual trunk, sum pooling, linear + projection.

    Three spectral-norm residual blocks (``width``, ``2 * width``, ``4 * width``), the first
    two halving the size; the output is ``linear(h) + <embedding(bin), h>`` (Miyato &
    Koyama's projection on the score bin, as DISSECT's D).
    """

    def __init__(self, channels, n_bins, width):
        super().__init__()
        widths = [width, 2 * width, 4 * width]
        self.trunk = nn.Sequential(
            CriticBlock(channels, widths[0], first=True),
            CriticBlock(widths[0], widths[1]),
            CriticBlock(widths[1], widths[2], downsample=False),
        )
        self.linear = spectral_norm(nn.Linear(widths[2], 1))
        self.embedding = spectral_norm(nn.Embedding(n_bins, widths[2]))

    def forward(self, x, score_bin):
        h = F.relu(self.trunk(_pad(x) * 2 - 1)).sum(dim=(2, 3))
        return self.linear(h)[:, 0] + (self.embedding(score_bin) * h).sum(dim=1)


def build_networks(channels, n_concepts, n_bins, width, adversarial, output="image"):
    """The explainer's networks, keyed by the attribute that holds them (D None if unused)."""
    return {
        "generator_": CounterfactualGenerator(channels, n_concepts * n_bins, width, output),
        "concept_classifier_": ConceptClassifier(channels, n_concepts, width),
        "discriminator_": ProjectionDiscriminator(channels, n_bins, width) if adversarial else None,
    }
