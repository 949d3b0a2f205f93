# BEiT v2 ViT-B/16 (300-epoch pretraining) fine-tuning: as BEiT v1, layer decay 0.65.
_base_ = ['./beit_vit-base-p16_8xb128-coslr-100e_in1k.py']
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))
