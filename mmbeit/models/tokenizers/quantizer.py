"""Normalised EMA vector quantizer of VQ-KD, with rank-consistent k-means init and restarts.

Codes and encoder outputs live on the unit sphere; the nearest code is the one of largest
cosine similarity. Everything here runs in fp32, also under autocast. Cross-rank state is
explicit: cluster counts and sums are all-reduced before the EMA step, and the k-means init and
every dead-code restart are computed on rank 0 and broadcast, so all ranks hold one codebook.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import nn

from mmbeit.utils.distributed import all_reduce_sum, broadcast_, gather_rows, get_rank

# buffers that hold training statistics only; checkpoints of other layouts do not have them
STAT_BUFFERS = ('usage_counts', 'last_used', 'num_updates', 'num_restarts')


class QuantizerOutput(NamedTuple):
    """``quantized`` (..., D) straight-through codes, ``ids`` (...) long, ``loss_commit`` ()
    and ``loss_entropy`` () (None when ``entropy_weight`` is 0)."""

    quantized: torch.Tensor
    ids: torch.Tensor
    loss_commit: torch.Tensor
    loss_entropy: Optional[torch.Tensor] = None


def sample_rows(x: torch.Tensor, num: int, generator: Optional[torch.Generator] = None
                ) -> torch.Tensor:
    """``num`` rows of (n, D) ``x``: without replacement when n >= num, else with."""
    n = x.shape[0]
    if n >= num:
        index = torch.randperm(n, generator=generator, device='cpu')[:num]
    else:
        index = torch.randint(0, n, (num,), generator=generator, device='cpu')
    return x[index.to(x.device)]


def nearest_code(z: torch.Tensor, codebook: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the largest-cosine code for each unit row of (n, D) ``z``: (n,) long."""
    if z.shape[0] <= chunk:
        return (z @ codebook.t()).argmax(dim=1)
    return torch.cat([(part @ codebook.t()).argmax(dim=1) for part in z.split(chunk)])


@torch.no_grad()
def kmeans_cosine(samples: torch.Tensor, num_clusters: int, num_iters: int = 10,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Spherical k-means: (n, D) unit rows -> (K, D) unit centroids.

    Centroids start as random samples; each iteration assigns every sample to the centroid
    of largest cosine and moves each non-empty centroid to the normalised mean of its samples.
    """
    means = sample_rows(samples, num_clusters, generator)
    for _ in range(num_iters):
        assign = nearest_code(samples, means)
        bins = torch.bincount(assign, minlength=num_clusters)
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        means = torch.where((bins > 0)[:, None], F.normalize(sums, dim=1), means)
    return means


class CodebookEmbedding(nn.Module):
    """Holds the (K, D) unit codebook ``weight`` and the ``initted`` flag as buffers.

    The names mirror the official layout (``quantize.embedding.weight`` /
    ``quantize.embedding.initted``); neither is trained by gradients.
    """

    def __init__(self, num_tokens: int, dims: int) -> None:
        super().__init__()
        self.register_buffer('weight', F.normalize(torch.randn(num_tokens, dims), dim=1))
        self.register_buffer('initted', torch.zeros(1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


class NormEMAQuantizer(nn.Module):
    """l2-normalised codebook, cosine nearest code, EMA updates, dead-code restarts.

    Training step (fp32): z = l2norm(z); ids = argmax_k cos(z, e_k); counts n_k and sums s_k of
    the assigned z are all-reduced over ranks; for every code with n_k > 0,
    ``e_k <- l2norm(decay * e_k + (1 - decay) * l2norm(s_k / n_k))``; unused codes keep their
    value. Output: ``z + sg(e_ids - z)`` (straight-through), commitment ``beta * MSE(z, sg(e))``.

    The first training batch initialises the codebook by spherical k-means on the encoder
    outputs of all ranks (computed on rank 0, broadcast). With ``dead_code_window > 0``, codes
    unused for that many training steps are re-seeded from the current batch's encoder outputs
    (sampled on rank 0, broadcast), which the official code lacks.

    Args:
        num_tokens (int): K. Defaults to 8192.
        dims (int): D. Defaults to 32.
        decay (float): EMA decay. Defaults to 0.99.
        beta (float): commitment weight. Defaults to 1.0.
        kmeans_init (bool): k-means on the first batch; else random unit codes (still
            broadcast from rank 0). Defaults to True.
        kmeans_iters (int): Defaults to 10.
        dead_code_window (int): restart codes unused for this many steps (mmbeit's addition,
            e.g. 100); 0 disables, as the official code. Defaults to 0 (official).
        entropy_weight (float): weight of :func:`assignment_entropy_loss` on the encoder
            outputs (mmbeit's addition; pushes each rank's batch to spread over the codes,
            gradients reach the encoder only). 0 disables, as the official code. Defaults to 0.
        entropy_temperature (float): softmax temperature of the soft assignments over cosines.
            Defaults to 0.01.
        entropy_tokens (int): compute the entropy loss on this many random vectors of the
            batch (its (n, K) softmax is the cost: 12.5k tokens x 8192 codes = 0.4 GB per
            fp32 tensor); 0 uses all. Defaults to 0.

    Buffers:
        ``embedding.weight`` (K, D), ``embedding.initted`` (1,), ``cluster_size`` (K,) EMA of
        the counts (the official statistic), ``usage_counts`` (K,) counts since the last
        :meth:`reset_usage`, ``last_used`` (K,) step of last use, ``num_updates``,
        ``num_restarts`` (codes restarted so far).
    """

    def __init__(self, num_tokens: int = 8192, dims: int = 32, decay: float = 0.99,
                 beta: float = 1.0, kmeans_init: bool = True, kmeans_iters: int = 10,
                 dead_code_window: int = 0, entropy_weight: float = 0.0,
                 entropy_temperature: float = 0.01, entropy_tokens: int = 0) -> None:
        super().__init__()
        if num_tokens < 1 or dims < 1:
            raise ValueError(f'num_tokens (the codebook size) and dims must be >= 1, got '
                             f'{num_tokens} and {dims}')
        if not 0.0 <= decay < 1.0:
            raise ValueError(f'decay must be in [0, 1), got {decay}')
        if dead_code_window < 0:
            raise ValueError(f'dead_code_window must be >= 0, got {dead_code_window}')
        self.num_tokens, self.dims = num_tokens, dims
        self.decay, self.beta = decay, beta
        self.kmeans_init, self.kmeans_iters = kmeans_init, kmeans_iters
        self.dead_code_window = dead_code_window
        if entropy_weight < 0 or entropy_temperature <= 0 or entropy_tokens < 0:
            raise ValueError('entropy_weight must be >= 0, entropy_temperature > 0 and '
                             f'entropy_tokens >= 0, got {entropy_weight}, '
                             f'{entropy_temperature}, {entropy_tokens}')
        self.entropy_weight, self.entropy_temperature = entropy_weight, entropy_temperature
        self.entropy_tokens = entropy_tokens
        self.embedding = CodebookEmbedding(num_tokens, dims)
        self.register_buffer('cluster_size', torch.zeros(num_tokens))
        self.register_buffer('usage_counts', torch.zeros(num_tokens))
        self.register_buffer('last_used', torch.zeros(num_tokens, dtype=torch.long))
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))
        self.register_buffer('num_restarts', torch.zeros((), dtype=torch.long))
        self.batch_counts: Optional[torch.Tensor] = None  # (K,) all-reduced, last step

    # ------------------------------------------------------------------ lookup
    @property
    def codebook(self) -> torch.Tensor:
        return self.embedding.weight

    def lookup(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code ids (...) of (..., D) vectors, fp32, no state change."""
        with torch.autocast(z.device.type, enabled=False):
            flat = F.normalize(z.detach().float().reshape(-1, self.dims), dim=1)
            return nearest_code(flat, self.codebook).view(z.shape[:-1])

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantise (..., D) ``z``; in training mode also update the codebook."""
        if z.shape[-1] != self.dims:
            raise ValueError(f'expected (..., {self.dims}) inputs, got {tuple(z.shape)}')
        with torch.autocast(z.device.type, enabled=False):
            z = F.normalize(z.float(), dim=-1)
            flat = z.detach().reshape(-1, self.dims)
            if self.training and not bool(self.embedding.initted):
                self._init_codebook(flat)
            ids = nearest_code(flat, self.codebook)
            z_q = self.embedding(ids).view_as(z)  # a copy: the values before the EMA step
            if self.training:
                self._ema_update(flat, ids)
            loss_commit = self.beta * F.mse_loss(z, z_q)
            loss_entropy = None
            if self.training and self.entropy_weight > 0:
                loss_entropy = self.entropy_weight * assignment_entropy_loss(
                    z.reshape(-1, self.dims), self.codebook, self.entropy_temperature,
                    self.entropy_tokens)
            quantized = z + (z_q - z).detach()
        return QuantizerOutput(quantized, ids.view(z.shape[:-1]), loss_commit, loss_entropy)

    # ------------------------------------------------------------------ training state
    @torch.no_grad()
    def _init_codebook(self, flat: torch.Tensor) -> None:
        samples = gather_rows(flat)
        if get_rank() == 0:
            if self.kmeans_init:
                codes = kmeans_cosine(samples, self.num_tokens, self.kmeans_iters)
            else:
                codes = F.normalize(torch.randn_like(self.codebook), dim=1)
        else:
            codes = torch.empty_like(self.codebook)
        broadcast_(codes, 0)
        self.codebook.copy_(codes)
        self.embedding.initted.fill_(1)
        self.last_used.fill_(int(self.num_updates))
        print_log(f'codebook initialised ({"k-means" if self.kmeans_init else "random"}) '
                  f'from {samples.shape[0]} vectors', logger='current')

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        k = self.num_tokens
        stats = torch.zeros(k, self.dims + 1, device=flat.device)
        stats[:, :-1].index_add_(0, ids, flat)
        stats[:, -1] = torch.bincount(ids, minlength=k).float()
        all_reduce_sum(stats)  # one collective for sums and counts
        if not bool(torch.isfinite(stats).all()):  # same on every rank: all-reduced
            print_log('quantizer: non-finite encoder outputs, codebook update skipped',
                      logger='current', level=30)
            return
        sums, counts = stats[:, :-1], stats[:, -1]
        self.batch_counts = counts
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.usage_counts.add_(counts)
        # masked with torch.where, not boolean indexing: no device -> host sync on GPUs
        used = counts > 0
        means = F.normalize(sums / counts.clamp_min(1)[:, None], dim=1)
        moved = F.normalize(self.codebook * self.decay + means * (1 - self.decay), dim=1)
        self.codebook.copy_(torch.where(used[:, None], moved, self.codebook))
        self.num_updates.add_(1)
        self.last_used.copy_(torch.where(used, self.num_updates, self.last_used))
        if self.dead_code_window > 0:
            self._restart_dead_codes(flat)

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        dead = (self.num_updates - self.last_used) >= self.dead_code_window
        num_dead = int(dead.sum())  # identical on every rank (all-reduced counts)
        if num_dead == 0:
            return
        if get_rank() == 0:
            new = sample_rows(flat, num_dead)
        else:
            new = flat.new_empty(num_dead, self.dims)
        broadcast_(new, 0)
        self.codebook[dead] = F.normalize(new, dim=1)
        self.last_used[dead] = self.num_updates
        self.num_restarts.add_(num_dead)

    # ------------------------------------------------------------------ statistics
    def reset_usage(self) -> None:
        """Start a new usage window (e.g. an epoch)."""
        self.usage_counts.zero_()

    def usage_stats(self, counts: Optional[torch.Tensor] = None) -> Dict[str, float]:
        """used_codes, usage (fraction of K), perplexity and restarts of a (K,) count vector.

        Args:
            counts (Tensor, optional): defaults to the current window's ``usage_counts``.
        """
        return dict(codebook_stats(self.usage_counts if counts is None else counts),
                    restarts=int(self.num_restarts))


def assignment_entropy_loss(z: torch.Tensor, codebook: torch.Tensor, temperature: float,
                            max_tokens: int = 0) -> torch.Tensor:
    """``mean_i H(p_i) - H(mean_i p_i)`` of soft assignments p_i = softmax(cos(z_i, e) / t).

    (n, D) unit ``z`` (with gradient) against the (K, D) codebook (no gradient): low when each
    vector is close to one code and the batch spreads over many codes. ``max_tokens > 0``
    evaluates it on that many random rows (the (n, K) softmax is the cost).
    """
    if 0 < max_tokens < z.shape[0]:
        z = z[torch.randperm(z.shape[0], device=z.device)[:max_tokens]]
    log_p = F.log_softmax(z @ codebook.detach().t() / temperature, dim=1)
    p = log_p.exp()
    per_vector = -(p * log_p).sum(1).mean()
    mean_p = p.mean(0)
    batch = -torch.special.xlogy(mean_p, mean_p).sum()
    return per_vector - batch


def batch_usage_and_perplexity(counts: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fraction of codes used and perplexity of (K,) counts, as fp32 scalars on their device
    (no host sync: logged every training step)."""
    c = counts.detach().double()
    p = c / c.sum().clamp_min(1)
    perplexity = torch.exp(-torch.special.xlogy(p, p).sum())
    return (c > 0).double().mean().float(), perplexity.float()


def codebook_stats(counts: torch.Tensor) -> Dict[str, float]:
    """used_codes, usage (fraction) and perplexity ``exp(H(p))`` of (K,) code counts."""
    counts = counts.detach().double().cpu()
    total = counts.sum()
    used = int((counts > 0).sum())
    if total > 0:
        p = counts[counts > 0] / total
        perplexity = float(torch.exp(-(p * p.log()).sum()))
    else:
        perplexity = 0.0
    return dict(used_codes=used, usage=used / counts.numel(), perplexity=perplexity)
