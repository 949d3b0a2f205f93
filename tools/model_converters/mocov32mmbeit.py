"""Convert the facebookresearch moco-v3 ViT release to an mmbeit backbone checkpoint.

    python tools/model_converters/mocov32mmbeit.py vit-b-300ep.pth.tar out.pth --prefix backbone.

The target backbone: ``MoCoV3ViT(arch=...)`` (``vit_small`` -> ``arch='small'``, 12 heads of 32
dims; ``vit_base`` -> ``'base'``). The release's ``arch`` entry (or ``--num-heads``) is written to
``meta['arch']``, and loading into a backbone of another head count fails, naming the preset
that fits. The k part of timm's qkv bias is dropped: it does not change the attention output.
"""
from __future__ import annotations

import argparse

from mmbeit.converters import (
    convert_mocov3_release,
    get_state_dict,
    load_checkpoint_file,
    save_state_dict,
)
from mmbeit.converters.checkpoint_io import add_prefix, arch_meta, choose_num_heads
from mmbeit.converters.mocov3_release import release_num_heads


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='moco-v3 checkpoint (.pth.tar with a "state_dict" entry)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--encoder', default='base_encoder',
                        choices=('base_encoder', 'momentum_encoder'),
                        help='which encoder of a pretraining checkpoint to keep')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix for the backbone keys ('' for a bare backbone)")
    parser.add_argument('--num-heads', type=int, default=None,
                        help="attention heads, recorded in the output's meta (default: from "
                        "the release's 'arch' entry, e.g. vit_small = 12 heads)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = load_checkpoint_file(args.src)
    state = get_state_dict(checkpoint)
    parts = convert_mocov3_release(state, encoder=args.encoder)
    num_heads = choose_num_heads(args.num_heads, release_num_heads(checkpoint), args.src)
    out = add_prefix(parts['backbone'], args.prefix)
    if 'cls_head' in parts:  # linear / fine-tuned release: keep the classifier
        out.update(add_prefix(parts['cls_head'], 'head.'))
    save_state_dict(out, args.dst, meta=dict(source=args.src, converter='mocov32mmbeit',
                                             encoder=args.encoder,
                                             arch=arch_meta(parts['backbone'], num_heads)))
    print(f'{len(state)} keys -> {len(out)} keys; saved {args.dst}')


if __name__ == '__main__':
    main()
