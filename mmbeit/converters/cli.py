"""What the ``tools/model_converters/*.py`` command lines share: SRC / DST, head count, output."""
from __future__ import annotations

import argparse
from typing import Dict

import torch

from mmbeit.utils.checkpoint import save_state_dict


def converter_parser(doc: str, src_help: str) -> argparse.ArgumentParser:
    """An argument parser with the positional ``src`` and ``dst`` of every converter."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='output checkpoint')
    return parser


def add_num_heads_arg(parser: argparse.ArgumentParser, default: str) -> None:
    """``--num-heads``: recorded in ``meta['arch']`` (no weight shape holds it)."""
    parser.add_argument('--num-heads', type=int, default=None,
                        help="attention heads, recorded in the output's meta so that loading "
                        f'into a backbone of another head count fails (default: {default})')


def save_converted(state_dict: Dict[str, torch.Tensor], args: argparse.Namespace,
                   converter: str, num_in: int, note: str = '', **meta) -> None:
    """Write ``args.dst`` with ``meta = {source, converter, **meta}`` and say what was done."""
    save_state_dict(state_dict, args.dst, meta=dict(source=args.src, converter=converter,
                                                    **meta))
    print(f'{num_in} keys -> {len(state_dict)} keys{note}; saved {args.dst}')


def add_export_args(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--num-heads``, ``--generation`` of the export command lines (what
    :func:`~mmbeit.converters.vit_export.read_vit_export` takes)."""
    from .vit_export import GENERATIONS

    parser.add_argument('--config', help="the model's mmbeit config (default: the one the "
                        'checkpoint records)')
    parser.add_argument('--num-heads', type=int, help='attention heads (default: from the '
                        'config or meta)')
    parser.add_argument('--generation', choices=GENERATIONS,
                        help='which family the checkpoint is (default: from the config / keys)')


def note_unshare(backbone: Dict[str, torch.Tensor], asked: bool) -> None:
    """Say so when ``--unshare-rel-pos-bias`` has nothing to do (a table per block already)."""
    from .backbone_extract import has_layer_tables

    if asked and has_layer_tables(backbone):
        print('--unshare-rel-pos-bias: the backbone has one relative position table per block '
              'already (a fine-tuned checkpoint); kept as it is')


def print_left_out(left_out: Dict[str, int], dropped) -> None:
    """Say what was not exported (whole checkpoint parts, and single tensors with reasons)."""
    if left_out:
        parts = ', '.join(f'{name}.* ({n} tensors)' for name, n in sorted(left_out.items()))
        print(f'not exported (no place in the target model): {parts}')
    for line in dropped:
        print(f'left out: {line}')


def write_mmbeit(backbone: Dict[str, torch.Tensor], heads: Dict[str, Dict[str, torch.Tensor]],
                 args: argparse.Namespace, converter: str, num_in: int, arch: dict,
                 note: str = '') -> Dict[str, torch.Tensor]:
    """Write an imported model as mmbeit keys: ``backbone.*``, ``head.fc.*`` (classifier),
    ``head.lm_head.*`` (MIM); returns the state dict written."""
    out: Dict[str, torch.Tensor] = {}
    out.update(('backbone.' + k, v) for k, v in backbone.items())
    names = dict(cls_head='head.fc.', lm_head='head.lm_head.')
    for part, tensors in heads.items():
        out.update((names[part] + k, v) for k, v in tensors.items())
    save_converted(out, args, converter, num_in, note, arch=arch)
    return out
