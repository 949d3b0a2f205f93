"""tools/train.py turns its flags into config settings: --zero, --precision, FlexibleRunner
strategies."""
from __future__ import annotations

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import FlexibleRunner

from tests.conftest import REPO_ROOT
from tests.test_tools.tool_module import load_tool
from tests.tiny_cls_config import write_tiny_config


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('tools/train.py')


def test_zero_wraps_the_config_optimizer(train_tool, tmp_path, digits_root):
    cfg_path = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root)
    args = train_tool.parse_args([cfg_path, '--zero', '--launcher', 'pytorch'])
    cfg = train_tool.merge_args(Config.fromfile(cfg_path), args)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'ZeroRedundancyOptimizer' and opt.optimizer_type == 'AdamW'
    assert opt.lr == 1e-3 and opt.weight_decay == 0.05
    # MMEngine saves on rank 0 only; the hook lets every rank gather the shards first
    assert [h for h in cfg.custom_hooks if h['type'] == 'mmbeit.ZeroCheckpointHook']


def test_zero_without_launcher_or_with_a_non_torch_optimizer_says_what_to_do(
        train_tool, tmp_path, digits_root):
    cfg_path = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root)
    with pytest.raises(SystemExit, match='dist_train.sh'):
        train_tool.merge_args(Config.fromfile(cfg_path),
                              train_tool.parse_args([cfg_path, '--zero']))
    args = train_tool.parse_args([cfg_path, '--zero', '--launcher', 'pytorch',
                                  '--cfg-options', 'optim_wrapper.optimizer.type=LARS'])
    with pytest.raises(SystemExit, match="torch.optim optimizers only.*'LARS'"):
        train_tool.merge_args(Config.fromfile(cfg_path), args)
    args = train_tool.parse_args([cfg_path, '--zero', '--launcher', 'pytorch',
                                  '--cfg-options', 'strategy.type=FSDPStrategy'])
    with pytest.raises(SystemExit, match="--zero and strategy.type='FSDPStrategy' both shard"):
        train_tool.merge_args(Config.fromfile(cfg_path), args)


def test_config_with_a_strategy_trains_in_flexible_runner(train_tool, tmp_path, digits_root,
                                                          monkeypatch):
    cfg_path = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=2,
                                 ckpt_every=2)
    built = []
    original = FlexibleRunner.from_cfg.__func__

    def record(cls, cfg):
        runner = original(cls, cfg)
        built.append(runner)
        return runner

    monkeypatch.setattr(FlexibleRunner, 'from_cfg', classmethod(record))
    train_tool.main([cfg_path, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                     "strategy.type=SingleDeviceStrategy"])
    assert len(built) == 1 and (tmp_path / 'work' / 'iter_2.pth').exists()


def test_plain_fsdp_strategy_means_mmbeits(train_tool, tmp_path, digits_root):
    """FlexibleRunner builds the strategy before entering the mmbeit scope: the plain name
    would get MMEngine's FSDPStrategy (rank-local clipping, no resume on torch >= 2.1)."""
    from mmengine.registry import STRATEGIES

    from mmbeit.engine.runner import FSDPStrategy

    cfg_path = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root)
    args = train_tool.parse_args([cfg_path, '--cfg-options', 'strategy.type=FSDPStrategy'])
    cfg = train_tool.merge_args(Config.fromfile(cfg_path), args)
    assert cfg.strategy.type == 'mmbeit.FSDPStrategy'
    assert type(STRATEGIES.build(cfg.strategy)) is FSDPStrategy  # no default scope needed
    fsdp_recipe = Config.fromfile(str(REPO_ROOT / 'configs/beitv2/beitv2_vit-large-p16_16xb128-'
                                                  'fsdp-amp-coslr-300e_in1k.py'))
    assert type(STRATEGIES.build(fsdp_recipe.strategy)) is FSDPStrategy


DEMO_MOCOV3 = str(REPO_ROOT / 'configs/demo/mocov3_vit-tiny-p4_1xb128-demo_digits.py')


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU rule')
@pytest.mark.parametrize('flags, want', [
    ([], dict(type='AutocastOptimWrapper', dtype='bfloat16')),  # the wrapper decides (auto)
    (['--precision', 'fp32'], dict(type='OptimWrapper')),
    (['--amp', '--precision', 'fp32'], dict(type='OptimWrapper')),
    (['--precision', 'bf16'], dict(type='mmbeit.AutocastOptimWrapper', dtype='bfloat16',
                                   precision='bf16')),
])
def test_precision_flag_sets_the_cpu_wrapper(train_tool, flags, want):
    cfg = train_tool.merge_args(Config.fromfile(DEMO_MOCOV3),
                                train_tool.parse_args([DEMO_MOCOV3, *flags]))
    wrapper = {k: v for k, v in cfg.optim_wrapper.items() if k not in ('optimizer', 'clip_grad',
                                                                        'paramwise_cfg')}
    assert wrapper == want


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU rule')
def test_bf16_precision_on_a_plain_fp32_recipe_turns_autocast_on(train_tool, tmp_path,
                                                                digits_root):
    cfg_path = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root)
    cfg = train_tool.merge_args(Config.fromfile(cfg_path),
                                train_tool.parse_args([cfg_path, '--precision', 'bf16']))
    assert cfg.optim_wrapper.type == 'mmbeit.AutocastOptimWrapper'
    assert cfg.optim_wrapper.precision == 'bf16'
    with pytest.raises(SystemExit):
        train_tool.parse_args([cfg_path, '--precision', 'fp16'])


def test_accumulation_on_mocov3_is_refused_and_names_micro_batch_size(train_tool):
    path = str(REPO_ROOT / 'configs/mocov3/mocov3_vit-small-p16_32xb128-amp-coslr-300e_in1k.py')
    args = train_tool.parse_args([path, '--cfg-options', 'optim_wrapper.accumulative_counts=4'])
    with pytest.raises(ValueError, match='accumulative_counts=4.*model.micro_batch_size'):
        train_tool.merge_args(Config.fromfile(path), args)
    ok = train_tool.parse_args([path, '--cfg-options', 'model.micro_batch_size=32'])
    assert train_tool.merge_args(Config.fromfile(path), ok).model.micro_batch_size == 32


@pytest.mark.parametrize('options,match', [
    (['load_frm=x.pth'], r"'load_frm' is not a setting the runner reads.*did you mean "
                         r"'load_from'\?"),
    (['work_dirs=/tmp/x'], r"did you mean 'work_dir'\?"),
    (['model.data_preprocessor.std=[58.4,0,57.4]'],
     r'model.data_preprocessor.std\[1\]=0: every std must be > 0'),
])
def test_config_mistakes_mmengine_ignores_are_refused_before_the_run(train_tool, options, match):
    path = str(REPO_ROOT / 'configs/mocov3/mocov3_vit-small-p16_32xb128-amp-coslr-300e_in1k.py')
    args = train_tool.parse_args([path, '--cfg-options', *options])
    with pytest.raises(ValueError, match=match):
        train_tool.merge_args(Config.fromfile(path), args)


def test_every_shipped_config_passes_the_config_check():
    from mmbeit.engine.runner.config_check import config_problems

    paths = [p for p in sorted((REPO_ROOT / 'configs').rglob('*.py')) if '_base_' not in p.parts]
    assert len(paths) > 30
    demo_targets = {'beitv2_vit-tiny-p4_1xb64-demo_digits': 'model.target_generator',
                    'vqkd_vit-tiny-p4_1xb64-mocov3-teacher-demo_digits': 'model.teacher'}
    for path in paths:
        cfg = Config.fromfile(str(path))
        if path.stem in demo_targets:  # tools/demo.py passes the earlier stage's checkpoint
            cfg.merge_from_dict({demo_targets[path.stem] + '.checkpoint': 'stage.pth'})
        assert config_problems(cfg) == [], path


def test_a_frozen_target_without_weights_is_refused_unless_asked_for(train_tool):
    path = str(REPO_ROOT / 'configs/demo/beitv2_vit-tiny-p4_1xb64-demo_digits.py')
    with pytest.raises(ValueError, match=r'model.target_generator \(VQKDTokenizer\) has no '
                       r'checkpoint, so training would chase a random tokenizer'):
        train_tool.merge_args(Config.fromfile(path), train_tool.parse_args([path]))
    asked = train_tool.parse_args([path, '--cfg-options',
                                   'model.target_generator.checkpoint=random'])
    cfg = train_tool.merge_args(Config.fromfile(path), asked)
    from mmengine.registry import init_default_scope

    from mmbeit.registry import MODELS
    init_default_scope('mmbeit')
    assert MODELS.build(cfg.model.target_generator).num_tokens == 64  # random weights, built
