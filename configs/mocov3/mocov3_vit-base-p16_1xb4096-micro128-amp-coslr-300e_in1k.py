# MoCo v3 ViT-B/16 at the paper's batch 4096 on 1 GPU (1 x 4096): the same algorithm as
# mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py. The backbones run in micro-batches of
# 128 (checkpointed: one micro-batch's activations at a time, one more backbone forward), the
# projector / predictor BatchNorm and the InfoNCE loss over the whole batch, whose keys are the
# same 4096 negatives; gradients are the full batch's. Not accumulative_counts, which would
# change the loss (refused for MoCo v3).
_base_ = ['./mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py']
model = dict(micro_batch_size=128)
train_dataloader = dict(batch_size=4096)
