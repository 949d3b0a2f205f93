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
