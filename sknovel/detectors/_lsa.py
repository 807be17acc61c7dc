"""The convolutional autoencoder of LSA's MNIST model, as used by Feeney & Hughes (torch).

Abati et al., *Latent Space Autoregression for Novelty Detection* (CVPR 2019), MNIST encoder and
decoder without the autoregressive density estimator. Residual down-blocks (3×3 stride-2
convolutions with a 1×1 stride-2 shortcut) and up-blocks (5×5 stride-2 transposed convolutions
with a 1×1 transposed shortcut), bias-free convolutions followed by batch norm, LeakyReLU
(slope 0.01), two fully connected layers each side and a sigmoid on the latent code. The output
has no activation.

For 28×28 inputs the network is exactly that model: Down(C→32) 14², Down(32→64) 7²,
Linear(3136→64), Linear(64→latent); the decoder mirrors it, Up(64→32), Up(32→16), and a 1×1
convolution to C channels. Other sizes get more down/up blocks -- enough that the deepest
feature map is at most 8 pixels on its longer side, never fewer than two -- with the channels
doubling per block from 32 (at most 256); the input is padded (replicating its edge pixels) at
the bottom and right to a multiple of ``2 ** n_blocks`` and the output cropped back.

The 1×1 stride-2 shortcuts are computed as subsampling (or zero insertion) and a matrix
product over the channels, not by torch's convolution (see :class:`StridedPointwiseConv2d`):
same weights, same result up to float rounding, but never oneDNN's strided 1×1 convolution
kernel, whose backward pass corrupts the heap with torch 2.14.1 (oneDNN 3.12) on AVX2 CPUs.
"""

import math

from sknovel.utils.tensors import import_torch

torch = import_torch()
nn = torch.nn
F = torch.nn.functional

#: Width of the fully connected hidden layers on both sides of the code (LSA: 64).
HIDDEN_FEATURES = 64
#: The deepest feature map is at most this many pixels on its longer side.
DEEPEST_SIZE = 8
#: Channels of the first down-block; doubled per block, capped at MAX_CHANNELS.
FIRST_CHANNELS, MAX_CHANNELS = 32, 256
#: Channels of the last up-block, before the 1×1 output convolution (LSA: 16).
LAST_CHANNELS = 16


def n_blocks_for(height, width):
    """Number of down-blocks (= up-blocks) for images of this size: at least 2."""
    return max(2, math.ceil(math.log2(max(height, width) / DEEPEST_SIZE)))


def encoder_channels(n_blocks):
    """Output channels of each down-block: 32, 64, 128, 256, 256, ..."""
    return [min(FIRST_CHANNELS * 2**i, MAX_CHANNELS) for i in range(n_blocks)]


def _channel_matmul(matrix, x):
    """Apply an (O, C) matrix to the channels of an (n, C, H, W) tensor: (n, O, H, W)."""
    n, channels, height, width = x.shape
    return torch.matmul(matrix, x.reshape(n, channels, height * width)).unflatten(
        2, (height, width)
    )


class StridedPointwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)``, as a matmul.

    A 1×1 convolution with stride s reads the pixels (s·i, s·j) only, so it equals slicing
    ``x[:, :, ::s, ::s]`` and multiplying the channels by the (out, in) weight matrix. The
    parameters, their initialisation and the ``state_dict`` are those of the convolution.

    Why: on AVX2 CPUs, torch 2.14.1 hands a strided 1×1 convolution to oneDNN 3.12's
    ``jit_1x1`` kernel, whose weight gradient for one input channel (grey images, with one
    torch thread) writes outside its buffers -- training then dies with SIGSEGV or "corrupted
    double-linked list". The matrix product goes through BLAS instead, on every machine.
    """

    def __init__(self, in_channels, out_channels, stride=2):
        super().__init__(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x):
        step_h, step_w = self.stride
        return _channel_matmul(self.weight.flatten(1), x[:, :, ::step_h, ::step_w])


class StridedPointwiseConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(in, out, 1, stride, output_padding=..., bias=False)``, as a matmul.

    A 1×1 transposed convolution with stride s writes the channel product of pixel (i, j) to
    (s·i, s·j) and zeros elsewhere: a matrix product followed by zero insertion. Same
    parameters and ``state_dict`` as the transposed convolution; it avoids oneDNN's strided
    1×1 kernel, which computes this layer's weight gradient (see
    :class:`StridedPointwiseConv2d`).
    """

    def __init__(self, in_channels, out_channels, stride=2, output_padding=1):
        super().__init__(
            in_channels, out_channels, 1, stride=stride, output_padding=output_padding, bias=False
        )

    def forward(self, x):
        n, _, height, width = x.shape
        step_h, step_w = self.stride
        values = _channel_matmul(self.weight.flatten(1).T, x)
        out_h = (height - 1) * step_h + 1 + self.output_padding[0]
        out_w = (width - 1) * step_w + 1 + self.output_padding[1]
        out = values.new_zeros(n, values.shape[1], out_h, out_w)
        out[:, :, ::step_h, ::step_w] = values
        return out


class DownBlock(nn.Module):
    """Halve the size: [conv3×3 s2, BN, act, conv3×3, BN] + [conv1×1 s2, BN], sum, act."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = StridedPointwiseConv2d(in_channels, out_channels, stride=2)
        self.bn_shortcut = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        main = self.bn2(self.conv2(F.leaky_relu(self.bn1(self.conv1(x)))))
        return F.leaky_relu(main + self.bn_shortcut(self.shortcut(x)))


class UpBlock(nn.Module):
    """Double the size: [tconv5×5 s2, BN, act, conv3×3, BN] + [tconv1×1 s2, BN], sum, act."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(
            in_channels, out_channels, 5, stride=2, padding=2, output_padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = StridedPointwiseConvTranspose2d(
            in_channels, out_channels, stride=2, output_padding=1
        )
        self.bn_shortcut = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        main = self.bn2(self.conv2(F.leaky_relu(self.bn1(self.conv1(x)))))
        return F.leaky_relu(main + self.bn_shortcut(self.shortcut(x)))


def _dense(in_features, out_features):
    return [nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features), nn.LeakyReLU()]


class LSAAutoencoder(nn.Module):
    """LSA's MNIST autoencoder (no density estimator), for (n, C, H, W) input.

    Parameters
    ----------
    input_shape : tuple of int
        (height, width, channels) of the images.
    latent_dim : int
        Length of the code (LSA: 64).
    """

    def __init__(self, input_shape, latent_dim):
        super().__init__()
        height, width, channels = input_shape
        self.input_shape = tuple(input_shape)
        n_blocks = n_blocks_for(height, width)
        self.multiple = 2**n_blocks
        enc = encoder_channels(n_blocks)
        self.deepest_shape = (
            enc[-1],
            math.ceil(height / self.multiple),
            math.ceil(width / self.multiple),
        )
        deepest = math.prod(self.deepest_shape)
        self.encoder_conv = nn.Sequential(
            *[DownBlock(c_in, c_out) for c_in, c_out in zip([channels] + enc[:-1], enc)]
        )
        self.encoder_fc = nn.Sequential(
            *_dense(deepest, HIDDEN_FEATURES),
            nn.Linear(HIDDEN_FEATURES, latent_dim),
            nn.Sigmoid(),
        )
        self.decoder_fc = nn.Sequential(
            *_dense(latent_dim, HIDDEN_FEATURES), *_dense(HIDDEN_FEATURES, deepest)
        )
        dec = enc[::-1] + [LAST_CHANNELS]
        self.decoder_conv = nn.Sequential(
            *[UpBlock(c_in, c_out) for c_in, c_out in zip(dec[:-1], dec[1:])],
            nn.Conv2d(LAST_CHANNELS, channels, 1, bias=False),
        )

    def encode(self, x):
        """(n, C, H, W) images → (n, latent_dim) codes in (0, 1)."""
        height, width = x.shape[-2:]
        pad_h = -height % self.multiple
        pad_w = -width % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return self.encoder_fc(self.encoder_conv(x).flatten(1))

    def decode(self, code):
        """(n, latent_dim) codes → (n, C, H, W) reconstructions (cropped to the input size)."""
        hidden = self.decoder_fc(code).unflatten(1, self.deepest_shape)
        height, width = self.input_shape[:2]
        return self.decoder_conv(hidden)[..., :height, :width]

    def forward(self, x):
        return self.decode(self.encode(x))
