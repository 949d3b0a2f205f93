"""Import a timm BEiT / BEiT v2 / ViT state dict into mmbeit (fine-tune or transfer it).

    python tools/model_converters/timm2mmbeit.py beitv2_b16.safetensors beitv2_b16_mmbeit.pth
    python tools/model_converters/timm2mmbeit.py vit_s16.pth out.pth --model-name \
        vit_small_patch16_224 --num-heads 12

Writes ``backbone.*`` (and ``head.fc.*`` for a classifier) with the architecture in
``meta['arch']``, and prints the mmbeit backbone config that loads it. The head count comes from
``--num-heads``, the file's own record (mmbeit2timm.py writes it) or ``--model-name``.
"""
from __future__ import annotations

import argparse
import json

from mmbeit.converters.cli import converter_parser, print_left_out, write_mmbeit
from mmbeit.converters.timm_layout import TIMM_MODELS, timm_family, timm_to_mmbeit
from mmbeit.converters.vit_export import backbone_config
from mmbeit.utils import get_state_dict, load_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'timm state dict (.pth / .safetensors)')
    parser.add_argument('--model-name', help='the timm model it belongs to (for its head count)')
    parser.add_argument('--num-heads', type=int, help='attention heads (overrides the name)')
    return parser.parse_args(argv)


def _num_heads(args: argparse.Namespace, meta) -> int:
    recorded = {}
    if isinstance(meta, dict) and meta.get('timm_model_name'):
        recorded = dict(TIMM_MODELS.get(meta['timm_model_name'], {}))
        recorded.update(json.loads(meta.get('timm_kwargs', '{}')))
    if args.model_name:
        if args.model_name not in TIMM_MODELS:
            raise SystemExit(f'--model-name {args.model_name!r} is none of '
                             f'{sorted(TIMM_MODELS)}; pass --num-heads')
        recorded = dict(TIMM_MODELS[args.model_name])
    heads = args.num_heads or recorded.get('num_heads')
    if not heads:
        raise SystemExit(f'{args.src}: the head count is not recorded; pass --model-name or '
                         '--num-heads')
    return int(heads)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = load_checkpoint(args.src)
    state = get_state_dict(checkpoint, keys=('state_dict', 'model', 'module'))
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    backbone, head, dropped = timm_to_mmbeit(state)
    heads = _num_heads(args, meta)
    family = timm_family(state)
    cfg, arch = backbone_config(backbone, heads)
    write_mmbeit(backbone, {'cls_head': head} if head else {}, args, 'timm2mmbeit', len(state),
                 arch, f' (timm {"Beit" if family == "beit" else "VisionTransformer"})')
    print_left_out({}, dropped)
    print(f'backbone=dict({", ".join(f"{k}={v!r}" for k, v in cfg.items())})')


if __name__ == '__main__':
    main()
