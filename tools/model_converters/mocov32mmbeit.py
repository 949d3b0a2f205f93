"""Convert the facebookresearch moco-v3 ViT release to an mmbeit backbone checkpoint.

    python tools/model_converters/mocov32mmbeit.py vit-b-300ep.pth.tar out.pth --prefix backbone.

The target backbone: ``BEiTViT(pos_embed='sincos', use_shared_rel_pos_bias=False,
layer_scale_init_value=0)`` (what MoCo v3 trains). The k part of timm's qkv bias is dropped: it
does not change the attention output.
"""
from __future__ import annotations

import argparse

from mmbeit.converters import (
    convert_mocov3_release,
    get_state_dict,
    load_checkpoint_file,
    save_state_dict,
)
from mmbeit.converters.checkpoint_io import add_prefix


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='moco-v3 checkpoint (.pth.tar with a "state_dict" entry)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--encoder', default='base_encoder',
                        choices=('base_encoder', 'momentum_encoder'),
                        help='which encoder of a pretraining checkpoint to keep')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix for the backbone keys ('' for a bare backbone)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    state = get_state_dict(load_checkpoint_file(args.src))
    parts = convert_mocov3_release(state, encoder=args.encoder)
    out = add_prefix(parts['backbone'], args.prefix)
    if 'cls_head' in parts:  # linear / fine-tuned release: keep the classifier
        out.update(add_prefix(parts['cls_head'], 'head.'))
    save_state_dict(out, args.dst, meta=dict(source=args.src, converter='mocov32mmbeit',
                                             encoder=args.encoder))
    print(f'{len(state)} keys -> {len(out)} keys; saved {args.dst}')


if __name__ == '__main__':
    main()
