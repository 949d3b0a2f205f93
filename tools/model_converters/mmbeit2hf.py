"""Export an mmbeit BEiT / BEiT v2 / MoCo v3 ViT to an HF transformers folder.

    python tools/model_converters/mmbeit2hf.py work_dirs/beitv2/epoch_300.pth hf/beitv2_b16
    python tools/model_converters/mmbeit2hf.py SRC DST_DIR --config CFG --backbone-only

Writes ``config.json``, ``model.safetensors`` and ``preprocessor_config.json``, which
``transformers.AutoModel.from_pretrained(DST_DIR)`` and the class in ``config.json``
(``BeitModel``, ``BeitForMaskedImageModeling`` with a BEiT v1 MIM head,
``BeitForImageClassification`` for fine-tuned models, ``ViTModel`` for MoCo v3,
``ViTForImageClassification``) load offline. See docs/interop.md.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp

from mmbeit.converters.cli import add_export_args, print_left_out
from mmbeit.converters.hf_layout import mmbeit_to_hf
from mmbeit.converters.vit_export import read_vit_export
from mmbeit.utils.checkpoint import save_safetensors


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='mmbeit checkpoint (training checkpoint or converted)')
    parser.add_argument('dst', help='output folder')
    add_export_args(parser)
    parser.add_argument('--backbone-only', action='store_true',
                        help='leave the MIM head out (BeitModel instead of '
                        'BeitForMaskedImageModeling)')
    return parser.parse_args(argv)


def write_json(obj: dict, path: str) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')


def main(argv=None) -> None:
    args = parse_args(argv)
    export = read_vit_export(args.src, args.config, args.num_heads, args.generation)
    if export.generation == 'beitv2' and export.lm_head is not None and not args.backbone_only:
        print('BEiT v2 predicts VQ-KD codes from the last layer and the aggregation branch: '
              'HF has no class for it; exporting the last layer\'s MIM head')
    result = mmbeit_to_hf(export, with_lm_head=not args.backbone_only)
    os.makedirs(args.dst, exist_ok=True)
    save_safetensors(result.state_dict, osp.join(args.dst, 'model.safetensors'))
    write_json(result.config, osp.join(args.dst, 'config.json'))
    write_json(result.preprocessor, osp.join(args.dst, 'preprocessor_config.json'))
    print_left_out(export.left_out, result.dropped)
    print(f'{len(result.state_dict)} tensors saved to {args.dst} ({result.architecture})')
    print(f'from transformers import {result.architecture}; '
          f'model = {result.architecture}.from_pretrained({args.dst!r})'
          + (", add_pooling_layer=False" if result.architecture == 'ViTModel' else ''))


if __name__ == '__main__':
    main()
