# BEiT v1 ViT-B/16: backbone + LM head, DALL-E dVAE targets (112 px tokenizer view).
# The dVAE encoder loads a local state dict (convert OpenAI's encoder.pkl once, see
# mmbeit/converters/dalle.py). Another file, in a child config (a top-level variable would be
# read when this file is, so a child's value would not reach the model):
#   model = dict(target_generator=dict(init_cfg=dict(checkpoint='PATH')))
# or on the command line: --cfg-options model.target_generator.init_cfg.checkpoint=PATH
model = dict(
    type='BEiT',
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        second_mean=[0.0, 0.0, 0.0],  # the tokenizer view in [0, 1]; the dVAE applies the
        second_std=[255.0, 255.0, 255.0],  # logit-laplace map x * 0.8 + 0.1 itself
        to_rgb=True),
    backbone=dict(
        type='BEiTViT',
        arch='base',
        img_size=224,
        patch_size=16,
        out_indices=[-1],
        final_norm=True,
        with_mask_token=True,
        use_shared_rel_pos_bias=True,
        layer_scale_init_value=0.1,
        drop_path_rate=0.1),
    head=dict(type='BEiTV1Head', embed_dims=768, num_tokens=8192),
    target_generator=dict(
        type='DALLEdVAE',
        with_decoder=False,  # the encoder is enough to tokenize
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/dalle_encoder.pth')))
