"""Registry tree: scope 'mmbeit' builds mmbeit and mmpretrain types; mmdet/mmseg reach mmbeit."""
from __future__ import annotations

from mmengine.registry import DefaultScope, init_default_scope


def test_mmbeit_scope_builds_both_mmbeit_and_mmpretrain_types():
    from mmbeit.registry import MODELS

    init_default_scope('mmbeit')
    backbone = MODELS.build(dict(type='BEiTViT', arch='tiny', img_size=32, patch_size=16))
    head = MODELS.build(dict(type='LinearClsHead', num_classes=3, in_channels=192))
    assert type(backbone).__module__.startswith('mmbeit.')
    assert type(head).__module__.startswith('mmpretrain.')


def test_mmpretrain_registry_reaches_mmbeit_with_prefix():
    from mmpretrain.registry import MODELS

    import mmbeit.models  # noqa: F401  (what custom_imports does)

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = MODELS.build(dict(type='mmbeit.BEiTViT', arch='tiny', img_size=32))
    assert type(backbone).__name__ == 'BEiTViT'


def test_registry_locations_import_on_demand():
    from mmbeit.registry import DATASETS, HOOKS, OPTIM_WRAPPERS

    init_default_scope('mmbeit')
    found = (DATASETS.get('DigitsDataset'), HOOKS.get('RandomStateHook'),
             OPTIM_WRAPPERS.get('AutocastOptimWrapper'))
    from mmbeit.datasets import DigitsDataset
    from mmbeit.engine.hooks import RandomStateHook
    from mmbeit.engine.optimizers import AutocastOptimWrapper

    assert found == (DigitsDataset, RandomStateHook, AutocastOptimWrapper)


def test_mmdet_and_mmseg_registries_reach_mmbeit_with_prefix():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    import mmbeit.models  # noqa: F401  (what custom_imports does)

    for registry, scope in ((DET_MODELS, 'mmdet'), (SEG_MODELS, 'mmseg')):
        with DefaultScope.overwrite_default_scope(scope):
            backbone = registry.build(dict(type='mmbeit.BEiTViT', arch='tiny', img_size=32))
        assert type(backbone).__name__ == 'BEiTViT'
