"""The models of the workbook: the U-Net family and an FCN-32s on ResNet-18, with size counts.

The U-Net is assembled from four small blocks, as in Ronneberger et al. (2015):

- `DoubleConv`: (3×3 convolution → batch norm → ReLU) twice; "same" padding keeps H×W;
- `Down`: 2×2 max-pool (halves H×W), then a DoubleConv that doubles the channels;
- `Up`: up-sample ×2 (halving the channels), pad to the size of the matching encoder
  output (the skip), concatenate the two, then a DoubleConv;
- `OutConv`: a 1×1 convolution from features to one logit per class.

Padding inside `Up` is what lets the network take any image size: 300 rows halve to 150, 75,
37 and 18; up-sampling 18 gives 36, one row short of 37, so one row of zeros is added.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel mean of ImageNet images in [0, 1] (RGB)
IMAGENET_STD = (0.229, 0.224, 0.225)  # per-channel standard deviation of the same

UP_MODES = ("transpose", "bilinear")
INIT_MODES = ("kaiming", "default")
NORM_MODES = ("batch", "none")


# ---------------------------------------------------------------------------------------------
# U-Net blocks


class DoubleConv(nn.Module):
    """(3×3 conv → BatchNorm → ReLU) × 2, keeping H×W; optional Dropout2d at the end.

    The convolutions have no bias: the batch norm that follows adds its own. norm="none" leaves
    the batch norms out (3×3 conv with bias → ReLU, twice), for the ablation of notebook 04b.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None,
                 dropout: float = 0.0, norm: str = "batch"):
        super().__init__()
        if norm not in NORM_MODES:
            raise ValueError(f"norm must be one of {NORM_MODES}, got {norm!r}")
        mid_channels = mid_channels or out_channels
        layers: list[nn.Module] = []
        for conv_in, conv_out in ((in_channels, mid_channels), (mid_channels, out_channels)):
            layers.append(nn.Conv2d(conv_in, conv_out, kernel_size=3, padding=1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(conv_out))
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        self.double_conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    """2×2 max-pool (halves H×W, rounding down), then a DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, norm: str = "batch"):
        super().__init__()
        self.pool_conv = nn.Sequential(
            nn.MaxPool2d(2),
            DoubleConv(in_channels, out_channels, dropout=dropout, norm=norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool_conv(x)


def pad_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-pad (or crop, when larger) the last two dims of `x` to `size` = (H, W), centred."""
    diff_y = size[0] - x.shape[-2]
    diff_x = size[1] - x.shape[-1]
    if diff_y == 0 and diff_x == 0:
        return x
    return F.pad(x, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])


class Up(nn.Module):
    """Up-sample ×2 to `in_channels // 2` channels, pad to the skip's size, concatenate, DoubleConv.

    up="transpose": a learned 2×2 transposed convolution with stride 2.
    up="bilinear": fixed bilinear interpolation, then a 1×1 convolution that halves the channels
    (1×1 rather than the paper's 2×2, whose even kernel would shift the map by half a pixel).
    use_skip=False: the skip tensor only gives the target size; nothing is concatenated.
    """

    def __init__(self, in_channels: int, out_channels: int, up: str = "transpose",
                 use_skip: bool = True, dropout: float = 0.0, norm: str = "batch"):
        super().__init__()
        if up not in UP_MODES:
            raise ValueError(f"up must be one of {UP_MODES}, got {up!r}")
        half = in_channels // 2
        if up == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, half, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, half, kernel_size=1),
            )
        self.use_skip = use_skip
        conv_in = half + half if use_skip else half  # the skip has in_channels // 2 channels too
        self.conv = DoubleConv(conv_in, out_channels, dropout=dropout, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = pad_to(self.up(x), skip.shape[-2:])
        if self.use_skip:
            x = torch.cat([skip, x], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    """1×1 convolution: features → one logit per class at every pixel."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def init_kaiming(model: nn.Module) -> None:
    """He initialisation (fan_out, ReLU) of every (transposed) conv, zero biases; BN weight 1, bias 0."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class UNet(nn.Module):
    """U-Net: `depth` Down blocks, `depth` Up blocks, logits N×num_classes×H×W at the input's H×W.

    Channels double at every level: base, 2·base, … base·2**depth at the bottleneck.
    base=64, depth=4, up="transpose" is the original U-Net (≈31.0M parameters for 2 classes).
    skips=False keeps the same encoder and decoder but concatenates nothing (the decoder
    sees only the up-sampled bottleneck), so it has fewer parameters.
    dropout > 0 adds Dropout2d after every DoubleConv. init="kaiming" applies `init_kaiming`;
    "default" keeps PyTorch's own initialisation. norm="none" removes every batch norm (the
    convolutions get biases instead); `.config` names `norm` only then, so the configs (and
    checkpoints) of batch-norm U-Nets stay as they were.
    Inputs smaller than 2**depth in a dimension are zero-padded to 2**depth (so the bottleneck
    is at least 1×1) and the logits are cropped back to the input size.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 9, base: int = 64, depth: int = 4,
                 up: str = "transpose", skips: bool = True, dropout: float = 0.0,
                 init: str = "kaiming", norm: str = "batch"):
        super().__init__()
        if up not in UP_MODES:
            raise ValueError(f"up must be one of {UP_MODES}, got {up!r}")
        if norm not in NORM_MODES:
            raise ValueError(f"norm must be one of {NORM_MODES}, got {norm!r}")
        if init not in INIT_MODES:
            raise ValueError(f"init must be one of {INIT_MODES}, got {init!r}")
        if depth < 1 or base < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError("in_channels, num_classes, base and depth must all be at least 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config = {"arch": "unet", "in_channels": in_channels, "num_classes": num_classes,
                       "base": base, "depth": depth, "up": up, "skips": skips,
                       "dropout": dropout, "init": init}
        if norm != "batch":
            self.config["norm"] = norm
        self.depth = depth
        channels = [base * 2**level for level in range(depth + 1)]
        # Registered in forward order (encoder, decoder, head): `receptive_field` relies on it.
        self.inc = DoubleConv(in_channels, channels[0], dropout=dropout, norm=norm)
        self.downs = nn.ModuleList(
            Down(channels[level], channels[level + 1], dropout=dropout, norm=norm) for level in range(depth)
        )
        self.ups = nn.ModuleList(
            Up(channels[level + 1], channels[level], up=up, use_skip=skips, dropout=dropout, norm=norm)
            for level in reversed(range(depth))
        )
        self.outc = OutConv(channels[0], num_classes)
        if init == "kaiming":
            init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        smallest = 2**self.depth
        if height < smallest or width < smallest:
            x = F.pad(x, [0, max(0, smallest - width), 0, max(0, smallest - height)])
        features = [self.inc(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        x = features.pop()
        for up in self.ups:
            x = up(x, features.pop())
        return self.outc(x)[..., :height, :width]


class SkipProbe(nn.Module):
    """Calls an Up block with a fixed skip tensor, so checks that feed one input can test it (notebook 03)."""

    def __init__(self, up: nn.Module, skip: torch.Tensor):
        super().__init__()
        self.up = up
        self.register_buffer("skip", skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x, self.skip)


def trace_shapes(model: nn.Module, images: torch.Tensor) -> tuple[list[tuple[str, str, str, str]], torch.Tensor]:
    """Run a U-Net (inc, downs, ups, outc) step by step: rows (stage, operation, C×H×W, note) and the logits.

    Marks the poolings that drop an odd row or column and the paddings that put it back; on the meta
    device it costs nothing, so it traces the base-64 U-Net at any image size (notebook 03).
    """
    rows: list[tuple[str, str, str, str]] = []

    def add(stage: str, operation: str, tensor: torch.Tensor, note: str = "") -> None:
        rows.append((stage, operation, "×".join(map(str, tensor.shape[1:])), note))

    add("input", "", images)
    x = model.inc(images)
    add("inc", "DoubleConv", x)
    features = [x]
    for level, down in enumerate(model.downs, start=1):
        size_before = x.shape[-2:]
        x = down(x)
        add(f"down{level}", "max-pool, DoubleConv", x,
            "; ".join(f"{n} is odd: its last {what} is dropped" for n, what in zip(size_before, ("row", "column")) if n % 2))
        features.append(x)
    x = features.pop()
    for level, up in enumerate(model.ups, start=1):
        skip = features.pop()
        upsampled = up.up(x)
        add(f"up{level}", "transposed conv ×2" if isinstance(up.up, nn.ConvTranspose2d) else "up-sample ×2", upsampled)
        x = pad_to(upsampled, skip.shape[-2:])
        if x.shape != upsampled.shape:
            add("", "pad to the skip", x, "; ".join(f"+{after - before} {what} of zeros ({before} → {after})"
                                                    for before, after, what in zip(upsampled.shape[-2:], x.shape[-2:],
                                                                                   ("row", "column")) if after != before))
        if getattr(up, "use_skip", True):
            x = torch.cat([skip, x], dim=1)
            add("", "concatenate skip", x)
        x = up.conv(x)
        add("", "DoubleConv", x)
    x = model.outc(x)
    add("outc", "1×1 conv", x, "one logit per class, at the input's size")
    return rows, x


def padding_steps(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """"up1: +1 row of zeros (36 → 37)" for each padding in a `trace_shapes` table, named by its Up block."""
    steps, stage = [], ""
    for name, operation, _, note in rows:
        stage = name or stage
        if operation == "pad to the skip":
            steps.append(f"{stage}: {note}")
    return steps


# ---------------------------------------------------------------------------------------------
# FCN-32s on ResNet-18


def imagenet_checkpoint_path() -> Path:
    """Where torch.hub keeps torchvision's ResNet-18 ImageNet weights: <hub dir>/checkpoints/<file>."""
    from torchvision.models import ResNet18_Weights

    filename = os.path.basename(urlparse(ResNet18_Weights.IMAGENET1K_V1.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def imagenet_weights_cached() -> bool:
    """True when the ResNet-18 ImageNet weights are in the torch hub cache (usable offline)."""
    return imagenet_checkpoint_path().is_file()


def load_imagenet_resnet18_state() -> dict[str, torch.Tensor]:
    """torchvision's ResNet18_Weights.IMAGENET1K_V1 state dict, from the hub cache or downloaded.

    Raises RuntimeError saying where to put the file when it is neither cached nor downloadable.
    """
    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights.IMAGENET1K_V1.url
    path = imagenet_checkpoint_path()
    if path.is_file():
        from helpers.train import describe_load_error

        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise RuntimeError(
                f"the ResNet-18 ImageNet weights file {path} cannot be used: {describe_load_error(error)}. "
                f"Delete it (it is downloaded again on the next use), or copy a good one from {url} to that "
                f"path, or use weights=None to train from scratch."
            ) from error
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, check_hash=True)
    except Exception as error:  # no network, proxy, DNS, HTTP error, bad hash …
        raise RuntimeError(
            f"ResNet-18 ImageNet weights are not available offline and could not be downloaded "
            f"({type(error).__name__}: {error}). Download {url} on a machine with internet access "
            f"and copy the file to {path} (the torch hub cache; set TORCH_HOME to use another "
            f"folder), or use weights=None to train from scratch."
        ) from error


class FCN32s(nn.Module):
    """FCN-32s (Long et al. 2015) on a torchvision ResNet-18: stride-32 features → 1×1 classifier → ×32.

    Input: images N×3×H×W in [0, 1]; they are normalised with IMAGENET_MEAN / IMAGENET_STD
    inside `forward`. The encoder is ResNet-18 up to layer4 (512 channels at 1/32 of the size).
    Up-sampling is fixed bilinear interpolation (F.interpolate) straight to the input's H×W,
    so any size works; it is not a learned transposed convolution.
    weights=None: random initialisation; "imagenet": torchvision's IMAGENET1K_V1 weights
    (see `load_imagenet_resnet18_state`).
    """

    def __init__(self, num_classes: int = 9, weights: str | None = None):
        super().__init__()
        from torchvision.models import resnet18

        if weights not in (None, "imagenet"):
            raise ValueError(f"weights must be None or 'imagenet', got {weights!r}")
        self.config = {"arch": "fcn32s", "num_classes": num_classes, "weights": weights}
        resnet = resnet18(weights=None)
        if weights == "imagenet":
            from helpers.train import load_weights

            load_weights(resnet, load_imagenet_resnet18_state(), imagenet_checkpoint_path(),
                         advice="It is not torchvision's ResNet-18 file: delete it (it is downloaded again on "
                                "the next use), or use weights=None.")
        self.encoder = nn.Sequential(OrderedDict(
            (name, getattr(resnet, name))
            for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        ))
        self.classifier = nn.Conv2d(512, num_classes, kernel_size=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.encoder_frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        features = self.encoder((x - self.mean) / self.std)
        logits = self.classifier(features)
        return F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)

    def freeze_encoder(self) -> None:
        """Stop training the encoder: no gradients, and its batch-norm statistics stay fixed."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        self.encoder_frozen = True
        self.train(self.training)

    def unfreeze_encoder(self) -> None:
        """Train the whole network again (fine-tuning)."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(True)
        self.encoder_frozen = False
        self.train(self.training)

    def train(self, mode: bool = True) -> FCN32s:
        """As nn.Module.train, but a frozen encoder always stays in eval mode (fixed BN statistics)."""
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self


# ---------------------------------------------------------------------------------------------
# Building and measuring


class Ensemble(nn.Module):
    """Several trained models as one: the log of their mean class probabilities.

    A log-probability is a valid logit (softmax gives the mean back, argmax picks the class the
    members agree on most), so losses, metrics and `predict` work unchanged. Models with one
    output channel (binary) are averaged as sigmoid probabilities and returned as a logit.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an Ensemble needs at least one member model")
        self.members = nn.ModuleList(members)
        self.config = {"arch": "ensemble", "members": [dict(getattr(member, "config", None) or {})
                                                       for member in members]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = [member(x) for member in self.members]
        if logits[0].shape[1] == 1:
            return torch.logit(torch.stack([torch.sigmoid(one) for one in logits]).mean(0), eps=1e-7)
        log_probs = torch.stack([F.log_softmax(one, dim=1) for one in logits])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(logits))


ARCHITECTURES = {"unet": UNet, "fcn32s": FCN32s}


def build_model(config: dict, load_pretrained: bool = True) -> nn.Module:
    """Rebuild a model from its `.config` dict (key "arch" picks the class, the rest are its arguments).

    load_pretrained=False builds an FCN32s with weights="imagenet" without loading those
    weights (for loading a checkpoint, which overwrites them anyway); `.config` keeps "imagenet".
    """
    arguments = dict(config)
    arch = arguments.pop("arch", None)
    if arch == "ensemble":
        return Ensemble([build_model(member, load_pretrained) for member in arguments["members"]])
    if arch not in ARCHITECTURES:
        raise ValueError(f"config['arch'] must be one of {sorted([*ARCHITECTURES, 'ensemble'])}, got {arch!r}")
    if arch == "fcn32s" and not load_pretrained and arguments.get("weights") is not None:
        weights = arguments.pop("weights")
        model = FCN32s(**arguments)
        model.config["weights"] = weights
        return model
    return ARCHITECTURES[arch](**arguments)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad when trainable_only)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _input_channels(model: nn.Module) -> int:
    """Channels of the model's input: from config, else the first convolution."""
    config = getattr(model, "config", {})
    if "in_channels" in config:
        return config["in_channels"]
    if config.get("arch") == "fcn32s":
        return 3
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return first_conv.in_channels


@torch.no_grad()
def activation_memory(model: nn.Module, input_size: tuple[int, int], batch_size: int = 1,
                      device: str | torch.device = "cpu") -> int:
    """Bytes of the activations one forward pass produces, for a batch of images of input_size = (H, W).

    Measured with forward hooks on every leaf module, summing the sizes of their outputs
    (what training keeps for the backward pass, roughly). In-place modules (ReLU(inplace=True))
    reuse their input's memory and are not counted; functional steps (padding, concatenation,
    interpolation) and the input itself are not counted either. Parameters are not included.
    The model runs in eval mode and is returned to its mode and device afterwards.
    """
    height, width = input_size
    total = 0

    def add_output(module: nn.Module, inputs, output) -> None:
        nonlocal total
        if getattr(module, "inplace", False):
            return
        outputs = output if isinstance(output, (tuple, list)) else [output]
        total += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, torch.Tensor))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(add_output) for m in leaves]
    first_parameter = next(model.parameters(), None)
    original_device = first_parameter.device if first_parameter is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.to(device).eval()
        model(torch.zeros(batch_size, _input_channels(model), height, width, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.to(original_device).train(was_training)
    return total


def receptive_field_table(model: nn.Module) -> list[dict]:
    """Layer-by-layer theoretical receptive field along the model's deepest path.

    Walks the convolution, pooling and up-sampling layers in registration order (for UNet and
    FCN32s this is the order of the deepest path; ResNet "downsample" shortcuts are skipped):
    a layer with kernel k and stride s grows the field by (k - 1)·jump and multiplies the jump
    (the input-pixel spacing of neighbouring features) by s. Up-sampling by s divides the jump by
    s and grows the field by (n - 1)·jump, n being how many input pixels one output pixel mixes
    (1 for a 2×2 stride-2 transposed conv, 2 for bilinear). FCN32s's final F.interpolate is not a
    layer and is not counted. Rows: dicts with layer, kind, kernel, stride, jump, receptive_field.
    """
    rows = []
    field, jump = 1.0, 1.0
    for name, module in model.named_modules():
        if "downsample" in name.split("."):
            continue
        if isinstance(module, nn.ConvTranspose2d):
            kernel, stride = module.kernel_size[0], module.stride[0]
            field += (math.ceil(kernel / stride) - 1) * jump
            jump /= stride
        elif isinstance(module, nn.Upsample):
            scale = int(module.scale_factor if not isinstance(module.scale_factor, tuple)
                        else module.scale_factor[0])
            kernel, stride = (1 if module.mode == "nearest" else 2), scale
            field += (kernel - 1) * jump
            jump /= scale
        elif isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
            kernel, stride, dilation = (_first(module.kernel_size), _first(module.stride),
                                        _first(module.dilation))
            field += (kernel - 1) * dilation * jump
            jump *= stride
        else:
            continue
        rows.append({"layer": name, "kind": type(module).__name__, "kernel": kernel, "stride": stride,
                     "jump": jump, "receptive_field": int(round(field))})
    return rows


def receptive_field(model: nn.Module) -> int:
    """Theoretical receptive field (pixels per side) of one output pixel; see `receptive_field_table`."""
    rows = receptive_field_table(model)
    return rows[-1]["receptive_field"] if rows else 1


def _first(value: int | tuple) -> int:
    """First element of a PyTorch size argument that may be an int or a tuple."""
    return value[0] if isinstance(value, tuple) else value


# ---------------------------------------------------------------------------------------------
# A per-pixel colour classifier: the baseline without spatial context


class PixelClassifier(nn.Module):
    """Classifies every pixel from its own colour only: an MLP applied per pixel as 1×1 convolutions.

    `layers` hidden layers of `hidden` units (1×1 conv → BatchNorm → ReLU), then a 1×1 conv to
    one logit per class. Its receptive field is one pixel: it cannot see neighbours, shapes or
    position, so comparing it with a U-Net on the same data shows what spatial context adds.
    It trains with the same API as the U-Net (`fit`, `evaluate`, `predict`, `build_model`).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 9, hidden: int = 32, layers: int = 2):
        super().__init__()
        if min(in_channels, num_classes, hidden) < 1 or layers < 0:
            raise ValueError("in_channels, num_classes and hidden must be at least 1, layers at least 0")
        self.config = {"arch": "pixel", "in_channels": in_channels, "num_classes": num_classes,
                       "hidden": hidden, "layers": layers}
        blocks: list[nn.Module] = []
        width = in_channels
        for _ in range(layers):
            blocks += [nn.Conv2d(width, hidden, kernel_size=1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU(inplace=True)]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


ARCHITECTURES["pixel"] = PixelClassifier
