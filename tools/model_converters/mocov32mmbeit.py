"""Convert the facebookresearch moco-v3 ViT release to an mmbeit backbone checkpoint.

    python tools/model_converters/mocov32mmbeit.py vit-b-300ep.pth.tar out.pth --prefix backbone.

The target backbone: ``MoCoV3ViT(arch=...)`` (``vit_small`` -> ``arch='small'``, 12 heads of 32
dims; ``vit_base`` -> ``'base'``). The release's ``arch`` entry (or ``--num-heads``) is written to
``meta['arch']``, and loading into a backbone of another head count fails, naming the preset
that fits. The k part of timm's qkv bias is dropped: it does not change the attention output.
"""
from __future__ import annotations

import argparse

from mmbeit.converters import arch_meta, choose_num_heads, convert_mocov3_release
from mmbeit.converters.cli import add_num_heads_arg, converter_parser, save_converted
from mmbeit.converters.mocov3_release import release_num_heads
from mmbeit.utils import add_prefix, get_state_dict, load_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'moco-v3 checkpoint (.pth.tar with a "state_dict" entry)')
    parser.add_argument('--encoder', default='base_encoder',
                        choices=('base_encoder', 'momentum_encoder'),
                        help='which encoder of a pretraining checkpoint to keep')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix for the backbone keys ('' for a bare backbone)")
    add_num_heads_arg(parser, "the release's 'arch' entry, e.g. vit_small = 12 heads")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = load_checkpoint(args.src)
    state = get_state_dict(checkpoint)
    parts = convert_mocov3_release(state, encoder=args.encoder)
    num_heads = choose_num_heads(args.num_heads, release_num_heads(checkpoint), args.src)
    out = add_prefix(parts['backbone'], args.prefix)
    if 'cls_head' in parts:  # linear / fine-tuned release: keep the classifier
        out.update(add_prefix(parts['cls_head'], 'head.'))
    save_converted(out, args, 'mocov32mmbeit', len(state), encoder=args.encoder,
                   arch=arch_meta(parts['backbone'], num_heads))


if __name__ == '__main__':
    main()
