# DALL-E dVAE training model at the release's size: 8192 codes, n_hid 256, 4 groups x 2 blocks
# (downsampling 8: 256 px -> 32 x 32 tokens; BEiT v1 feeds it 112 px -> 14 x 14). Schedules of
# the DALL-E paper (appendix A.2): gumbel temperature cosine 1 -> 1/16 over the first 150k
# updates, KL weight cosine 0 -> 6.6 over the first 5k updates.
model = dict(
    type='DVAE',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[0.0, 0.0, 0.0],
        std=[255.0, 255.0, 255.0],  # RGB in [0, 1]; the dVAE maps x -> 0.8 x + 0.1 itself
        to_rgb=True),
    tokenizer=dict(
        type='DALLEdVAE',
        encoder=dict(group_count=4, n_hid=256, n_blk_per_group=2, num_tokens=8192),
        decoder=dict(n_init=128, n_hid=256, n_blk_per_group=2),
        input_range='unit'),
    temperature=dict(start=1.0, end=1 / 16, total_iters=150000, mode='cosine'),
    kl_weight=dict(start=0.0, end=6.6, total_iters=5000, mode='cosine'))
