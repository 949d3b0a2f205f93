"""MMEngine's FSDP strategy, fixed for the BEiT / VQ-KD / dVAE recipes and torch >= 2.1.

``strategy=dict(type='FSDPStrategy', ...)`` through ``tools/train.py`` (or
``type='mmbeit.FSDPStrategy'`` anywhere) builds :class:`FSDPStrategy`, a subclass of MMEngine's
that ``FlexibleRunner`` runs. What it changes (each seen failing or wrong with MMEngine 0.10.7
and torch 2.13; ``tests/test_engine/test_fsdp_strategy.py`` checks the result):

* **Gradient clipping by the global norm.** Each rank holds a slice of every gradient, and
  ``OptimWrapper`` clips with ``torch.nn.utils.clip_grad_norm_`` on that slice, i.e. by the
  rank's partial norm: ranks scale differently and the update is not the one-process update.
  Here the norm comes from ``FullyShardedDataParallel.clip_grad_norm_`` (one all-reduce).
* **Parameter groups by the real shapes.** After wrapping, every parameter is a 1-D view of its
  shard, so ``paramwise_cfg`` rules on shapes (``flat_decay_mult``: no weight decay on 1-D
  tensors, the BEiT recipes) matched every parameter. The groups are made on the model before
  wrapping and bound to the wrapped parameters by name.
* **One FSDP unit per transformer block** unless ``model_wrapper.auto_wrap_policy`` says
  otherwise; the rest (patch embedding, relative position tables, heads) is the root unit,
  which is unsharded during the whole forward. The models call parts of it through methods
  other than ``forward`` (``backbone.shared_attn_bias``) that a size-based policy would shard.
* **Frozen parts stay whole**: submodules whose parameters are all frozen (the BEiT tokenizer,
  the VQ-KD teacher) are ``ignored_modules``, replicated on every rank. They have no gradients
  or optimizer state to shard, and ``tokenize`` is not ``forward``, which FSDP unshards for.
* **Consolidated checkpoints by default** (``state_dict_cfg='full'``): the plain file of a DDP
  run, which ``--resume``, fine-tuning and ``tools/model_converters`` read. ``'local'`` (a
  folder with a shard per rank) resumes through mmbeit's weights-only loader.
* **Resume**: the optimizer state goes to FSDP in torch >= 2.1's argument order (MMEngine uses
  torch 2.0's), and the wrapper's base lr that the schedulers track is kept.
* **MoCo v3 is refused** with a clear error (its momentum update reads sharded weights): DDP
  or ``--zero`` there.
* **CPU ranks** (gloo): ``device_id`` is the CPU without a GPU, and full state dicts are
  gathered and copied on every rank (rank 0 only + CPU "offload" crashes or aliases there).
"""
from __future__ import annotations

import copy
import types
from typing import List, Optional, Union

import torch
from mmengine._strategy import FSDPStrategy as MMEngineFSDPStrategy
from mmengine.device import get_device
from mmengine.optim import AmpOptimWrapper, BaseOptimWrapper, OptimWrapper, OptimWrapperDict
from mmengine.optim import build_optim_wrapper as build_unsharded_optim_wrapper
from torch import nn
from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import ModuleWrapPolicy

from mmbeit.models.utils.transformer_block import TransformerBlock
from mmbeit.registry import STRATEGIES

FSDP_PREFIX = '_fsdp_wrapped_module.'


def frozen_submodules(module: nn.Module) -> List[nn.Module]:
    """The largest submodules of ``module`` that have parameters, all of them frozen."""
    frozen = []
    for child in module.children():
        params = list(child.parameters())
        if params and not any(p.requires_grad for p in params):
            frozen.append(child)
        else:
            frozen.extend(frozen_submodules(child))
    return frozen


def _clip_by_global_norm(self: OptimWrapper) -> None:
    """``OptimWrapper._clip_grad`` for sharded gradients; every rank joins the all-reduce."""
    norm = self._fsdp_root.clip_grad_norm_(**self.clip_grad_kwargs)
    self.message_hub.update_scalar(f'train/{self.grad_name}', float(norm))


def clip_sharded_grads_by_global_norm(optim_wrapper: BaseOptimWrapper, model: nn.Module) -> None:
    """Make ``optim_wrapper``'s norm clipping use the norm of the whole sharded gradient.

    Args:
        optim_wrapper: the wrapper built for ``model``; clipping by value (elementwise) and no
            clipping are left as they are.
        model: the FSDP-wrapped (possibly compiled) model.
    """
    wrappers = (list(optim_wrapper.values()) if isinstance(optim_wrapper, OptimWrapperDict)
                else [optim_wrapper])
    clipped = [w for w in wrappers
               if w.clip_grad_kwargs and w.clip_func is torch.nn.utils.clip_grad_norm_]
    if not clipped:
        return
    if len(wrappers) > 1:
        raise NotImplementedError('clip_grad by norm with several optimizers under FSDP: the '
                                  'global norm would mix their parameters; clip by value or '
                                  'use one optimizer with parameter groups')
    wrapper, root = clipped[0], getattr(model, '_orig_mod', model)
    unsupported = set(wrapper.clip_grad_kwargs) - {'max_norm', 'norm_type', 'foreach'}
    if unsupported or not isinstance(root, FSDP):
        raise ValueError(f'optim_wrapper.clip_grad {sorted(unsupported)} on a '
                         f'{type(root).__name__}: FullyShardedDataParallel.clip_grad_norm_ '
                         'takes max_norm and norm_type')
    wrapper.clip_grad_kwargs.pop('foreach', None)
    wrapper._fsdp_root = root
    wrapper._clip_grad = types.MethodType(_clip_by_global_norm, wrapper)


def rebind_param_groups(optimizer: torch.optim.Optimizer, names: dict, model: nn.Module) -> None:
    """Point ``optimizer``'s groups at ``model``'s parameters of the same names, in place.

    Args:
        optimizer: built on the unwrapped model, no state yet.
        names: ``id(parameter) -> name`` in the unwrapped model.
        model: the wrapped model.
    """
    params = {name.replace(FSDP_PREFIX, ''): p for name, p in model.named_parameters()}
    for group in optimizer.param_groups:
        missing = [names[id(p)] for p in group['params'] if names[id(p)] not in params]
        if missing:
            raise RuntimeError(f'parameters {missing[:3]} are not in the wrapped model: FSDP '
                               'needs model_wrapper.use_orig_params=True (the default)')
        group['params'] = [params[names[id(p)]] for p in group['params']]


@STRATEGIES.register_module()
class FSDPStrategy(MMEngineFSDPStrategy):
    """MMEngine's ``FSDPStrategy`` with the changes listed in the module docstring.

    Args:
        state_dict_cfg (str | dict): ``'full'`` (default): rank 0 writes one plain checkpoint;
            ``'local'``: each rank writes its shard into ``<name>.pth/rank{i}.pth``.
        model_wrapper (dict, optional): ``MMFullyShardedDataParallel`` arguments, e.g.
            ``auto_wrap_policy`` (default: each ``TransformerBlock``), ``mixed_precision``,
            ``sharding_strategy``. Its ``ignored_modules``, when given, replaces the frozen
            submodules.
        **kwargs: the rest of MMEngine's ``FSDPStrategy`` arguments.
    """

    def __init__(self, *, state_dict_cfg: Union[str, dict] = 'full',
                 model_wrapper: Optional[dict] = None, **kwargs) -> None:
        model_wrapper = dict(model_wrapper or {})
        model_wrapper.setdefault('type', 'MMFullyShardedDataParallel')
        model_wrapper.setdefault('auto_wrap_policy', ModuleWrapPolicy({TransformerBlock}))
        if not torch.cuda.is_available():
            model_wrapper.setdefault('device_id', 'cpu')
        super().__init__(state_dict_cfg=state_dict_cfg, model_wrapper=model_wrapper, **kwargs)
        if state_dict_cfg == 'full' and not torch.cuda.is_available():
            self.state_dict_config = FullStateDictConfig(offload_to_cpu=False, rank0_only=False)
            self.optim_state_dict_config = FullOptimStateDictConfig(offload_to_cpu=False,
                                                                    rank0_only=False)

    def prepare(self, model, *, optim_wrapper=None, **kwargs):
        """MMEngine's ``prepare``, the optimizer wrapper built on the model before wrapping."""
        if isinstance(optim_wrapper, dict) and 'optimizer' in optim_wrapper:
            optim_wrapper = copy.deepcopy(optim_wrapper)
            if optim_wrapper.get('type') in ('AmpOptimWrapper', AmpOptimWrapper):
                optim_wrapper.setdefault('use_fsdp', True)  # ShardedGradScaler, as MMEngine's
            model = self.build_model(model)
            optim_wrapper = build_unsharded_optim_wrapper(model, optim_wrapper)
        return super().prepare(model, optim_wrapper=optim_wrapper, **kwargs)

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        if hasattr(model, 'update_key_encoder'):
            raise NotImplementedError(
                f'{type(model).__name__} updates its momentum key encoder from the query '
                "encoder's weights inside the step, which FSDP holds as shards there; train it "
                'with DDP, or shard the optimizer states with --zero (ZeRO-1)')
        if 'ignored_modules' in self.model_wrapper:
            return super()._wrap_model(model)
        frozen = frozen_submodules(model)
        for module in frozen:  # FSDP moves only what it manages
            module.to(get_device())
        given = self.model_wrapper
        self.model_wrapper = dict(given, ignored_modules=frozen)
        try:
            return super()._wrap_model(model)
        finally:
            self.model_wrapper = given

    def build_optim_wrapper(self, optim_wrapper, model: Optional[nn.Module] = None
                            ) -> BaseOptimWrapper:
        model = model if model is not None else self.model
        if isinstance(optim_wrapper, OptimWrapper) and not optim_wrapper.optimizer.state:
            rebind_param_groups(optim_wrapper.optimizer, self.id_to_name, model)
        else:
            optim_wrapper = super().build_optim_wrapper(optim_wrapper, model)
        clip_sharded_grads_by_global_norm(optim_wrapper, model)
        return optim_wrapper

    def optim_state_dict(self) -> dict:
        state = super().optim_state_dict()
        base = getattr(self.optim_wrapper, 'base_param_settings', None)
        if base is not None:  # FSDP's conversion drops it
            state['base_param_settings'] = base
        return state

    def load_optim_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        base = state_dict.pop('base_param_settings', None)
        state_dict = FSDP.optim_state_dict_to_load(
            model=self.model, optim=self.optim_wrapper.optimizer, optim_state_dict=state_dict)
        if base is not None:
            state_dict['base_param_settings'] = base
        self.optim_wrapper.load_state_dict(state_dict)
