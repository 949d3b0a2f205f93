"""Which codes the codebook-patch grid shows: the most frequent textured ones first."""
import numpy as np

from mmbeit.visualization.codebook_patches import textured_codes


def test_uniform_codes_give_way_to_textured_ones_then_fill_up():
    rng = np.random.default_rng(0)
    flat = [np.zeros((4, 4, 3), np.uint8)] * 3
    texture = [rng.integers(0, 255, (4, 4, 3), dtype=np.uint8) for _ in range(3)]
    bank = {0: flat, 1: texture, 2: flat, 3: texture}
    counts = np.array([100, 5, 50, 7, 0])
    assert textured_codes(bank, counts, 2) == [3, 1]
    assert textured_codes(bank, counts, 4) == [3, 1, 0, 2]  # code 4 never occurred
