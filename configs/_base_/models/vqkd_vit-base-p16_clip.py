# VQ-KD tokenizer training, official sizes: ViT-B/16 encoder, 8192 x 32 codebook, 3-layer
# decoder, CLIP ViT-B/16 teacher (512-d targets). The teacher loads a local OpenAI CLIP file;
# another one, in a child config: model = dict(teacher=dict(checkpoint='PATH')), or
# --cfg-options model.teacher.checkpoint=PATH.
model = dict(
    type='VQKD',
    data_preprocessor=dict(  # tokenizer input in [-1, 1]; the teacher renormalises itself
        type='ClsDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        to_rgb=True),
    tokenizer=dict(
        type='VQKDTokenizer',
        encoder=dict(arch='base', img_size=224, patch_size=16),
        num_tokens=8192,
        code_dims=32,
        decoder=dict(embed_dims=768, num_layers=3, num_heads=12),
        target_dims=512,
        # official: no dead-code restarts, no entropy loss. mmbeit's additions (docs/presets.md):
        # dead_code_window=100 restarts codes unused for 100 steps; entropy_weight=0.1 (with
        # entropy_temperature=0.01, entropy_tokens=4096) spreads the encoder outputs over the
        # codes (benchmarks/codebook_usage.py: 97 % of 8192 codes used with both)
        quantizer=dict(decay=0.99, beta=1.0, kmeans_init=True, dead_code_window=0)),
    teacher=dict(type='CLIPTeacher', img_size=224, patch_size=16, width=768, layers=12,
                 out_dims=512, checkpoint='checkpoints/clip_vit-base-p16_openai.pth'))
