import copy
import json

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmbeit.engine.hooks.knn_monitor_hook import KNNMonitorHook
from tests.test_models.test_algorithms.test_mocov3 import DIGITS_CFG, tiny_runner_cfg


def _knn_hook(interval: int, by_epoch: bool) -> dict:
    from mmengine import Config

    hook = dict(Config.fromfile(DIGITS_CFG).custom_hooks[1])
    hook.update(interval=interval, by_epoch=by_epoch)
    return hook


def test_curve_logged_before_training_and_every_interval(tmp_path, digits_root):
    from mmbeit.evaluation import extract_features, knn_accuracy

    cfg = tiny_runner_cfg(tmp_path, max_iters=2)
    hook_cfg = _knn_hook(interval=1, by_epoch=False)
    cfg.custom_hooks = [hook_cfg]
    runner = Runner.from_cfg(cfg)
    runner.train()
    curve = json.loads((tmp_path / 'knn_curve.json').read_text())
    assert [p['iter'] for p in curve] == [0, 1, 2]
    # each point is a count of correct val images (359) in percent (float32) ...
    assert all(p['top1'] * 359 / 100 == pytest.approx(round(p['top1'] * 359 / 100), abs=1e-4)
               for p in curve)
    # ... and the last one is the weighted kNN of the trained model, recomputed here
    bank, query = (extract_features(runner.model, Runner.build_dataloader(hook_cfg[split]))
                   for split in ('train_dataloader', 'val_dataloader'))
    top1 = knn_accuracy(*bank, *query, k=hook_cfg['k'], temperature=hook_cfg['temperature'])
    assert curve[-1]['top1'] == pytest.approx(top1, abs=1e-9)
    assert runner.message_hub.get_scalar('train/knn/top1').current() == curve[-1]['top1']


@pytest.mark.slow
def test_digits_mocov3_then_vqkd_beat_random_init_on_knn_and_linear_probe(tmp_path,
                                                                          digits_root):
    """Embedded digits, CPU: a small MoCo v3 ViT raises its kNN monitor's curve and beats the
    same network at random init on kNN; a VQ-KD tokenizer distilled from it beats a random-init
    tokenizer on kNN and linear probe of the features decoded from its tokens.

    (The full-label linear probe separates these digits even from a random ViT's CLS token,
    ~96 %, so the MoCo v3 backbone is compared on kNN; the demo report shows both probes.)
    """
    import torch
    from mmengine.config import Config

    from mmbeit.apis.demo_report import DecodedTokens
    from mmbeit.datasets import DigitsDataset
    from mmbeit.evaluation import knn_accuracy, linear_probe
    from mmbeit.evaluation.backbone_features import backbone_features, load_images
    from mmbeit.registry import MODELS

    cfg = tiny_runner_cfg(tmp_path / 'mocov3', max_iters=90)
    arch = dict(embed_dims=64, num_layers=2, num_heads=2)
    cfg.model.backbone.update(arch=arch, patch_size=4)
    cfg.model.neck.update(in_channels=64, hid_channels=256, out_channels=64)
    cfg.model.predictor.update(in_channels=64, hid_channels=256, out_channels=64)
    cfg.train_dataloader.batch_size = 64
    cfg.optim_wrapper.optimizer.lr = 2e-3
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                                end=10),
                           dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=90)]
    cfg.default_hooks.checkpoint = None
    cfg.custom_hooks = [_knn_hook(interval=30, by_epoch=False)]
    runner = Runner.from_cfg(cfg)
    random_init = {}
    runner.register_hook(_CopyBackboneBeforeTraining(random_init), priority='LOWEST')
    runner.train()
    curve = json.loads((tmp_path / 'mocov3' / 'knn_curve.json').read_text())
    assert [p['iter'] for p in curve] == [0, 30, 60, 90]
    start, end = curve[0]['top1'], curve[-1]['top1']
    assert end >= start + 5.0, f'kNN monitor top-1 {start:.1f} -> {end:.1f}'
    teacher_ckpt = tmp_path / 'mocov3.pth'
    torch.save(dict(state_dict=runner.model.state_dict()), teacher_ckpt)

    # stage 2: VQ-KD with that MoCo v3 backbone as the teacher (the demo's recipe, shrunk)
    vq = Config.fromfile('configs/demo/vqkd_vit-tiny-p4_1xb64-mocov3-teacher-demo_digits.py')
    vq.work_dir = str(tmp_path / 'vqkd')
    vq.log_level = 'WARNING'
    vq.model.teacher.backbone.arch = arch
    vq.model.teacher.checkpoint = str(teacher_ckpt)
    vq.model.tokenizer.target_dims = 64
    vq.model.tokenizer.encoder.arch = dict(embed_dims=64, num_layers=2, num_heads=4)
    vq.train_cfg = dict(type='IterBasedTrainLoop', max_iters=500, val_interval=1000)
    vq.param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                               end=10),
                          dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=500)]
    vq.default_hooks.checkpoint = None
    vq.custom_hooks = []
    vq.optim_wrapper = dict(type='OptimWrapper', optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.99), weight_decay=1e-4))
    vq_runner = Runner.from_cfg(vq)
    vq_runner.train()
    random_tokenizer = MODELS.build(vq.model.tokenizer)
    random_tokenizer.init_weights()

    x_train, y_train = load_images(DigitsDataset(data_root=str(digits_root), split='train'))
    x_val, y_val = load_images(DigitsDataset(data_root=str(digits_root), split='val'))

    def probes(features, pooling):
        f_train = backbone_features(features, x_train, pooling)
        f_val = backbone_features(features, x_val, pooling)
        return dict(knn=knn_accuracy(f_train, y_train, f_val, y_val, k=20, temperature=0.07),
                    linear=linear_probe(f_train, y_train, f_val, y_val, num_classes=10))

    moco = dict(trained=probes(runner.model.backbone.eval(), 'cls'),
                random=probes(random_init['backbone'], 'cls'))
    assert moco['trained']['knn'] >= moco['random']['knn'] + 5.0, moco
    tokens = dict(trained=probes(DecodedTokens(vq_runner.model.tokenizer), 'mean_patch'),
                  random=probes(DecodedTokens(random_tokenizer), 'mean_patch'))
    assert tokens['trained']['knn'] >= tokens['random']['knn'] + 5.0, tokens
    assert tokens['trained']['linear'] >= tokens['random']['linear'] + 3.0, tokens


class _CopyBackboneBeforeTraining(Hook):
    """Keeps a copy of the initialised (not yet trained) backbone."""

    def __init__(self, store: dict) -> None:
        self.store = store

    def before_train(self, runner) -> None:
        self.store['backbone'] = copy.deepcopy(runner.model.backbone).eval()


def test_a_training_folder_elsewhere_is_named_in_a_warning():
    hook = KNNMonitorHook(
        train_dataloader=dict(dataset=dict(type='DigitsDataset', data_root='data/digits')),
        val_dataloader=dict(dataset=dict(type='DigitsDataset', data_root='data/digits')))
    own = dict(dataset=dict(type='UnlabeledImageFolder', data_root='/data/my_images'))
    warning = hook.data_mismatch(own)
    assert 'data/digits' in warning and '/data/my_images' in warning
    assert hook.data_mismatch(dict(dataset=dict(data_root='data/digits/'))) is None
    assert hook.data_mismatch(None) is None
