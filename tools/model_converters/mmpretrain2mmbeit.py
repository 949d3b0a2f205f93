"""Convert an mmpretrain 1.2 BEiT / BEiT v2 checkpoint (BEiTViT, BEiTPretrainViT) to mmbeit keys.

    python tools/model_converters/mmpretrain2mmbeit.py beitv2_mmpretrain.pth out.pth
    python tools/model_converters/mmpretrain2mmbeit.py mmbeit.pth out.pth --reverse

Reads an MMEngine checkpoint (``state_dict`` entry) or a plain state dict; keys under
``backbone.`` are converted and keep that prefix, other keys (neck, head, target generator) are
copied unchanged.
"""
from __future__ import annotations

import argparse

from mmbeit.converters import convert_mmbeit_to_mmpretrain, convert_mmpretrain_beit
from mmbeit.converters.cli import converter_parser, save_converted
from mmbeit.utils import load_state_dict_file


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'mmpretrain checkpoint (or a plain state dict)')
    parser.add_argument('--reverse', action='store_true',
                        help='convert mmbeit keys to mmpretrain keys instead')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    state = load_state_dict_file(args.src)
    convert = convert_mmbeit_to_mmpretrain if args.reverse else convert_mmpretrain_beit
    converted = convert(state)
    save_converted(converted, args, 'mmpretrain2mmbeit' + (' --reverse' if args.reverse else ''),
                   len(state))


if __name__ == '__main__':
    main()
