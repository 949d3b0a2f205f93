"""Convert an mmpretrain 1.2 BEiT / BEiT v2 checkpoint (BEiTViT, BEiTPretrainViT) to mmbeit keys.

    python tools/model_converters/mmpretrain2mmbeit.py beitv2_mmpretrain.pth out.pth
    python tools/model_converters/mmpretrain2mmbeit.py mmbeit.pth out.pth --reverse

Reads an MMEngine checkpoint (``state_dict`` entry) or a plain state dict; keys under
``backbone.`` are converted and keep that prefix, other keys (neck, head, target generator) are
copied unchanged.
"""
from __future__ import annotations

import argparse

from mmbeit.converters import (
    convert_mmbeit_to_mmpretrain,
    convert_mmpretrain_beit,
    get_state_dict,
    load_checkpoint_file,
    save_state_dict,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='mmpretrain checkpoint (or a plain state dict)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--reverse', action='store_true',
                        help='convert mmbeit keys to mmpretrain keys instead')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    state = get_state_dict(load_checkpoint_file(args.src))
    convert = convert_mmbeit_to_mmpretrain if args.reverse else convert_mmpretrain_beit
    converted = convert(state)
    save_state_dict(converted, args.dst, meta=dict(
        source=args.src, converter='mmpretrain2mmbeit' + (' --reverse' if args.reverse else '')))
    print(f'{len(state)} keys -> {len(converted)} keys; saved {args.dst}')


if __name__ == '__main__':
    main()
