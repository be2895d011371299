"""PP-OCRv3 text recogniser in torch, as AnyText uses it (``text_predictor.*`` in the official checkpoint).

The network is PaddleOCR's ``SVTR_LCNet`` recogniser: a MobileNetV1-enhance backbone (scale 0.5,
hard-swish, squeeze-excitation in the last two blocks), an SVTR sequence neck (two global
self-attention blocks between convolutions) and a CTC head. AnyText feeds each glyph line
(the text rendered flat on an 80x512 canvas) through it and uses the neck output (40 time steps
x 64 features) as the line's text embedding; the CTC logits read the text back.

Module and attribute names follow the official code, so a checkpoint converts by dropping the
``text_predictor.`` prefix (`convert_recognizer_state_dict`); the batch-norm running statistics are
part of the checkpoint. `prepare_ocr_input` reproduces the official pre-processing (glyph line x 255,
then the recogniser's resize-and-normalise onto a 3x48x320 canvas).

Reading text from image crops with this network (character dictionary, CTC decoding, the reader)
is `wenchuang.ocr.anytext_reader`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from wenchuang.checkpoints import load_checked
from wenchuang.errors import ModelError

__all__ = [
    "AnyTextRecognizer",
    "convert_recognizer_state_dict",
    "prepare_ocr_input",
    "recognizer_config_from_state_dict",
]

OFFICIAL_PREFIX = "text_predictor."
REC_IMAGE_SHAPE = (3, 48, 320)  # official rec_image_shape "3, 48, 320"


# --------------------------------------------------------------------------- backbone
class _ConvBNHardSwish(nn.Module):
    """Conv (no bias) -> BatchNorm -> hard-swish (official ``ConvBNLayer`` of the backbone)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride, padding: int, groups: int = 1):
        super().__init__()
        self._conv = nn.Conv2d(
            in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, bias=False
        )
        self._batch_norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardswish(self._batch_norm(self._conv(x)))


class _SqueezeExcite(nn.Module):
    """Channel attention: global average -> 1x1 conv -> ReLU -> 1x1 conv -> hard-sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.relu(self.conv1(F.adaptive_avg_pool2d(x, 1)))
        gate = F.relu6(self.conv2(gate) + 3.0) / 6.0
        return x * gate


class _DepthwiseSeparable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride, kernel: int = 3, use_se: bool = False):
        super().__init__()
        self._depthwise_conv = _ConvBNHardSwish(in_ch, in_ch, kernel, stride, kernel // 2, groups=in_ch)
        self.use_se = use_se
        if use_se:
            self._se = _SqueezeExcite(in_ch)
        self._pointwise_conv = _ConvBNHardSwish(in_ch, out_ch, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._depthwise_conv(x)
        if self.use_se:
            x = self._se(x)
        return self._pointwise_conv(x)


# (input width, output width, stride, kernel, squeeze-excite) at scale 1.0
_BACKBONE_BLOCKS = (
    (32, 64, 1, 3, False),
    (64, 128, 1, 3, False),
    (128, 128, 1, 3, False),
    (128, 256, (2, 1), 3, False),
    (256, 256, 1, 3, False),
    (256, 512, (2, 1), 3, False),
    *[(512, 512, 1, 5, False)] * 5,
    (512, 1024, (2, 1), 5, True),
    (1024, 1024, "last", 5, True),
)


class _MobileNetV1Enhance(nn.Module):
    def __init__(self, in_channels: int, scale: float, last_conv_stride: Sequence[int]):
        super().__init__()
        self.conv1 = _ConvBNHardSwish(in_channels, int(32 * scale), 3, 2, 1)
        blocks = []
        for c_in, c_out, stride, kernel, use_se in _BACKBONE_BLOCKS:
            if stride == "last":
                stride = tuple(last_conv_stride)
            blocks.append(_DepthwiseSeparable(int(c_in * scale), int(c_out * scale), stride, kernel, use_se))
        self.block_list = nn.Sequential(*blocks)
        self.out_channels = int(1024 * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block_list(self.conv1(x))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


# --------------------------------------------------------------------------- SVTR neck
class _ConvBNSwish(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.conv(x)))


class _GlobalAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.silu(self.fc1(x)))


class _SVTRBlock(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-5, swish MLP)."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.mixer = _GlobalAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = _Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _SVTREncoder(nn.Module):
    def __init__(
        self, in_channels: int, dims: int, depth: int, hidden_dims: int, num_heads: int, mlp_ratio: float
    ):
        super().__init__()
        self.conv1 = _ConvBNSwish(in_channels, in_channels // 8, 3)
        self.conv2 = _ConvBNSwish(in_channels // 8, hidden_dims, 1)
        self.svtr_block = nn.ModuleList(
            [_SVTRBlock(hidden_dims, num_heads, int(hidden_dims * mlp_ratio)) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(hidden_dims, eps=1e-6)
        self.conv3 = _ConvBNSwish(hidden_dims, in_channels, 1)
        self.conv4 = _ConvBNSwish(2 * in_channels, in_channels // 8, 3)
        self.conv1x1 = _ConvBNSwish(in_channels // 8, dims, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        z = self.conv2(self.conv1(x))
        b, c, h, w = z.shape
        z = z.flatten(2).transpose(1, 2)
        for block in self.svtr_block:
            z = block(z)
        z = self.norm(z).reshape(b, h, w, c).permute(0, 3, 1, 2)
        z = torch.cat([shortcut, self.conv3(z)], dim=1)
        return self.conv1x1(self.conv4(z))


class _SequenceNeck(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.encoder = _SVTREncoder(**kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encoder(x)  # (B, C, 1, T)
        return x.flatten(2).transpose(1, 2)  # (B, T, C)


class _CTCHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


# --------------------------------------------------------------------------- the model
class AnyTextRecognizer(ModelMixin, ConfigMixin):
    """PP-OCRv3 recognition network (MobileNetV1Enhance + SVTR neck + CTC head).

    ``forward(images)`` takes the normalised batch of `prepare_ocr_input` (N, 3, 48, 320) and returns
    ``(neck, logits)``: the ``ctc_neck`` features (N, 40, neck_dims) that AnyText projects into its
    text embedding, and the CTC logits (N, 40, num_classes). The official weights run in eval mode
    (batch-norm statistics from the checkpoint); `from_official` builds and loads in one step.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        scale: float = 0.5,
        last_conv_stride: tuple[int, int] = (1, 2),
        neck_dims: int = 64,
        neck_depth: int = 2,
        neck_hidden_dims: int = 120,
        neck_num_heads: int = 8,
        neck_mlp_ratio: float = 2.0,
        num_classes: int = 6625,
        image_height: int = REC_IMAGE_SHAPE[1],
        image_width: int = REC_IMAGE_SHAPE[2],
    ):
        super().__init__()
        self.backbone = _MobileNetV1Enhance(in_channels, scale, last_conv_stride)
        self.neck = _SequenceNeck(
            in_channels=self.backbone.out_channels,
            dims=neck_dims,
            depth=neck_depth,
            hidden_dims=neck_hidden_dims,
            num_heads=neck_num_heads,
            mlp_ratio=neck_mlp_ratio,
        )
        self.head = _CTCHead(neck_dims, num_classes)
        self.eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.backbone.conv1._conv.weight.dtype)
        features = self.neck(self.backbone(images))
        return features, self.head(features)

    @classmethod
    def from_official(cls, official_state_dict: Mapping[str, torch.Tensor]) -> AnyTextRecognizer:
        """Build the recogniser from a checkpoint (``text_predictor.*`` keys or a bare ppv3_rec state dict)."""
        state = convert_recognizer_state_dict(official_state_dict)
        model = cls(**recognizer_config_from_state_dict(state))
        load_checked(model, state, "OCR recogniser weights")
        return model.eval()


# --------------------------------------------------------------------------- conversion
def convert_recognizer_state_dict(official_state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of `AnyTextRecognizer` from an AnyText checkpoint (``text_predictor.*``) or a bare PP-OCR one.

    The tensors are returned as they are (dtype untouched); other checkpoint parts are ignored.
    """
    if any(key.startswith(OFFICIAL_PREFIX) for key in official_state_dict):
        state = {
            key[len(OFFICIAL_PREFIX) :]: value
            for key, value in official_state_dict.items()
            if key.startswith(OFFICIAL_PREFIX)
        }
    else:
        state = {
            key: value
            for key, value in official_state_dict.items()
            if key.split(".")[0] in ("backbone", "neck", "head")
        }
    if not state:
        raise ModelError("no OCR recogniser weights (text_predictor.*) in the checkpoint")
    return state


def recognizer_config_from_state_dict(state: Mapping[str, torch.Tensor]) -> dict:
    """`AnyTextRecognizer` config read from the weight shapes (converted keys)."""
    try:
        in_channels = int(state["backbone.conv1._conv.weight"].shape[1])
        scale = int(state["backbone.conv1._conv.weight"].shape[0]) / 32
        hidden = int(state["neck.encoder.conv2.conv.weight"].shape[0])
        depth = len({k.split(".")[3] for k in state if k.startswith("neck.encoder.svtr_block.")})
        mlp_hidden = int(state["neck.encoder.svtr_block.0.mlp.fc1.weight"].shape[0])
        num_classes, neck_dims = (int(n) for n in state["head.fc.weight"].shape)
    except KeyError as exc:
        raise ModelError(f"OCR recogniser weights lack {exc.args[0]}") from None
    return {
        "in_channels": in_channels,
        "scale": scale,
        "neck_dims": neck_dims,
        "neck_depth": depth,
        "neck_hidden_dims": hidden,
        "neck_mlp_ratio": mlp_hidden / hidden,
        "num_classes": num_classes,
    }


# --------------------------------------------------------------------------- pre-processing
def _resize_norm(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Official ``resize_norm_img``: keep the aspect ratio, scale to 0-1 then -1..1, pad right with 0."""
    channels, h, w = image.shape
    max_wh_ratio = width / height
    target_w = int(height * max_wh_ratio)
    resized_w = min(target_w, int(math.ceil(height * (w / float(h)))))
    resized = F.interpolate(image[None], size=(height, resized_w), mode="bilinear", align_corners=True)
    resized = (resized / 255.0 - 0.5) / 0.5
    canvas = torch.zeros((channels, height, target_w), dtype=torch.float32, device=image.device)
    canvas[:, :, :resized_w] = resized[0]
    return canvas


def prepare_ocr_input(
    gly_lines: torch.Tensor | Sequence[torch.Tensor],
    image_height: int = REC_IMAGE_SHAPE[1],
    image_width: int = REC_IMAGE_SHAPE[2],
) -> torch.Tensor:
    """Recogniser input from glyph lines, exactly as AnyText's embedding manager prepares it.

    ``gly_lines``: (N, 1, H, W) or a list of (1, H, W) / (1, 1, H, W) tensors with values in [0, 1]
    (the official 80x512 glyph lines). Each becomes a 3-channel 0-255 image; a line taller than
    1.2x its width is turned a quarter (as the official recogniser does); it is then resized to the
    model height keeping its aspect ratio, normalised to [-1, 1] and padded to (3, 48, 320) float32.
    """
    lines = list(gly_lines) if not isinstance(gly_lines, torch.Tensor) else list(gly_lines.unbind(0))
    if not lines:
        raise ValueError("prepare_ocr_input needs at least one glyph line")
    batch = []
    for line in lines:
        line = line.float()
        while line.dim() > 3:
            line = line[0]
        if line.dim() == 2:
            line = line[None]
        image = line.expand(3, -1, -1) * 255.0 if line.shape[0] == 1 else line * 255.0
        h, w = image.shape[1:]
        if h > w * 1.2:
            image = image.transpose(1, 2).flip(dims=[1])
        batch.append(_resize_norm(image, image_height, image_width))
    return torch.stack(batch, dim=0)
