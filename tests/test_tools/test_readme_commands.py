"""Every command line in README.md's and docs/*.md's shell blocks (and every ``python`` /
``bash`` / ``make`` command in their inline code) works as written.

Each command is either run here, as written, in a sandbox folder on tiny generated inputs
(the DALL-E and CLIP conversion one-liners, the backbone extraction and its
``--cfg-options`` load), or named in ``COMMANDS`` with the tests elsewhere that run it. On
top of that every command is checked here: the repository paths it names exist, its options
are options of the tool, and the ``--cfg-options`` keys of a config it launches already exist
in that config (a mistyped key, or one that adds a half-built loader, fails). A command added
to the docs without an entry in ``COMMANDS`` fails ``test_every_documented_command_is_mapped``.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.test_tools.tool_module import load_tool

DOCS = ['README.md', *sorted(str(p.relative_to(REPO_ROOT))
                             for p in (REPO_ROOT / 'docs').glob('*.md'))]
SHELL_FENCES = ('```bash', '```sh', '```shell', '```console')

TORCHRUN = 'tests/test_tools/test_torchrun.py::'
LAUNCH = 'tests/test_tools/test_launch_scripts.py::'
HERE = 'tests/test_tools/test_readme_commands.py::'
TRAIN_FLAGS = ('tests/test_tools/test_train_resume.py::test_killed_run_resumes_bit_identical',
               'tests/test_tools/test_train_args.py::test_zero_wraps_the_config_optimizer',
               'tests/test_tools/test_train_args.py::test_precision_flag_sets_the_cpu_wrapper')
OWN_FOLDER = ('tests/test_configs/test_unlabeled_folder_configs.py::'
              'test_imagenet_recipe_pipeline_runs_on_the_folder',
              'tests/test_configs/test_unlabeled_folder_configs.py::'
              'test_pretraining_config_trains_on_the_folder')
DIST_TRAIN = TORCHRUN + 'test_dist_train_sh_two_ranks_train_identical_weights'
CKPT_KEYS = 'tests/test_configs/test_checkpoint_overrides.py::' \
            'test_child_config_checkpoint_reaches_the_model_dict'
BENCH_CFG = 'tests/test_configs/test_benchmark_configs.py::' \
            'test_config_builds_model_and_layer_decay_optimizer'
MMDET = 'tests/test_transfer/test_mmdet_maskrcnn.py::' \
        'test_maskrcnn_trains_2_iters_from_converted_beitv2_and_evaluates_coco'
MMSEG = 'tests/test_transfer/test_mmseg_upernet.py::' \
        'test_upernet_trains_2_iters_from_converted_beitv2_and_evaluates_miou'

MOCO_MICRO = ('tests/test_configs/test_mocov3_configs.py::'
              'test_batch_4096_on_8_and_1_gpus_is_the_32_gpu_recipe_in_micro_batches',
              'tests/test_configs/test_mocov3_configs.py::test_config_builds_and_trains_two_iterations',
              'tests/test_models/test_algorithms/test_mocov3_micro_batch.py')
RELEASE_V2 = 'tests/test_converters/test_release_interop.py::' \
             'test_official_beit_v2_pretraining_to_timm_and_hf_and_back'
TIMM_CLI = 'tests/test_converters/test_timm_interop.py::' \
           'test_command_lines_round_trip_safetensors_and_record_the_model'
HF_V2 = 'tests/test_converters/test_hf_interop.py::' \
        'test_beit_v2_backbone_loads_with_automodel_final_norm_tokens_equal'
TOKENIZER = 'tests/test_converters/test_tokenizer_export.py::'

# command as written (continuations joined, comment dropped, spaces collapsed) -> the tests
# that run it (this module's included); the checks below run on every command as well
COMMANDS = {
    'make demo': ('tests/test_tools/test_demo.py::'
                  'test_demo_writes_report_then_skips_done_stages_and_resumes_interrupted',),
    'make test': (HERE + 'test_make_targets_and_venv_exist',),
    'make lint': (HERE + 'test_make_targets_and_venv_exist',),
    '. .venv/bin/activate': (HERE + 'test_make_targets_and_venv_exist',
                             LAUNCH + 'test_python_override_then_active_venv_then_repo_venv'),
    'python tools/train.py configs/beitv2/CONFIG.py --work-dir work_dirs/x [--amp] '
    '[--resume [CKPT]] [--precision auto|fp32|bf16] [--auto-scale-lr] '
    '[--cfg-options train_dataloader.batch_size=32 ...]':
        TRAIN_FLAGS + ('tests/test_engine/test_autocast_optim_wrapper.py',
                       'tests/test_configs/test_beit_configs.py::test_config_runs_two_iterations'),
    'bash tools/dist_train.sh configs/beitv2/CONFIG.py 8 [train.py args]':
        (DIST_TRAIN, LAUNCH + 'test_dist_train_sh_cli'),
    'bash tools/slurm_train.sh PARTITION JOB configs/... WORK_DIR [train.py args]':
        (LAUNCH + 'test_slurm_train_sh_cli',),
    'python tools/test.py CONFIG CHECKPOINT [--out results.pkl]':
        ('tests/test_tools/test_test_py.py::'
         'test_out_writes_per_sample_predictions_and_main_returns_the_metrics',),
    'bash tools/dist_test.sh CONFIG CHECKPOINT 8':
        (TORCHRUN + 'test_dist_test_sh_two_ranks_gather_all_predictions_into_out',
         LAUNCH + 'test_dist_test_sh_cli'),
    'bash tools/dist_train.sh CONFIG N --zero':
        (TORCHRUN + 'test_zero_run_checkpoints_and_resumes_to_the_same_weights',),
    'bash tools/dist_train.sh configs/beitv2/'
    'beitv2_vit-large-p16_16xb128-fsdp-amp-coslr-300e_in1k.py 16':
        (TORCHRUN + 'test_fsdp_run_checkpoints_and_resumes_to_the_same_weights',
         'tests/test_engine/test_fsdp_strategy.py',
         'tests/test_tools/test_train_args.py::test_plain_fsdp_strategy_means_mmbeits',
         'tests/test_configs/test_beit_configs.py::test_config_runs_two_iterations'),
    # MoCo v3 at batch 4096 on 1 and 8 GPUs
    'python tools/train.py configs/mocov3/mocov3_vit-base-p16_1xb4096-micro128-amp-coslr-300e_'
    'in1k.py': MOCO_MICRO,
    'bash tools/dist_train.sh configs/mocov3/mocov3_vit-base-p16_8xb512-micro128-amp-coslr-300e_'
    'in1k.py 8': MOCO_MICRO + (DIST_TRAIN,),
    'python benchmarks/codebook_usage.py': ('tests/test_benchmarks/test_codebook_usage.py',),
    # own images
    'OWN="train_dataloader.dataset.type=UnlabeledImageFolder '
    'train_dataloader.dataset.data_root=/data/my_images"': OWN_FOLDER,
    'bash tools/dist_train.sh configs/mocov3/mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py '
    '8 --cfg-options $OWN': OWN_FOLDER + (DIST_TRAIN,),
    'bash tools/dist_train.sh configs/beit/dvae_dalle-8192_8xb64-amp-3000kiter-256px_in1k.py 8 '
    '--cfg-options $OWN': OWN_FOLDER + (DIST_TRAIN,),
    'bash tools/dist_train.sh configs/beit/beit_vit-base-p16_16xb128-amp-coslr-300e_in1k.py 8 '
    '--cfg-options $OWN': OWN_FOLDER + (DIST_TRAIN,),
    'bash tools/dist_train.sh configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py '
    '8 --cfg-options $OWN': OWN_FOLDER + (DIST_TRAIN,),
    'bash tools/dist_train.sh configs/vqkd/vqkd_vit-base-p16_8xb64-clip-100e_in1k.py 8 '
    '--cfg-options $OWN val_dataloader.dataset.type=UnlabeledImageFolder '
    'val_dataloader.dataset.data_root=/data/my_images_val': OWN_FOLDER + (DIST_TRAIN,),
    # ImageNet settings
    'DATA="train_dataloader.dataset.data_root=/data/imagenet train_dataloader.num_workers=8"':
        (HERE + 'test_launched_config_overrides_name_existing_keys',),
    'EVAL="val_dataloader.dataset.data_root=/data/imagenet '
    'test_dataloader.dataset.data_root=/data/imagenet"':
        (HERE + 'test_launched_config_overrides_name_existing_keys',),
    'mkdir -p checkpoints':
        (HERE + 'test_dalle_one_liner_writes_a_state_dict_the_beit_recipe_loads',
         HERE + 'test_clip_one_liner_writes_a_state_dict_the_clip_teacher_loads',
         HERE + 'test_extract_backbone_then_cfg_options_load_it'),
    'python -c "import dall_e, torch; torch.save(torch.load(\'encoder.pkl\', weights_only=False)'
    '.state_dict(), \'checkpoints/dalle_encoder.pth\')"':
        (HERE + 'test_dalle_one_liner_writes_a_state_dict_the_beit_recipe_loads',),
    'python -c "import torch; torch.save(torch.jit.load(\'ViT-B-16.pt\', map_location=\'cpu\')'
    '.state_dict(), \'checkpoints/clip_vit-base-p16_openai.pth\')"':
        (HERE + 'test_clip_one_liner_writes_a_state_dict_the_clip_teacher_loads',),
    'bash tools/dist_train.sh configs/vqkd/vqkd_vit-base-p16_8xb64-clip-100e_in1k.py 8 '
    '--cfg-options $DATA $EVAL model.teacher.checkpoint=checkpoints/clip_vit-base-p16_openai.pth':
        (CKPT_KEYS, DIST_TRAIN, 'tests/test_configs/test_vqkd_configs.py::'
         'test_official_config_trains_two_iterations_on_synthetic_images'),
    'bash tools/dist_train.sh configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py '
    '8 --cfg-options $DATA model.target_generator.init_cfg.checkpoint='
    'work_dirs/vqkd_vit-base-p16_8xb64-clip-100e_in1k/epoch_100.pth':
        (CKPT_KEYS, DIST_TRAIN,
         'tests/test_converters/test_vqkd_layouts.py::test_pretrained_init_cfg_loads_in_init_weights'),
    'python tools/model_converters/extract_backbone.py work_dirs/beitv2/epoch_300.pth '
    'checkpoints/beitv2_backbone.pth --prefix backbone. --unshare-rel-pos-bias':
        (HERE + 'test_extract_backbone_then_cfg_options_load_it',
         'tests/test_converters/test_backbone_extract.py::'
         'test_cli_output_loads_through_mmengine_pretrained_init'),
    '... --cfg-options model.backbone.init_cfg.checkpoint=checkpoints/beitv2_backbone.pth':
        (HERE + 'test_extract_backbone_then_cfg_options_load_it', BENCH_CFG),
    'python tools/analysis_tools/knn_eval.py '
    'configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py '
    'work_dirs/beitv2/epoch_300.pth --data-root /data/imagenet --device cuda':
        ('tests/test_tools/test_knn_eval.py::'
         'test_pretraining_checkpoint_needs_no_tokenizer_file_and_data_root_suffices',
         'tests/test_tools/test_knn_eval.py::'
         'test_bad_data_root_fails_before_the_model_is_built_naming_folder_and_layout'),
    # docs/transfer.md
    'python tools/model_converters/unilm2mmbeit.py beitv2_base_patch16_224_pt1k.pth '
    'checkpoints/beitv2_backbone.pth --backbone-only --prefix backbone. --unshare-rel-pos-bias':
        ('tests/test_converters/test_unilm_beit.py',
         'tests/test_parity/test_beit_timm_parity.py::test_v2_backbone_only_keeps_the_final_norm'),
    'python tools/model_converters/mocov32mmbeit.py vit-b-300ep.pth.tar '
    'checkpoints/mocov3_backbone.pth':
        ('tests/test_converters/test_mocov3_release.py',
         'tests/test_parity/test_mocov3_vit_parity.py::test_release_vit_small_loads_with_equal_features'),
    'CKPT="--cfg-options model.backbone.init_cfg.checkpoint=checkpoints/beitv2_backbone.pth"':
        (BENCH_CFG, HERE + 'test_extract_backbone_then_cfg_options_load_it'),
    'bash tools/dist_train.sh '
    'configs/benchmarks/classification/beitv2_vit-base-p16_8xb128-coslr-100e_in1k.py 8 $CKPT':
        (BENCH_CFG, DIST_TRAIN),
    'python $MMDET/tools/train.py configs/benchmarks/mmdetection/'
    'mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py $CKPT': (MMDET, BENCH_CFG),
    'bash $MMDET/tools/dist_train.sh configs/benchmarks/mmdetection/'
    'cascade-mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py 8 $CKPT':
        (MMDET, BENCH_CFG),
    'bash tools/dist_train.sh configs/benchmarks/mmdetection/'
    'mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py 8 $CKPT':
        (MMDET, BENCH_CFG, DIST_TRAIN),
    'python $MMSEG/tools/train.py configs/benchmarks/mmsegmentation/'
    'upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-512x512.py $CKPT': (MMSEG, BENCH_CFG),
    'bash tools/dist_train.sh configs/benchmarks/mmsegmentation/'
    'upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-512x512.py 8 $CKPT':
        (MMSEG, BENCH_CFG, DIST_TRAIN),
    'python tools/analysis_tools/linear_probe_eval.py configs/beitv2/'
    'beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py work_dirs/beitv2/epoch_300.pth '
    '--data-root /data/my_labelled --shots 10 --device cuda':
        ('tests/test_tools/test_linear_probe_eval.py::'
         'test_probe_on_a_labelled_folder_with_all_labels_and_few_shots',),
    # weights out and in (docs/interop.md)
    'python tools/model_converters/mmbeit2timm.py work_dirs/beitv2/epoch_300.pth '
    'beitv2_b16.safetensors': (RELEASE_V2, TIMM_CLI),
    'python tools/model_converters/mmbeit2hf.py work_dirs/beitv2/epoch_300.pth hf/beitv2_b16':
        (RELEASE_V2, HF_V2),
    'python tools/model_converters/hf2mmbeit.py hf/beitv2_b16 checkpoints/beitv2_b16.pth':
        (RELEASE_V2, HF_V2),
    'python tools/model_converters/timm2mmbeit.py beitv2_b16.safetensors '
    'checkpoints/beitv2_b16.pth': (TIMM_CLI,),
    'python tools/model_converters/hf2mmbeit.py vit-base-patch16-224/ checkpoints/vit_b16.pth '
    '--drop pooler.': ('tests/test_converters/test_hf_interop.py::'
                       'test_leftovers_are_errors_unless_dropped_by_name',),
    'python tools/model_converters/export_tokenizer.py work_dirs/vqkd/epoch_100.pth '
    'vqkd.safetensors': (TOKENIZER + 'test_vqkd_training_checkpoint_exports_with_its_config',),
    'python tools/model_converters/export_tokenizer.py work_dirs/beitv2/epoch_300.pth '
    'vqkd_enc.safetensors --no-decoder':
        (TOKENIZER + 'test_beit_target_generator_without_decoder_and_dvae',),
}


# --- reading the docs ---------------------------------------------------------------------

def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in '"\'':
            quote = ch
        elif ch == '#' and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def documented_commands(doc: str):
    """(line number, command) of the shell blocks' commands and the inline ``python ...`` /
    ``bash ...`` / ``make ...`` code of ``doc``, in order."""
    out, fence, joined, start = [], False, '', 0
    for number, line in enumerate((REPO_ROOT / doc).read_text().splitlines(), 1):
        if line.startswith('```'):
            fence = False if fence else line.strip() in SHELL_FENCES
            continue
        if not fence:
            out += [(number, ' '.join(code.split())) for code in re.findall(r'`([^`]+)`', line)
                    if re.match(r'(python|bash|make) \S', code)]
            continue
        text = _strip_comment(line)
        start = start if joined else number
        if text.endswith('\\'):
            joined += text[:-1] + ' '
            continue
        command, joined = ' '.join((joined + text).split()), ''
        if command:
            out.append((start, command))
    return out


ALL = [(doc, n, c) for doc in DOCS for n, c in documented_commands(doc)]


def _variables(doc: str, before: int) -> dict:
    """The shell variables that ``doc``'s blocks assign above line ``before``."""
    out = {}
    for number, command in documented_commands(doc):
        match = re.fullmatch(r'([A-Z_]+)=(.*)', command)
        if match and number < before:
            out[match.group(1)] = shlex.split(match.group(2))[0]
    return out


def expanded_argv(doc: str, number: int, command: str):
    variables = _variables(doc, number)
    words = []
    for word in shlex.split(command):
        if word.startswith('$') and word[1:] in variables:
            words += variables[word[1:]].split()
        else:
            words.append(word)
    return words


# --- the mapping --------------------------------------------------------------------------

def test_every_documented_command_is_mapped():
    documented = {c for _, _, c in ALL}
    unmapped = sorted(f'{d}:{n}: {c}' for d, n, c in ALL if c not in COMMANDS)
    assert not unmapped, 'documented commands without a test in COMMANDS:\n' + '\n'.join(
        unmapped)
    stale = sorted(set(COMMANDS) - documented)
    assert not stale, 'COMMANDS entries no doc has any more:\n' + '\n'.join(stale)


def test_every_mapped_test_exists():
    for command, tests in COMMANDS.items():
        assert tests, command
        for node in tests:
            path, _, name = node.partition('::')
            assert (REPO_ROOT / path).is_file(), f'{node} (for {command!r})'
            if name:
                assert re.search(rf'^def {re.escape(name)}\(', (REPO_ROOT / path).read_text(),
                                 re.M), f'{node} (for {command!r})'


@pytest.mark.parametrize('doc,number,command', ALL, ids=[f'{d}:{n}' for d, n, _ in ALL])
def test_repository_paths_and_tool_options_exist(doc, number, command):
    words = shlex.split(command)
    for word in words:
        for path in re.findall(r'(?:^|=)((?:configs|tools|benchmarks|docs)/[^\s=]*)', word):
            placeholder = re.search(r'[A-Z]{3,}|\.\.\.', path)
            where = REPO_ROOT / (path.rsplit('/', 1)[0] if placeholder else path)
            assert where.exists(), f'{doc}:{number}: {path} does not exist'
    tool = next((w for w in words if re.fullmatch(r'(tools|benchmarks)/\S+\.py', w)), None)
    if tool is None:
        return
    options = _tool_options(tool)
    for flag in re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', command.split(tool, 1)[1]):
        assert flag in options, f'{doc}:{number}: {tool} has no option {flag}'
    if '[' not in command and not re.search(r' [A-Z]{3,}\b', command):  # not a template
        argv = expanded_argv(doc, number, command)
        load_tool(tool).parse_args(argv[argv.index(tool) + 1:])  # SystemExit if it refuses


@functools.cache
def _tool_options(tool: str) -> frozenset:
    """The options in ``python TOOL --help``."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), pytest.raises(SystemExit):
        load_tool(tool).parse_args(['--help'])
    return frozenset(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', text.getvalue()))


# --- what the launched configs get --------------------------------------------------------

def _launches(doc, number, command):
    """(config, the arguments after it) of a command that starts training a config."""
    words = expanded_argv(doc, number, command)
    for i, word in enumerate(words[1:], 1):
        if (re.fullmatch(r'configs/\S+\.py', word) and (REPO_ROOT / word).is_file()
                and words[i - 1].endswith(('/train.py', '/dist_train.sh'))):
            rest = words[i + 1:]
            if words[i - 1].endswith('dist_train.sh') and rest:
                assert rest[0].isdigit(), f'{doc}:{number}: GPUS after the config'
                rest = rest[1:]
            return word, rest
    return None


LAUNCHES = [(d, n, c) for d, n, c in ALL if _launches(d, n, c)]


def _assert_key_exists(cfg, key, where):
    node = cfg
    for part in key.split('.'):
        assert hasattr(node, 'keys') and part in node.keys(), (
            f'{where}: --cfg-options {key}=... names no existing key of the config '
            f'({part!r} is not there)')
        node = node[part]


@pytest.mark.parametrize('doc,number,command', LAUNCHES, ids=[f'{d}:{n}' for d, n, _ in LAUNCHES])
def test_launched_config_overrides_name_existing_keys(doc, number, command):
    from mmengine.config import Config

    config, rest = _launches(doc, number, command)
    train_tool = load_tool('tools/train.py')
    args = train_tool.parse_args([config, *rest])  # tools/train.py accepts the arguments
    cfg = Config.fromfile(str(REPO_ROOT / config))
    for key in args.cfg_options or {}:
        _assert_key_exists(cfg, key, f'{doc}:{number}')
    cfg.merge_from_dict(args.cfg_options or {})
    for stage in ('val', 'test'):  # MMEngine wants loader, loop and evaluator, or none
        given = [cfg.get(f'{stage}_{p}') is not None for p in ('dataloader', 'cfg', 'evaluator')]
        assert all(given) or not any(given), f'{doc}:{number}: half a {stage} loop'


@pytest.mark.parametrize('doc', DOCS)
def test_every_assigned_variable_is_used_by_a_launch_below_it(doc):
    """``OWN=...`` / ``DATA=...`` / ``CKPT=...`` are checked through the launches using them."""
    for number, command in documented_commands(doc):
        match = re.fullmatch(r'([A-Z_]+)=.*', command)
        if match:
            users = [c for d, n, c in LAUNCHES
                     if d == doc and n > number and f'${match.group(1)}' in c.split()]
            assert users, f'{doc}:{number}: ${match.group(1)} is used by no launch below it'


# --- run here, as written -----------------------------------------------------------------

def _command(start: str) -> str:
    """The one mapped command that starts with ``start``."""
    (command,) = [c for c in COMMANDS if c.startswith(start)]
    return command


def _sandbox(tmp_path) -> Path:
    box = tmp_path / 'box'
    box.mkdir()
    for name in ('tools', 'configs'):
        (box / name).symlink_to(REPO_ROOT / name)
    return box


def run_as_written(command: str, cwd: Path):
    """``command`` in bash, in ``cwd``, with this interpreter as ``python``."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT),
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}')
    out = subprocess.run(['bash', '-c', command], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, f'{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}'
    return out


def _build(cfg_dict):
    from mmengine.registry import init_default_scope

    from mmbeit.registry import MODELS

    init_default_scope('mmbeit')
    return MODELS.build(cfg_dict)


def test_make_targets_and_venv_exist():
    makefile = (REPO_ROOT / 'Makefile').read_text()
    for target in ('demo', 'test', 'lint'):
        assert re.search(rf'^{target}:', makefile, re.M), target
    assert re.search(r'^VENV \?= \.venv$', makefile, re.M)  # what `. .venv/bin/activate` reads


def test_dalle_one_liner_writes_a_state_dict_the_beit_recipe_loads(tmp_path):
    """OpenAI's encoder.pkl pickles the module: the one-liner turns it into the state dict
    that ``model.target_generator.init_cfg.checkpoint`` of the BEiT v1 recipe reads."""
    dall_e = pytest.importorskip('dall_e')
    from mmengine.config import Config

    box = _sandbox(tmp_path)
    torch.manual_seed(0)
    encoder = dall_e.Encoder(n_hid=64, n_blk_per_group=1, vocab_size=512)
    torch.save(encoder, box / 'encoder.pkl')  # the release format: the pickled module
    run_as_written(_command('mkdir -p checkpoints'), box)
    run_as_written(_command('python -c "import dall_e'), box)
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/beit/beit_vit-base-p16_16xb128-amp-coslr-'
                                          '300e_in1k.py'))
    tokenizer_cfg = cfg.model.target_generator.to_dict()
    assert tokenizer_cfg['init_cfg']['checkpoint'] == 'checkpoints/dalle_encoder.pth'
    tokenizer_cfg['init_cfg']['checkpoint'] = str(box / 'checkpoints' / 'dalle_encoder.pth')
    tokenizer_cfg['encoder'] = dict(n_hid=64, n_blk_per_group=1, num_tokens=512)
    tokenizer = _build(tokenizer_cfg)
    tokenizer.init_weights()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(tokenizer.tokenize(x), encoder(dall_e.map_pixels(x)).argmax(1))


def test_clip_one_liner_writes_a_state_dict_the_clip_teacher_loads(tmp_path):
    """OpenAI's ViT-B-16.pt is a TorchScript archive (fp16 weights): the one-liner turns a
    scripted open_clip model in that key layout into the state dict the teacher loads."""
    open_clip = pytest.importorskip('open_clip')

    box = _sandbox(tmp_path)
    torch.manual_seed(0)
    vision = dict(image_size=32, patch_size=16, width=128, layers=2, head_width=64)
    text = dict(context_length=8, vocab_size=64, width=64, heads=1, layers=1)
    model = open_clip.CLIP(embed_dim=64, vision_cfg=vision, text_cfg=text,
                           quick_gelu=True).eval()
    image, tokens = torch.rand(1, 3, 32, 32), torch.randint(0, 64, (1, 8))
    traced = torch.jit.trace(model, (image, tokens), check_trace=False)
    for name, p in traced.named_parameters():  # fp16 as in OpenAI's file; norms stay fp32
        if name.endswith(('conv1.weight', 'in_proj_weight', 'in_proj_bias', 'proj',
                          'text_projection')) or re.search(r'\.(out_proj|c_fc|c_proj)\.', name):
            p.data = p.data.half()
    torch.jit.save(traced, str(box / 'ViT-B-16.pt'))
    run_as_written(_command('mkdir -p checkpoints'), box)
    run_as_written(_command('python -c "import torch; torch.save(torch.jit'), box)
    saved = torch.load(box / 'checkpoints' / 'clip_vit-base-p16_openai.pth', weights_only=True)
    assert saved['visual.conv1.weight'].dtype == torch.float16
    assert saved['visual.ln_post.weight'].dtype == torch.float32
    assert 'visual.transformer.resblocks.1.attn.in_proj_weight' in saved
    teacher = _build(dict(type='CLIPTeacher', img_size=32, patch_size=16, width=128, layers=2,
                          out_dims=64,
                          checkpoint=str(box / 'checkpoints' / 'clip_vit-base-p16_openai.pth')))
    own = teacher.teacher_state_dict()
    assert own.keys() == {k[len('visual.'):] for k in saved if k.startswith('visual.')}
    for key, value in own.items():
        assert torch.equal(value, saved[f'visual.{key}'].float()), key
    assert teacher(torch.rand(2, 3, 32, 32)).shape == (2, 4, 64)


def test_extract_backbone_then_cfg_options_load_it(tmp_path):
    """README / docs/transfer.md: extract the backbone of a BEiT v2 pretraining checkpoint,
    then load it into a transfer config with ``--cfg-options
    model.backbone.init_cfg.checkpoint=...`` (tiny digits configs, same keys)."""
    from mmengine.config import Config

    box = _sandbox(tmp_path)
    knn_tool = load_tool('tools/analysis_tools/knn_eval.py')
    pretrain = Config.fromfile(str(REPO_ROOT / 'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-'
                                              '30e_digits.py'))
    model = _build(knn_tool.without_pretrained_files(pretrain.model.to_dict()))
    (box / 'work_dirs' / 'beitv2').mkdir(parents=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}},
               box / 'work_dirs' / 'beitv2' / 'epoch_300.pth')
    run_as_written(_command('mkdir -p checkpoints'), box)
    run_as_written(_command('python tools/model_converters/extract_backbone.py'), box)
    option = _command('... --cfg-options').split('--cfg-options ', 1)[1]
    transfer = Config.fromfile(str(REPO_ROOT / 'configs/benchmarks/classification/beitv2_vit-'
                                               'tiny-p4_1xb64-coslr-10e_digits.py'))
    key, value = option.split('=', 1)
    _assert_key_exists(transfer, key, '... --cfg-options')
    transfer.merge_from_dict({key: str(box / value)})
    classifier = _build(transfer.model.to_dict())
    classifier.init_weights()
    blocks = classifier.backbone.state_dict()
    source = model.backbone.state_dict()
    for name, value in blocks.items():
        if name in source:
            assert torch.equal(value, source[name]), name
