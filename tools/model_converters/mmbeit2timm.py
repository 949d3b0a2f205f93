"""Export an mmbeit BEiT / BEiT v2 / MoCo v3 ViT (pretrained or fine-tuned) to timm.

    python tools/model_converters/mmbeit2timm.py work_dirs/beitv2/epoch_300.pth \
        beitv2_b16.safetensors
    python tools/model_converters/mmbeit2timm.py SRC DST.pth --config CFG --model-name NAME

Writes a plain timm state dict (safetensors when DST ends in ``.safetensors``) and prints the
``timm.create_model(...)`` call that loads it with ``strict=True`` and the ``pretrained_cfg``
(mean / std, input size, interpolation) to use with it. See docs/interop.md.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp

import torch

from mmbeit.converters.cli import add_export_args, converter_parser, print_left_out
from mmbeit.converters.timm_layout import mmbeit_to_timm
from mmbeit.converters.vit_export import read_vit_export
from mmbeit.utils.checkpoint import save_safetensors


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'mmbeit checkpoint (training checkpoint or converted)')
    add_export_args(parser)
    parser.add_argument('--model-name', help='timm model name (default: the closest registered '
                        'one, e.g. beitv2_base_patch16_224, vit_small_patch16_224)')
    parser.add_argument('--share-rel-pos-bias', action='store_true',
                        help='keep a shared relative position table shared '
                        '(use_shared_rel_pos_bias=True) instead of one copy per block')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    export = read_vit_export(args.src, args.config, args.num_heads, args.generation)
    result = mmbeit_to_timm(export, args.model_name, args.share_rel_pos_bias)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    if args.dst.endswith('.safetensors'):
        save_safetensors(result.state_dict, args.dst, dict(
            timm_model_name=result.model_name, timm_kwargs=json.dumps(result.kwargs),
            pretrained_cfg=json.dumps(result.pretrained_cfg), source=str(args.src)))
    else:
        torch.save({k: v.contiguous() for k, v in result.state_dict.items()}, args.dst)
    print_left_out(export.left_out, result.dropped)
    print(f'{len(result.state_dict)} tensors saved to {args.dst}')
    print(f'model = {result.create_model_call()}')
    reader = 'load_file' if args.dst.endswith('.safetensors') else 'torch.load'
    print(f'model.load_state_dict({reader}({args.dst!r}), strict=True)')
    print(f'pretrained_cfg = {result.pretrained_cfg}')


if __name__ == '__main__':
    main()
