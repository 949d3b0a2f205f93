"""OpenAI's DALL-E discrete VAE (the BEiT v1 tokenizer): encoder, decoder, and the tokenizer.

The modules follow the DALL-E release so that its weights load by name: every convolution is
a :class:`DALLEConv2d` with parameters ``w`` (out, in, k, k) and ``b`` (out,), 'same' padding;
state-dict keys are ``blocks.input.w``, ``blocks.group_{g}.block_{i}.id_path.w`` (only where
the width changes), ``blocks.group_{g}.block_{i}.res_path.conv_{1..4}.w``,
``blocks.output.conv.w`` (and ``.b``). Group count, widths, blocks per group and vocabulary are
arguments, so a tiny dVAE trains on CPU with the same code.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmbeit.registry import MODELS
from mmbeit.utils import load_state_dict_report

from ..losses import LOGIT_LAPLACE_EPS, map_pixels, unmap_pixels
from .dalle_layouts import load_dalle_checkpoint

INPUT_RANGES = ('unit', 'mapped', 'byte')


class DALLEConv2d(nn.Module):
    """Conv2d with DALL-E's parameter names ``w`` / ``b``, stride 1 and 'same' padding.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): odd kernel side.
        fp32 (bool): always compute in fp32, also under autocast (the release keeps the
            encoder's logit conv and the decoder's vocabulary conv out of fp16). Defaults to False.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 fp32: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.kernel_size = kernel_size
        self.fp32 = fp32
        fan_in = in_channels * kernel_size ** 2
        self.w = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size) / math.sqrt(fan_in))
        self.b = nn.Parameter(torch.zeros(out_channels))

    def cast_for_autocast(self, dtype: torch.dtype) -> None:
        """What autocast casts at each call, cast once (:class:`AutocastWeights`)."""
        if not self.fp32:
            self.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.kernel_size - 1) // 2
        if not self.fp32:
            return F.conv2d(x, self.w, self.b, padding=pad)
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(x.to(self.w.dtype), self.w, self.b, padding=pad)


def _fp32_or_wider(t: torch.Tensor) -> torch.Tensor:
    """``t`` in fp32, or as it is when already fp64 (the parity tests run in fp64)."""
    return t if t.dtype == torch.float64 else t.float()


class DALLEResBlock(nn.Module):
    """Bottleneck residual block: ``id_path(x) + res_path(x) / n_layers**2``.

    ``res_path`` is relu-conv x4 with ``out_channels // 4`` hidden channels; the encoder uses
    kernels (3, 3, 3, 1), the decoder (1, 3, 3, 3). ``id_path`` is a 1x1 conv where the width
    changes, else the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, n_layers: int,
                 kernel_sizes: Sequence[int]) -> None:
        super().__init__()
        if out_channels % 4:
            raise ValueError(f'out_channels must be a multiple of 4, got {out_channels}')
        hidden = out_channels // 4
        self.post_gain = 1.0 / n_layers ** 2
        self.id_path = (DALLEConv2d(in_channels, out_channels, 1)
                        if in_channels != out_channels else nn.Identity())
        widths = [in_channels, hidden, hidden, hidden, out_channels]
        layers = []
        for i, k in enumerate(kernel_sizes):
            layers += [(f'relu_{i + 1}', nn.ReLU()),
                       (f'conv_{i + 1}', DALLEConv2d(widths[i], widths[i + 1], k))]
        self.res_path = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.id_path(x) + self.post_gain * self.res_path(x)


class DALLEEncoder(nn.Module):
    """DALL-E dVAE encoder: image -> per-cell logits over the vocabulary.

    7x7 input conv to ``n_hid``; ``group_count`` groups of ``n_blk_per_group`` blocks of width
    ``2**g * n_hid`` (g = 0 ..), a 2x2 max-pool after every group but the last; relu + 1x1 conv to
    ``num_tokens`` logits. Downsampling factor ``2**(group_count - 1)`` (8 for the release).

    Args:
        group_count (int): Defaults to 4.
        n_hid (int): width of the first group. Defaults to 256.
        n_blk_per_group (int): Defaults to 2.
        in_channels (int): Defaults to 3.
        num_tokens (int): vocabulary size. Defaults to 8192.

    Shapes: (B, 3, H, W) mapped pixels -> (B, num_tokens, H/f, W/f) logits.
    """

    def __init__(self, group_count: int = 4, n_hid: int = 256, n_blk_per_group: int = 2,
                 in_channels: int = 3, num_tokens: int = 8192) -> None:
        super().__init__()
        n_layers = group_count * n_blk_per_group
        blocks = [('input', DALLEConv2d(in_channels, n_hid, 7))]
        width = n_hid
        for g in range(group_count):
            out = 2 ** g * n_hid
            group = [(f'block_{i + 1}', DALLEResBlock(width if i == 0 else out, out, n_layers,
                                                      (3, 3, 3, 1)))
                     for i in range(n_blk_per_group)]
            if g < group_count - 1:
                group.append(('pool', nn.MaxPool2d(kernel_size=2)))
            blocks.append((f'group_{g + 1}', nn.Sequential(OrderedDict(group))))
            width = out
        blocks.append(('output', nn.Sequential(OrderedDict([
            ('relu', nn.ReLU()), ('conv', DALLEConv2d(width, num_tokens, 1, fp32=True))]))))
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.group_count = group_count
        self.downsample = 2 ** (group_count - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class DALLEDecoder(nn.Module):
    """DALL-E dVAE decoder: (soft) one-hot codes -> logit-Laplace statistics per pixel.

    1x1 input conv from ``num_tokens`` to ``n_init``; ``group_count`` groups of width
    ``2**(group_count - 1 - g) * n_hid``, a 2x nearest upsampling after every group but the last;
    relu + 1x1 conv to ``2 * out_channels``: ``mu`` (channels [:C]) and ``ln b`` ([C:]).

    Args:
        group_count (int): Defaults to 4.
        n_init (int): width after the input conv. Defaults to 128.
        n_hid (int): width of the last group. Defaults to 256.
        n_blk_per_group (int): Defaults to 2.
        out_channels (int): image channels C. Defaults to 3.
        num_tokens (int): vocabulary size. Defaults to 8192.

    Shapes: (B, num_tokens, h, w) -> (B, 2C, h*f, w*f).
    """

    def __init__(self, group_count: int = 4, n_init: int = 128, n_hid: int = 256,
                 n_blk_per_group: int = 2, out_channels: int = 3,
                 num_tokens: int = 8192) -> None:
        super().__init__()
        n_layers = group_count * n_blk_per_group
        blocks = [('input', DALLEConv2d(num_tokens, n_init, 1, fp32=True))]
        width = n_init
        for g in range(group_count):
            out = 2 ** (group_count - 1 - g) * n_hid
            group = [(f'block_{i + 1}', DALLEResBlock(width if i == 0 else out, out, n_layers,
                                                      (1, 3, 3, 3)))
                     for i in range(n_blk_per_group)]
            if g < group_count - 1:
                group.append(('upsample', nn.Upsample(scale_factor=2, mode='nearest')))
            blocks.append((f'group_{g + 1}', nn.Sequential(OrderedDict(group))))
            width = out
        blocks.append(('output', nn.Sequential(OrderedDict([
            ('relu', nn.ReLU()), ('conv', DALLEConv2d(width, 2 * out_channels, 1))]))))
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.num_tokens = num_tokens
        self.out_channels = out_channels

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.blocks(codes)

    def forward_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Hard ids (B, h, w) -> statistics, gathering the input conv's columns (no one-hot)."""
        conv = self.blocks.input
        weight = conv.w.flatten(1)  # (n_init, V)
        x = weight.t()[ids] + conv.b  # (B, h, w, n_init)
        x = x.permute(0, 3, 1, 2).contiguous()
        for name, module in self.blocks.named_children():
            if name != 'input':
                x = module(x)
        return x


@MODELS.register_module()
class DALLEdVAE(BaseModule):
    """DALL-E dVAE tokenizer (BEiT v1 targets), loadable from the release and trainable.

    ``tokenize`` maps pixels to [eps, 1 - eps], runs the encoder and takes the argmax over the
    vocabulary per ``downsample`` x ``downsample`` cell. BEiT v1 feeds it the second view,
    resized (lanczos) to 112 px for a 224 px view, which gives the 14 x 14 grid of ViT-B/16.

    Args:
        encoder (dict): :class:`DALLEEncoder` arguments. Defaults to the release (n_hid 256).
        decoder (dict, optional): :class:`DALLEDecoder` arguments; ``num_tokens`` and
            ``group_count`` default to the encoder's. Defaults to None (the release decoder).
        with_decoder (bool): build the decoder (needed by ``decode`` and training); False for a
            tokenize-only model (half the weights). Defaults to True.
        checkpoint (str, optional): local file holding the encoder (any layout that
            :func:`~mmbeit.models.tokenizers.dalle_layouts.extract_dalle_state_dict` reads: the
            release state dict, mmpretrain's ``encoder.`` prefix, a BEiT / DVAE training
            checkpoint).
        decoder_checkpoint (str, optional): local file holding the decoder; defaults to
            ``checkpoint`` when that file also holds a decoder, else the decoder stays random.
        input_range (str): what ``tokenize`` / ``encode_logits`` receive: 'unit' = RGB in
            [0, 1] (data preprocessor mean 0, std 255); 'byte' = [0, 255]; 'mapped' = already
            mapped to [eps, 1 - eps] (mmpretrain's BEiT preprocessor, second_mean -31.875,
            second_std 318.75). Defaults to 'unit'.
        eps (float): logit-Laplace epsilon. Defaults to 0.1.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads like
            ``checkpoint`` (any layout above), when MMEngine calls ``init_weights``.
    """

    def __init__(self, encoder: Optional[dict] = None, decoder: Optional[dict] = None,
                 with_decoder: bool = True, checkpoint: Optional[str] = None,
                 decoder_checkpoint: Optional[str] = None,
                 input_range: str = 'unit', eps: float = LOGIT_LAPLACE_EPS,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if input_range not in INPUT_RANGES:
            raise ValueError(f'input_range must be one of {INPUT_RANGES}, got {input_range!r}')
        self.input_range = input_range
        self.eps = eps
        self.encoder = DALLEEncoder(**(encoder or {}))
        self.num_tokens = self.encoder.blocks.output.conv.w.shape[0]
        self.downsample = self.encoder.downsample
        self.decoder = None
        if with_decoder:
            cfg = dict(num_tokens=self.num_tokens, group_count=self.encoder.group_count)
            cfg.update(decoder or {})
            self.decoder = DALLEDecoder(**cfg)
            if self.decoder.num_tokens != self.num_tokens:
                raise ValueError(f'decoder num_tokens={self.decoder.num_tokens} but the encoder '
                                 f'has {self.num_tokens}')
        if checkpoint is not None:
            self.load_part(checkpoint, 'encoder', missing_ok=False)
        if self.decoder is not None and (decoder_checkpoint or checkpoint) is not None:
            self.load_part(decoder_checkpoint or checkpoint, 'decoder',
                           missing_ok=decoder_checkpoint is None)

    def init_weights(self) -> None:
        """Load ``init_cfg=dict(type='Pretrained', checkpoint=...)`` with layout detection."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_part(cfg['checkpoint'], 'encoder')
            if self.decoder is not None:
                self.load_part(cfg['checkpoint'], 'decoder', missing_ok=True)
            self._is_init = True
            return
        super().init_weights()

    def load_part(self, path: str, part: str = 'encoder', missing_ok: bool = False) -> str:
        """Load the encoder or decoder from a file; return the detected key prefix."""
        try:
            state_dict, prefix = load_dalle_checkpoint(path, part)
        except KeyError:
            if missing_ok:
                return ''
            raise
        load_state_dict_report(getattr(self, part), state_dict,
                               source=f'{path} ({part}, prefix {prefix!r})')
        return prefix

    def map_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """Images in ``input_range`` -> mapped pixels in [eps, 1 - eps], fp32 (or fp64)."""
        images = _fp32_or_wider(images)
        if self.input_range == 'mapped':
            return images
        if self.input_range == 'byte':
            images = images / 255.0
        return map_pixels(images, self.eps)

    def _check_images(self, images: torch.Tensor) -> None:
        f = self.downsample
        if images.ndim != 4 or images.shape[-1] % f or images.shape[-2] % f:
            raise ValueError(f'expected images (B, C, H, W) with H, W multiples of {f}, got '
                             f'{tuple(images.shape)}')

    def encode_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in ``input_range`` -> (B, V, H/f, W/f) fp32 logits."""
        self._check_images(images)
        return _fp32_or_wider(self.encoder(self.map_inputs(images)))

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in ``input_range`` -> LongTensor (B, H/f, W/f) token ids."""
        return self.encode_logits(images).argmax(dim=1)

    def decode_stats(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, V, h, w) soft / one-hot codes, or (B, h, w) ids -> (B, 2C, H, W) statistics."""
        if self.decoder is None:
            raise RuntimeError('this DALLEdVAE was built with decoder=None')
        if codes.ndim == 3:
            if codes.min() < 0 or codes.max() >= self.num_tokens:
                raise ValueError(f'token ids must be in [0, {self.num_tokens})')
            return self.decoder.forward_ids(codes)
        return self.decoder(codes)

    def stats_to_pixels(self, stats: torch.Tensor) -> torch.Tensor:
        """(B, 2C, H, W) statistics -> (B, C, H, W) images in [0, 1] (the location ``mu``)."""
        mu = _fp32_or_wider(stats[:, :self.decoder.out_channels])
        return unmap_pixels(torch.sigmoid(mu), self.eps)

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, h, w) token ids -> (B, 3, h*f, w*f) images in [0, 1], to look at tokens."""
        return self.stats_to_pixels(self.decode_stats(ids))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokenize(images)
