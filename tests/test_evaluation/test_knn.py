import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mmbeit.evaluation import extract_features, knn_accuracy, knn_classify
from tests.dist_utils import run_distributed


def test_weighted_vote_uses_exp_similarity_over_temperature():
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.05]])
    # k=1: nearest neighbour is class 0
    assert knn_classify(bank, labels, query, k=1).tolist() == [0]
    # k=3: exp(cos/T) weights; two class-1 neighbours outvote one class-0 at large T ...
    assert knn_classify(bank, labels, query, k=3, temperature=10.0).tolist() == [1]
    # ... while a small T makes the closest one dominate
    assert knn_classify(bank, labels, query, k=3, temperature=0.01).tolist() == [0]


def test_knn_accuracy_on_separable_clusters_and_bad_shapes():
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=gen) * 5
    labels = torch.arange(4).repeat_interleave(25)
    feats = centers[labels] + torch.randn(100, 16, generator=gen)
    assert knn_accuracy(feats[::2], labels[::2], feats[1::2], labels[1::2]) == 100.0
    noise = torch.randn(100, 16, generator=gen)
    assert knn_accuracy(noise[::2], labels[::2], noise[1::2], labels[1::2], k=5) < 70.0
    with pytest.raises(ValueError, match='same C'):
        knn_classify(feats, labels, feats[:, :3])


class _Toy(Dataset):
    """Images whose mean encodes the label; PackInputs-like items."""

    def __len__(self):
        return 11  # odd: the sampler pads one rank, the merge must drop the duplicate

    def __getitem__(self, i):
        img = torch.full((3, 4, 4), float(i * 10), dtype=torch.uint8)
        sample = DataSample(metainfo=dict(sample_idx=i)).set_gt_label(i % 3)
        return dict(inputs=img, data_samples=sample)


class _MeanBackbone(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return (x.mean(dim=(2, 3)) * self.scale,)


def _loader(sampler=None):
    return DataLoader(_Toy(), batch_size=3, sampler=sampler, collate_fn=default_collate)


def test_extract_features_bare_backbone_in_order():
    feats, labels = extract_features(_MeanBackbone(), _loader())
    assert labels.tolist() == [i % 3 for i in range(11)]
    # item i is the constant image i * 10: its per-channel mean after the default ImageNet
    # normalisation of a bare backbone, in dataset order
    mean, std = torch.tensor([123.675, 116.28, 103.53]), torch.tensor([58.395, 57.12, 57.375])
    torch.testing.assert_close(feats, (torch.arange(11.0)[:, None] * 10 - mean) / std)


def _gather_worker(rank, world_size):
    sampler = DistributedSampler(_Toy(), num_replicas=world_size, rank=rank, shuffle=False)
    return extract_features(_MeanBackbone(), _loader(sampler))


def test_extract_features_gathers_banks_of_two_ranks(tmp_path):
    single_f, single_y = extract_features(_MeanBackbone(), _loader())
    for feats, labels in run_distributed(_gather_worker, 2, tmp_path):
        assert torch.allclose(feats, single_f) and torch.equal(labels, single_y)
