"""Convert an official unilm BEiT / BEiT v2 checkpoint to mmbeit keys.

    python tools/model_converters/unilm2mmbeit.py beitv2_base_patch16_224_pt1k.pth out.pth
    python tools/model_converters/unilm2mmbeit.py SRC DST --backbone-only --prefix backbone. \
        --unshare-rel-pos-bias      # ready for fine-tuning / detection / segmentation configs
"""
from __future__ import annotations

import argparse

from mmbeit.converters import arch_meta, choose_num_heads, convert_unilm_beit, extract_backbone
from mmbeit.converters.cli import (
    add_num_heads_arg,
    converter_parser,
    note_unshare,
    save_converted,
)
from mmbeit.converters.unilm_beit import release_num_heads
from mmbeit.utils import add_prefix, get_state_dict, load_checkpoint, strip_prefix


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'unilm checkpoint (.pth with a "model" entry)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='keep the backbone only (drops lm_head / aggregation layers)')
    parser.add_argument('--prefix', default='',
                        help="with --backbone-only: prefix for the keys, e.g. 'backbone.'")
    parser.add_argument('--unshare-rel-pos-bias', action='store_true',
                        help='with --backbone-only: copy the shared relative position table '
                        'into every block (use_rel_pos_bias=True backbones)')
    add_num_heads_arg(parser, "the release's args.model")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = load_checkpoint(args.src)
    state = get_state_dict(checkpoint, keys=('model', 'module', 'state_dict'))
    converted, dropped = convert_unilm_beit(state)
    num_heads = choose_num_heads(args.num_heads, release_num_heads(checkpoint), args.src)
    arch = arch_meta(converted, num_heads, prefix='backbone.')
    if args.backbone_only:  # keeps the final norm (BEiT v2: shared with the neck)
        note_unshare(strip_prefix(converted, 'backbone.'), args.unshare_rel_pos_bias)
        converted = add_prefix(extract_backbone(
            converted, unshare_rel_pos_bias=args.unshare_rel_pos_bias), args.prefix)
    elif args.prefix or args.unshare_rel_pos_bias:
        raise SystemExit('--prefix / --unshare-rel-pos-bias need --backbone-only')
    save_converted(converted, args, 'unilm2mmbeit', len(state),
                   f' ({len(dropped)} index buffers dropped)', arch=arch)


if __name__ == '__main__':
    main()
