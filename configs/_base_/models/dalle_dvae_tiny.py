# A tiny DALL-E dVAE for CPU runs on 32 px images: 64 codes, n_hid 32, 3 groups x 1 block
# (downsampling 4: 32 px -> 8 x 8 tokens), schedules shortened to a few hundred iterations.
model = dict(
    type='DVAE',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[0.0, 0.0, 0.0],
        std=[255.0, 255.0, 255.0],
        to_rgb=True),
    tokenizer=dict(
        type='DALLEdVAE',
        encoder=dict(group_count=3, n_hid=32, n_blk_per_group=1, num_tokens=64),
        decoder=dict(n_init=32, n_hid=32, n_blk_per_group=1),
        input_range='unit'),
    temperature=dict(start=1.0, end=1 / 16, total_iters=300, mode='cosine'),
    kl_weight=dict(start=0.0, end=6.6, total_iters=100, mode='cosine'))
