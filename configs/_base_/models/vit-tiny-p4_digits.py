# The tiny ViTs of the digits recipes and of the demo stages (configs/demo/), each written once:
# 32 px images in 4 px patches (an 8x8 grid). A config builds its model around them by name,
# e.g. backbone=dict(_base_.beit_vit_tiny, out_indices=[3, 5]), so that a model trained by one
# stage is by construction the one the next stage loads.
# MoCo v3 (configs/mocov3/*_digits.py, demo stage 1), and as out_type='featmap' the VQ-KD
# teacher that loads its checkpoint (configs/vqkd/*mocov3-teacher*, demo stage 2)
mocov3_vit_tiny = dict(type='MoCoV3ViT', arch=dict(embed_dims=192, num_layers=4, num_heads=3),
                       img_size=32, patch_size=4)
# the VQ-KD tokenizer's encoder (configs/vqkd/*_digits.py, demo stage 2), and the BEiT v2
# target generator that loads its checkpoint (demo stage 3)
vqkd_encoder_tiny = dict(arch=dict(embed_dims=64, num_layers=4, num_heads=4), img_size=32,
                         patch_size=4)
# BEiT v1 / v2 (configs/beit*/*_digits.py, demo stage 3) and their fine-tuning / linear probe
# (configs/benchmarks/classification/*_digits.py)
beit_vit_tiny = dict(type='BEiTViT', arch=dict(embed_dims=128, num_layers=6, num_heads=4),
                     img_size=32, patch_size=4, layer_scale_init_value=0.1)
# the frozen random tokenizer of the BEiT digits recipes: 64 tokens, one per 4 px patch
random_tokenizer_tiny = dict(type='RandomProjectionTokenizer', num_tokens=64, patch_size=4,
                             embed_dims=4, seed=0)
