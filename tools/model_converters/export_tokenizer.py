"""Write the VQ-KD / DALL-E dVAE tokenizer of a checkpoint as one self-describing safetensors file.

    python tools/model_converters/export_tokenizer.py work_dirs/vqkd/epoch_100.pth vqkd.safetensors
    python tools/model_converters/export_tokenizer.py SRC DST.safetensors --config CFG --no-decoder

SRC: a VQ-KD or dVAE training checkpoint (``tokenizer.*``) or a BEiT one (``target_generator.*``).
The file holds the tokenizer's tensors and its config; every tokenizer ``checkpoint=`` reads it,
``mmbeit.converters.build_tokenizer_from_file(DST)`` rebuilds it alone, and docs/interop.md
describes it for use without mmbeit.
"""
from __future__ import annotations

import argparse

from mmbeit.converters.cli import converter_parser
from mmbeit.converters.tokenizer_export import build_tokenizer, read_tokenizer
from mmbeit.utils import save_state_dict


def parse_args(argv=None) -> argparse.Namespace:
    parser = converter_parser(__doc__, 'VQ-KD / dVAE / BEiT checkpoint')
    parser.add_argument('--config', help='the config it was trained with (default: the one '
                        'the checkpoint records)')
    parser.add_argument('--no-decoder', action='store_true',
                        help='leave the decoder out (enough to tokenize)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg, tensors = read_tokenizer(args.src, args.config)
    if args.no_decoder:
        tensors = {k: v for k, v in tensors.items()
                   if not k.startswith(('decoder.', 'decode_task_layer.'))}
    tokenizer = build_tokenizer(cfg, tensors, args.src)  # strict: every tensor has its place
    if not args.dst.endswith('.safetensors'):
        raise SystemExit('DST must end in .safetensors')
    meta = dict(tokenizer=cfg, source=str(args.src), converter='export_tokenizer',
                num_tokens=int(tokenizer.num_tokens))
    save_state_dict(tokenizer.state_dict(), args.dst, meta=meta)
    print(f'{cfg["type"]}: {len(tensors)} tensors, {tokenizer.num_tokens} codes'
          f'{" (no decoder)" if args.no_decoder else ""}; saved {args.dst}')


if __name__ == '__main__':
    main()
