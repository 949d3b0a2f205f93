"""Every config in configs/benchmarks/ parses, builds its model and its optimizer wrapper."""
import glob
import importlib
from pathlib import Path

import pytest
from mmengine import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in glob.glob(str(REPO / 'configs/benchmarks/**/*.py'), recursive=True)
                 if '/_base_/' not in p)
REGISTRIES = {'mmbeit': 'mmbeit.registry', 'mmdet': 'mmdet.registry', 'mmseg': 'mmseg.registry'}


def test_there_are_configs_for_each_downstream_task():
    names = [Path(p).parent.name for p in CONFIGS]
    assert {'classification', 'mmdetection', 'mmsegmentation'} <= set(names)


@pytest.fixture(autouse=True)
def restore_default_scope():
    """init_default_scope('mmseg') must not leak into the tests that follow."""
    before = DefaultScope.get_current_instance()
    yield
    init_default_scope(before.scope_name if before is not None else 'mmbeit')


@pytest.mark.parametrize('path', CONFIGS, ids=[Path(p).name for p in CONFIGS])
def test_config_builds_model_and_layer_decay_optimizer(path):
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope', 'mmbeit')
    if scope != 'mmbeit':
        pytest.importorskip(scope)
    for module in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(module)
    init_default_scope(scope)
    models = importlib.import_module(REGISTRIES[scope]).MODELS
    model_cfg = cfg.model
    model_cfg.backbone.pop('init_cfg', None)  # no pretrained file in tests
    if scope == 'mmdet':  # same structure; a 1024 px grid only makes index tables slow to build
        model_cfg.backbone.img_size = (256, 256)
    if scope == 'mmbeit':
        model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = models.build(model_cfg)
    assert type(model.backbone).__name__ == 'BEiTViT'
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':  # needs a GPU; same param groups
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    lrs = [g['lr'] for g in optim.optimizer.param_groups]
    lr = cfg.optim_wrapper.optimizer.lr
    if 'layer_decay_rate' in cfg.optim_wrapper.get('paramwise_cfg', {}):
        # one lr per layer: lr * decay ** (depth + 1 - i) for the embedding (i = 0), each block
        # and the rest (neck / head, i = depth + 1)
        decay = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
        depth = model.backbone.num_layers
        expected = [lr * decay ** (depth + 1 - i) for i in range(depth + 2)]
        assert sorted(set(lrs)) == pytest.approx(expected)
    else:  # a linear probe: the frozen backbone has no group, neck + head train at lr
        assert lrs == [lr]


LINEAR_PROBES = ['configs/benchmarks/classification/' + name for name in (
    'beitv2_vit-tiny-p4_linear-1xb64-coslr-10e_digits.py',
    'beitv2_vit-base-p16_linear-8xb256-coslr-100e_in1k.py')] + [
    'configs/mocov3/mocov3_vit-small-p16_linear-8xb128-coslr-90e_in1k.py']


@pytest.mark.parametrize('path', LINEAR_PROBES, ids=[Path(p).name for p in LINEAR_PROBES])
def test_linear_probe_trains_only_neck_and_head_and_logs_their_lr(path):
    """The whole backbone is frozen (shared bias and norms too), and the lr MMEngine logs (the
    first param group's) is the classifier's, not a frozen group's 0."""
    from mmbeit.registry import MODELS

    cfg = Config.fromfile(str(REPO / path))
    init_default_scope('mmbeit')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(('neck.', 'head.')) for n in trainable), trainable
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert wrapper.get_lr()['lr'][0] == cfg.optim_wrapper.optimizer.lr > 0


# fine-tuning recipe -> (layer decay, epochs, warm-up epochs, batch per GPU of 8)
FINETUNES = {
    'beit_vit-base-p16_8xb128-coslr-100e_in1k.py': (0.65, 100, 20, 128),
    'beitv2_vit-base-p16_8xb128-coslr-100e_in1k.py': (0.65, 100, 20, 128),
    'beitv2_vit-base-p16_8xb128-coslr-100e-1600e-pt_in1k.py': (0.6, 100, 20, 128),
    'mocov3_vit-base-p16_8xb64-coslr-150e_in1k.py': (0.65, 150, 5, 64),
}


@pytest.mark.parametrize('name', sorted(FINETUNES))
def test_finetune_recipe_schedule(name):
    """The shared fine-tuning schedule: AdamW 5e-4 for 8 GPUs x the batch, layer decay, warm-up
    then cosine to 1e-6 at the last epoch."""
    decay, epochs, warmup_epochs, batch = FINETUNES[name]
    cfg = Config.fromfile(str(REPO / 'configs/benchmarks/classification' / name))
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999),
                                               weight_decay=0.05, fused=True)
    assert cfg.optim_wrapper.paramwise_cfg == dict(layer_decay_rate=decay)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, warmup_epochs)
    assert (cosine.type, cosine.begin, cosine.end, cosine.T_max, cosine.eta_min) == (
        'CosineAnnealingLR', warmup_epochs, epochs, epochs - warmup_epochs, 1e-6)
    assert cfg.train_cfg == dict(by_epoch=True, max_epochs=epochs, val_interval=1)
    assert cfg.train_dataloader.batch_size == cfg.val_dataloader.batch_size == batch
    assert cfg.auto_scale_lr.base_batch_size == 8 * batch
