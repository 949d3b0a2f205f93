"""The tree's layering and its import-time behaviour (see README, "Layout").

Layers, lowest first; a module imports only from lower layers or from its own package:
utils / registry -> datasets, models -> converters, evaluation -> engine -> visualization
-> apis.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmbeit'
LAYERS: Dict[str, int] = {
    'mmbeit': 0, 'mmbeit.registry': 0, 'mmbeit.utils': 0,
    'mmbeit.datasets': 1, 'mmbeit.models': 1,
    'mmbeit.converters': 2, 'mmbeit.evaluation': 2,
    'mmbeit.engine': 3,
    'mmbeit.visualization': 4,
    'mmbeit.apis': 5,
}


def _unit(module: str) -> str:
    """The layered unit a module belongs to: 'mmbeit.models.backbones.x' -> 'mmbeit.models'."""
    parts = module.split('.')
    name = 'mmbeit' if module == 'mmbeit.version' else '.'.join(parts[:2])
    if name not in LAYERS:
        raise AssertionError(f'{module} is in no layer; add {name} to LAYERS and the README')
    return name


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def _imports(path: Path, source: Optional[str] = None) -> Iterator[Tuple[int, str]]:
    """(line, absolute module) of every mmbeit import in a file (or ``source`` given as if it
    were that file), function-local ones too."""
    module = _module_name(path)
    package = module if path.name == '__init__.py' else module.rsplit('.', 1)[0]
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'mmbeit':
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.split('.')[0] == 'mmbeit':
                yield node.lineno, target


def _upward(path: Path, source: Optional[str] = None) -> List[str]:
    src = _unit(_module_name(path))
    found = []
    for line, target in sorted(_imports(path, source)):
        dst = _unit(target)
        if dst != src and LAYERS[dst] >= LAYERS[src]:
            found.append(f'{path.relative_to(ROOT)}:{line} ({src}, layer {LAYERS[src]}) '
                         f'imports {target} (layer {LAYERS[dst]})')
    return found


def test_every_import_points_down_or_inside_its_package():
    upward = [u for path in sorted(PACKAGE.rglob('*.py')) for u in _upward(path)]
    assert not upward, 'imports that do not point down:\n' + '\n'.join(upward)


def test_the_layer_check_sees_upward_and_sideways_imports():
    """The checker itself, on a models file that imports the engine (absolute, relative,
    inside a function) and the datasets (same layer, other package)."""
    probe = PACKAGE / 'models' / 'heads' / 'probe.py'
    source = ('import torch\nfrom mmbeit.utils import strip_prefix\nfrom ..losses import x\n'
              'def f():\n    from mmbeit.engine import hooks\n    from ...engine import y\n'
              'from mmbeit.datasets import DigitsDataset\n')
    assert _upward(probe, source) == [
        'mmbeit/models/heads/probe.py:5 (mmbeit.models, layer 1) imports mmbeit.engine '
        '(layer 3)',
        'mmbeit/models/heads/probe.py:6 (mmbeit.models, layer 1) imports mmbeit.engine '
        '(layer 3)',
        'mmbeit/models/heads/probe.py:7 (mmbeit.models, layer 1) imports mmbeit.datasets '
        '(layer 1)']


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_STATE = """
import json, sys
from mmbeit.utils.checkpoint import safe_loader_installed
def state():
    return dict(loaded=sorted(m for m in ('mmbeit.models', 'mmbeit.engine', 'mmbeit.datasets',
                                          'mmbeit.evaluation', 'mmbeit.converters',
                                          'mmbeit.visualization', 'mmbeit.apis')
                              if m in sys.modules),
                safe=safe_loader_installed())
"""


def test_import_has_no_side_effects_and_registries_load_their_packages_lazily():
    result = _run(_STATE + """
import mmbeit, mmbeit.registry
from mmengine.registry import init_default_scope
out = dict(after_import=state())
init_default_scope('mmbeit')
from mmbeit.registry import HOOKS, MODELS
MODELS.build(dict(type='BEiTViT', arch='tiny', img_size=32, patch_size=16))
out['after_model'] = state()
HOOKS.get('KNNMonitorHook')
out['after_hook'] = state()
print(json.dumps(out))
""")
    assert result['after_import'] == dict(loaded=[], safe=False)
    assert result['after_model'] == dict(loaded=['mmbeit.models'], safe=False)
    assert 'mmbeit.engine' in result['after_hook']['loaded']
    assert result['after_hook']['safe'] is True  # the one place: importing mmbeit.engine


@pytest.mark.parametrize('config', [
    'configs/benchmarks/mmdetection/mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py',
    'configs/benchmarks/mmsegmentation/upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-'
    '512x512.py'])
def test_mmdet_mmseg_configs_import_the_loader_and_reach_mmbeit(config):
    """What mmdet's / mmseg's own tools/train.py do first: read the config (custom_imports)."""
    scope = 'mmdet' if 'mmdetection' in config else 'mmseg'
    result = _run(_STATE + f"""
from mmengine.config import Config
before = state()
cfg = Config.fromfile({config!r})
from mmengine.registry import DefaultScope
from {scope}.registry import MODELS
with DefaultScope.overwrite_default_scope({scope!r}):
    vit = MODELS.build(dict(type='mmbeit.BEiTViT', arch='tiny', img_size=32))
print(json.dumps(dict(before=before, after=state(), built=type(vit).__module__)))
""")
    assert result['before'] == dict(loaded=[], safe=False)
    assert result['after']['safe'] is True
    assert result['built'] == 'mmbeit.models.backbones.beit_vit'


def test_each_registry_location_holds_exactly_its_registered_types():
    """An mmbeit location registers that registry's mmbeit types (all of them); a registry
    without mmbeit types imports mmpretrain's package of its kind, so plain names resolve."""
    import importlib

    from mmbeit import registry as reg

    registries = {n: r for n, r in vars(reg).items() if n.isupper() and hasattr(r, '_locations')}
    assert len(registries) == 19
    for location in {loc for r in registries.values() for loc in r._locations}:
        importlib.import_module(location)
    for name, r in registries.items():
        modules = {cls.__module__ for cls in r._module_dict.values()}
        assert len(r._locations) == 1, name
        location = r._locations[0]
        if location.startswith('mmbeit.'):
            assert modules and all(m.startswith(location + '.') for m in modules), \
                f'{name}: types in {sorted(modules)}, location {location}'
        else:
            assert location == r.parent._locations[0] and not modules, name
