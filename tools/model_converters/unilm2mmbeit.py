"""Convert an official unilm BEiT / BEiT v2 checkpoint to mmbeit keys.

    python tools/model_converters/unilm2mmbeit.py beitv2_base_patch16_224_pt1k.pth out.pth
    python tools/model_converters/unilm2mmbeit.py SRC DST --backbone-only --prefix backbone. \
        --unshare-rel-pos-bias      # ready for fine-tuning / detection / segmentation configs
"""
from __future__ import annotations

import argparse

from mmbeit.converters import (
    convert_unilm_beit,
    extract_backbone,
    get_state_dict,
    load_checkpoint_file,
    save_state_dict,
)
from mmbeit.converters.checkpoint_io import add_prefix, arch_meta, choose_num_heads
from mmbeit.converters.unilm_beit import release_num_heads


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='unilm checkpoint (.pth with a "model" entry)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--backbone-only', action='store_true',
                        help='keep the backbone only (drops lm_head / aggregation layers)')
    parser.add_argument('--prefix', default='',
                        help="with --backbone-only: prefix for the keys, e.g. 'backbone.'")
    parser.add_argument('--unshare-rel-pos-bias', action='store_true',
                        help='with --backbone-only: copy the shared relative position table '
                        'into every block (use_rel_pos_bias=True backbones)')
    parser.add_argument('--num-heads', type=int, default=None,
                        help="attention heads, recorded in the output's meta (default: from "
                        "the release's args.model; no weight shape holds it)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = load_checkpoint_file(args.src)
    state = get_state_dict(checkpoint, keys=('model', 'module', 'state_dict'))
    converted, dropped = convert_unilm_beit(state)
    num_heads = choose_num_heads(args.num_heads, release_num_heads(checkpoint), args.src)
    arch = arch_meta(converted, num_heads, prefix='backbone.')
    if args.backbone_only:  # keeps the final norm (BEiT v2: shared with the neck)
        converted = add_prefix(extract_backbone(
            converted, unshare_rel_pos_bias=args.unshare_rel_pos_bias), args.prefix)
    elif args.prefix or args.unshare_rel_pos_bias:
        raise SystemExit('--prefix / --unshare-rel-pos-bias need --backbone-only')
    save_state_dict(converted, args.dst,
                    meta=dict(source=args.src, converter='unilm2mmbeit', arch=arch))
    print(f'{len(state)} keys -> {len(converted)} keys ({len(dropped)} index buffers dropped); '
          f'saved {args.dst}')


if __name__ == '__main__':
    main()
