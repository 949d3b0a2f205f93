"""Import an HF transformers BEiT / ViT folder into mmbeit (fine-tune or transfer it).

    python tools/model_converters/hf2mmbeit.py hf/beitv2_b16 beitv2_b16_mmbeit.pth
    python tools/model_converters/hf2mmbeit.py google-vit-b16/ vit_b16.pth --drop pooler.

Reads ``config.json`` and ``model.safetensors`` (or ``pytorch_model.bin``), writes
``backbone.*`` (plus ``head.fc.*`` / ``head.lm_head.*``) with the architecture in
``meta['arch']`` and prints the mmbeit backbone config that loads it. A tensor of no known
layout is an error; ``--drop PREFIX`` leaves a part out on purpose.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp

from mmbeit.converters.cli import print_left_out, write_mmbeit
from mmbeit.converters.hf_layout import hf_to_mmbeit
from mmbeit.converters.vit_export import backbone_config
from mmbeit.utils import get_state_dict, load_checkpoint

WEIGHTS = ('model.safetensors', 'pytorch_model.bin')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='HF model folder (config.json + weights)')
    parser.add_argument('dst', help='output checkpoint (.pth or .safetensors)')
    parser.add_argument('--drop', action='append', default=[], metavar='PREFIX',
                        help="leave tensors under PREFIX out, e.g. 'pooler.' (repeatable)")
    return parser.parse_args(argv)


def read_hf_folder(folder: str):
    """(config dict, state dict) of an HF model folder."""
    config_path = osp.join(folder, 'config.json')
    if not osp.isfile(config_path):
        raise SystemExit(f'{folder}: no config.json (an HF model folder has one)')
    with open(config_path) as f:
        config = json.load(f)
    for name in WEIGHTS:
        path = osp.join(folder, name)
        if osp.isfile(path):
            return config, get_state_dict(load_checkpoint(path)), path
    raise SystemExit(f'{folder}: none of {WEIGHTS} (sharded checkpoints: merge them first)')


def main(argv=None) -> None:
    args = parse_args(argv)
    config, state, path = read_hf_folder(args.src)
    backbone, heads, dropped = hf_to_mmbeit(state, config, args.drop)
    cfg, arch = backbone_config(backbone, int(config['num_attention_heads']),
                                float(config.get('layer_norm_eps', 1e-12)))
    args.src = path
    write_mmbeit(backbone, heads, args, 'hf2mmbeit', len(state), arch,
                 f' (HF {config.get("architectures", [config["model_type"]])[0]})')
    print_left_out({}, dropped)
    print(f'backbone=dict({", ".join(f"{k}={v!r}" for k, v in cfg.items())})')


if __name__ == '__main__':
    main()
