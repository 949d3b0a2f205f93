"""ViT weight initialisation shared by backbones, necks and tokenizers."""
from __future__ import annotations

from torch import nn


def init_linear_and_norm(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal Linear weights with zero bias, unit LayerNorms, for every submodule."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
