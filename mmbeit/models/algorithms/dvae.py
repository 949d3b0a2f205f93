"""Training the DALL-E discrete VAE: gumbel-softmax relaxation, annealed temperature and KL.

One step (DALL-E paper, appendix A): logits = encoder(mapped pixels); soft codes =
gumbel-softmax(logits / tau); decoder(soft codes) -> logit-Laplace statistics;
loss = NLL(pixels) + beta * KL(q(z | x) || uniform). tau is annealed from 1 to 1/16 and beta
raised from 0 to 6.6, both as functions of the iteration, so a resumed run continues the
schedules where it stopped.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import nn

from mmbeit.registry import MODELS

from ..losses import kl_to_uniform, logit_laplace_nll, unmap_pixels
from .token_samples import token_data_samples

ANNEAL_MODES = ('cosine', 'linear', 'exp')
# DALL-E paper, appendix A.2 (cosine schedules): tau 1 -> 1/16 over the first 150k updates,
# beta 0 -> 6.6 over the first 5k updates
DEFAULT_TEMPERATURE = dict(start=1.0, end=1 / 16, total_iters=150000, mode='cosine')
DEFAULT_KL_WEIGHT = dict(start=0.0, end=6.6, total_iters=5000, mode='cosine')


class AnnealSchedule:
    """A value moved from ``start`` to ``end`` over ``total_iters`` iterations, then held.

    With progress ``t = min(iteration / total_iters, 1)``:

    - 'cosine': ``start + (end - start) * (1 - cos(pi t)) / 2``
    - 'linear': ``start + (end - start) * t``
    - 'exp': ``start * (end / start) ** t`` (geometric; start and end must be > 0)

    Args:
        start (float): value at iteration 0.
        end (float): value from ``total_iters`` on.
        total_iters (int): length of the annealing (>= 1).
        mode (str): 'cosine', 'linear' or 'exp'. Defaults to 'cosine'.
    """

    def __init__(self, start: float, end: float, total_iters: int, mode: str = 'cosine') -> None:
        if mode not in ANNEAL_MODES:
            raise ValueError(f'mode must be one of {ANNEAL_MODES}, got {mode!r}')
        if total_iters < 1:
            raise ValueError(f'total_iters must be >= 1, got {total_iters}')
        if mode == 'exp' and (start <= 0 or end <= 0):
            raise ValueError(f"mode 'exp' needs start, end > 0, got {start}, {end}")
        self.start, self.end, self.total_iters, self.mode = start, end, total_iters, mode

    def __call__(self, iteration: int) -> float:
        t = min(max(iteration, 0) / self.total_iters, 1.0)
        if self.mode == 'cosine':
            return self.start + (self.end - self.start) * (1 - math.cos(math.pi * t)) / 2
        if self.mode == 'linear':
            return self.start + (self.end - self.start) * t
        return self.start * (self.end / self.start) ** t

    def __repr__(self) -> str:
        return (f'AnnealSchedule({self.start} -> {self.end} over {self.total_iters} iters, '
                f'{self.mode})')


@MODELS.register_module()
class DVAE(BaseModel):
    """Trains a :class:`DALLEdVAE` (encoder + decoder) as in the DALL-E paper.

    Losses are in nats per image dimension (pixel x channel): ``loss_rec`` = mean
    logit-Laplace NLL; ``loss_kl`` = beta * (KL summed over the h x w cells) / (C H W). This is
    the paper's per-image ELB divided by C H W, so beta keeps the paper's meaning (6.6).

    The iteration for the schedules is the runner's (``MessageHub`` info 'iter', restored on
    resume); outside a runner a persistent ``num_updates`` buffer counts the training steps.

    Args:
        tokenizer (dict): a ``DALLEdVAE`` with a decoder; its ``input_range`` must match the
            data preprocessor (default 'unit' with mean 0, std 255).
        temperature (dict, optional): :class:`AnnealSchedule` arguments for the gumbel-softmax
            temperature, merged over the default: cosine 1 -> 1/16 over 150000 iterations.
        kl_weight (dict, optional): :class:`AnnealSchedule` arguments for beta, merged over the
            default: cosine 0 -> 6.6 over 5000 iterations.
        hard (bool): straight-through hard codes in the forward pass instead of the soft
            relaxation (the paper relaxes in both passes). Defaults to False.
        data_preprocessor (dict, optional): Defaults to ``ClsDataPreprocessor`` with mean 0,
            std 255 (RGB in [0, 1]).
        init_cfg (dict, optional): MMEngine init config.

    Inputs: ``inputs`` (B, 3, H, W), H and W multiples of the tokenizer's ``downsample``.
    Returns (loss mode): ``loss_rec``, ``loss_kl``, ``kl`` (mean nats per cell),
    ``temperature``, ``kl_weight``, ``rec_mse`` (of the decoded mean, in [0, 1] pixels).
    """

    def __init__(self, tokenizer: dict,
                 temperature: Optional[dict] = None,
                 kl_weight: Optional[dict] = None,
                 hard: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClsDataPreprocessor', mean=[0.0, 0.0, 0.0],
                                     std=[255.0, 255.0, 255.0], to_rgb=True)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.tokenizer = MODELS.build(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        if getattr(self.tokenizer, 'decoder', None) is None:
            raise ValueError('DVAE needs a tokenizer with a decoder (with_decoder=True)')
        self.temperature = AnnealSchedule(**{**DEFAULT_TEMPERATURE, **(temperature or {})})
        self.kl_weight = AnnealSchedule(**{**DEFAULT_KL_WEIGHT, **(kl_weight or {})})
        self.hard = hard
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    def current_iter(self) -> int:
        """The runner's iteration when there is one, else the local step counter."""
        it = MessageHub.get_current_instance().get_info('iter')
        return int(it) if it is not None else int(self.num_updates)

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.reconstruct(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'invalid mode "{mode}"; use loss, tensor or predict')

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, 3, H, W) decoded argmax tokens, in [0, 1]."""
        return self.tokenizer.decode(self.tokenizer.tokenize(images))

    @torch.no_grad()
    def predict(self, images: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Token ids (h, w) per image as ``pred_tokens``."""
        return token_data_samples(self.tokenizer.tokenize(images), data_samples)

    def loss(self, images: torch.Tensor, data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        it = self.current_iter()
        if self.training:
            self.num_updates.fill_(it + 1)
        tau, beta = self.temperature(it), self.kl_weight(it)
        tok = self.tokenizer
        target = tok.map_inputs(images)  # (B, 3, H, W) in [eps, 1 - eps]
        logits = tok.encode_logits(images)  # (B, V, h, w) fp32
        codes = F.gumbel_softmax(logits, tau=tau, hard=self.hard, dim=1)
        stats = tok.decode_stats(codes)  # (B, 2C, H, W)
        c = tok.decoder.out_channels
        if stats.shape[-2:] != target.shape[-2:]:
            raise ValueError(f'decoder output {tuple(stats.shape[-2:])} != image '
                             f'{tuple(target.shape[-2:])}: encoder and decoder group_count '
                             'must agree')
        loss_rec = logit_laplace_nll(target, stats[:, :c], stats[:, c:])
        kl = kl_to_uniform(logits)  # (B, h, w)
        dims_per_image = target[0].numel()
        loss_kl = beta * kl.flatten(1).sum(1).mean() / dims_per_image
        with torch.no_grad():
            rec = tok.stats_to_pixels(stats.detach())
            rec_mse = F.mse_loss(rec, unmap_pixels(target, tok.eps))
        device = logits.device
        return dict(loss_rec=loss_rec, loss_kl=loss_kl, kl=kl.mean().detach(),
                    temperature=torch.tensor(tau, device=device),
                    kl_weight=torch.tensor(beta, device=device), rec_mse=rec_mse)
