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
    assert len(lrs) > 0
    if 'layer_decay_rate' in cfg.optim_wrapper.get('paramwise_cfg', {}):
        decay = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
        depth = model.backbone.num_layers
        assert min(lrs) == pytest.approx(cfg.optim_wrapper.optimizer.lr * decay ** (depth + 1))
        assert max(lrs) == pytest.approx(cfg.optim_wrapper.optimizer.lr)


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
