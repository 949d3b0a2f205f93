# BEiT v2 ViT-B/16 (1600-epoch pretraining) fine-tuning: layer decay 0.6 (85.5 top-1 reported).
_base_ = ['./beitv2_vit-base-p16_8xb128-coslr-100e_in1k.py']
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.6))
