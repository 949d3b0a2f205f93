# BEiT v2 ViT-L/16, 300 epochs, as beitv2_vit-large-p16_16xb128-amp-coslr-300e_in1k.py but
# trained with FSDP (FlexibleRunner): parameters, gradients and AdamW states sharded across the
# ranks, one FSDP unit per transformer block, the frozen VQ-KD tokenizer whole on every rank.
# The update is the DDP one (global-norm clipping, the same weight-decay groups):
# tests/test_engine/test_fsdp_strategy.py. Checkpoints are consolidated on rank 0, as DDP's.
#   bash tools/dist_train.sh configs/beitv2/beitv2_vit-large-p16_16xb128-fsdp-amp-coslr-300e_in1k.py 16
# Other FSDP settings go under model_wrapper, e.g. all-gathers in bf16:
#   model_wrapper=dict(mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32'))
_base_ = './beitv2_vit-large-p16_16xb128-amp-coslr-300e_in1k.py'
strategy = dict(type='mmbeit.FSDPStrategy', state_dict_cfg='full')
