"""The up-convolutional decoder of Dosovitskiy & Brox (2016), sized for small images (torch).

*Inverting Visual Representations with Convolutional Networks* inverts a CNN's fully connected
features with three fully connected layers, a reshape to a 4×4 map, and stride-2 transposed
convolutions up to the image size, leaky ReLU (slope 0.2) between them. Here the widths scale
with one number ``width``: the fully connected layers have ``4 * width`` units, the 4×4 map
``width`` channels, and every up-convolution halves the channels (never below
``MIN_CHANNELS``). Each up-convolution (4×4 kernel, stride 2) is followed by a 3×3 convolution
at the new size, as in the released DeePSiM generators; a last 3×3 convolution gives the colour
channels and a sigmoid puts them in [0, 1].
"""

import math

from sknovel.utils.tensors import import_torch

torch = import_torch()
nn = torch.nn

#: Slope of the leaky ReLUs (Dosovitskiy & Brox: 0.2).
NEGATIVE_SLOPE = 0.2
#: Side of the first feature map, reshaped from the fully connected output.
FIRST_SIZE = 4
#: Fewest channels of an up-convolution's output.
MIN_CHANNELS = 16


def n_upsamplings(image_size):
    """Stride-2 up-convolutions from the 4×4 map to ``image_size`` (a power of two ≥ 8)."""
    return int(round(math.log2(image_size / FIRST_SIZE)))


def channels(width, image_size):
    """Channels of the 4×4 map and of each up-convolution's output."""
    return [max(width // 2**i, MIN_CHANNELS) for i in range(n_upsamplings(image_size) + 1)]


class UCDecoder(nn.Module):
    """Features (n, d) → images (n, C, size, size) in [0, 1].

    Parameters
    ----------
    n_features : int
        Width d of the (standardised) input features.
    image_size : int
        Side of the output images, a power of two ≥ 8.
    n_channels : int
        Colour channels of the output (1 or 3).
    width : int
        Channels of the 4×4 map; the fully connected layers have ``4 * width`` units.
    dropout : float
        Dropout rate applied to the input features during training.
    """

    def __init__(self, n_features, image_size, n_channels, width, dropout=0.0):
        super().__init__()
        hidden = 4 * width
        sizes = channels(width, image_size)
        self.first_channels = sizes[0]
        self.dropout = nn.Dropout(dropout)
        self.fully_connected = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Linear(hidden, sizes[0] * FIRST_SIZE**2),
            nn.LeakyReLU(NEGATIVE_SLOPE),
        )
        layers = []
        for in_channels, out_channels in zip(sizes[:-1], sizes[1:]):
            layers += [
                nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1),
                nn.LeakyReLU(NEGATIVE_SLOPE),
                nn.Conv2d(out_channels, out_channels, 3, padding=1),
                nn.LeakyReLU(NEGATIVE_SLOPE),
            ]
        layers += [nn.Conv2d(sizes[-1], n_channels, 3, padding=1), nn.Sigmoid()]
        self.up_convolutions = nn.Sequential(*layers)

    def forward(self, features):
        hidden = self.fully_connected(self.dropout(features))
        return self.up_convolutions(hidden.view(-1, self.first_channels, FIRST_SIZE, FIRST_SIZE))
