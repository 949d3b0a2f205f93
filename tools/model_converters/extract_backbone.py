"""Cut the backbone out of any mmbeit checkpoint (BEiT / BEiT v2 / MoCo v3 pretraining, ...).

    python tools/model_converters/extract_backbone.py work_dirs/beitv2/epoch_300.pth \
        beitv2_backbone.pth --prefix backbone. --unshare-rel-pos-bias

Load the result with ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``
in mmpretrain / mmdet / mmseg configs.
"""
from __future__ import annotations

import argparse

from mmbeit.converters import arch_meta, extract_backbone
from mmbeit.converters.cli import (
    add_num_heads_arg,
    converter_parser,
    note_unshare,
    save_converted,
)
from mmbeit.utils import add_prefix, get_state_dict, load_checkpoint, strip_prefix


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'mmbeit checkpoint (MMEngine .pth)')
    parser.add_argument('--source-prefix', default='backbone.',
                        help='where the backbone sits in the source model')
    parser.add_argument('--prefix', default='',
                        help="prefix for the written keys, e.g. 'backbone.'")
    parser.add_argument('--keep-mask-token', action='store_true',
                        help='keep the MIM mask token (dropped by default)')
    parser.add_argument('--unshare-rel-pos-bias', action='store_true',
                        help='copy the shared relative position table into every block')
    add_num_heads_arg(parser, "the source's meta['arch']")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = load_checkpoint(args.src)
    state = get_state_dict(checkpoint)
    note_unshare(strip_prefix(state, args.source_prefix), args.unshare_rel_pos_bias)
    backbone = extract_backbone(state, source_prefix=args.source_prefix,
                                drop=() if args.keep_mask_token else ('mask_token',),
                                unshare_rel_pos_bias=args.unshare_rel_pos_bias)
    out = add_prefix(backbone, args.prefix)
    recorded = (checkpoint.get('meta') or {}).get('arch', {}).get('num_heads')
    arch = arch_meta(backbone, args.num_heads or recorded)
    save_converted(out, args, 'extract_backbone', len(state), arch=arch)


if __name__ == '__main__':
    main()
