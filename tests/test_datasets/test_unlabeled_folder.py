"""UnlabeledImageFolder: lists images at any depth, caches the list, skips unreadable files."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from mmengine.logging import MMLogger
from PIL import Image

import mmbeit.datasets.image_file_list as image_file_list
from mmbeit.datasets import UnreadableImageError
from mmbeit.registry import DATASETS

GOOD = ['a.png', 'b/c.JPG', 'b/d/e/f.jpeg', 'b/d/g.png', 'z/h.Png']
PIPELINE = [dict(type='mmpretrain.LoadImageFromFile'), dict(type='mmpretrain.PackInputs')]


def make_folder(root: Path, names=GOOD) -> Path:
    """Images at depths 0-3 (mixed-case suffixes), a corrupt JPEG, a text file, a hidden file."""
    rng = np.random.default_rng(0)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        fmt = 'JPEG' if name.lower().endswith(('jpg', 'jpeg')) else 'PNG'
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(root / name,
                                                                                  fmt)
    (root / 'b' / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg at all' * 4)
    (root / 'b' / 'notes.txt').write_text('not an image')
    (root / 'b' / '._c.JPG').write_bytes(b'macOS resource fork')
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / 'images')


@pytest.fixture
def log_lines(tmp_path):
    """An MMLogger writing to {tmp}/work/ts/ts.log, as a Runner does; yields a reader."""
    log_file = tmp_path / 'work' / 'ts' / 'ts.log'
    log_file.parent.mkdir(parents=True)
    logger = MMLogger.get_instance(f'unlabeled-{tmp_path.name}', log_file=str(log_file),
                                   log_level='INFO')
    yield lambda: log_file.read_text().splitlines()
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logger.removeHandler(handler)


def build(root, **kwargs):
    kwargs.setdefault('cache_dir', str(Path(root).parent / 'cache'))
    kwargs.setdefault('pipeline', PIPELINE)
    # _scope_: as under a runner with default_scope='mmbeit', whatever scope a test before set
    return DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(root),
                               _scope_='mmbeit', **kwargs))


def test_lists_every_image_at_any_depth_sorted_and_ignores_non_images(folder):
    ds = build(folder)
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert paths == [str(folder / p) for p in sorted(GOOD + ['b/broken.jpg'])]


def test_corrupt_image_is_skipped_named_once_with_a_running_count(folder, log_lines):
    ds = build(folder)
    bad = [i for i in range(len(ds)) if ds.get_data_info(i)['img_path'].endswith('broken.jpg')]
    for _ in range(2):  # two epochs: logged once, substituted by the next image each time
        samples = [ds[i] for i in range(len(ds))]
    assert len(samples) == len(ds) and all(s['inputs'].shape == (3, 20, 24) for s in samples)
    assert samples[bad[0]]['data_samples'].img_path == ds.get_data_info(bad[0] + 1)['img_path']
    skipped = [line for line in log_lines() if 'skipped unreadable image' in line]
    assert len(skipped) == 1
    assert str(folder / 'b' / 'broken.jpg') in skipped[0] and '1 skipped so far' in skipped[0]
    assert 'failed to load image' in skipped[0]  # the reason
    assert ds.num_unreadable == 1


def test_strict_mode_raises_on_the_first_unreadable_image_naming_it(folder):
    ds = build(folder, strict=True)
    with pytest.raises(UnreadableImageError, match='broken.jpg'):
        for i in range(len(ds)):
            ds[i]


def test_pipeline_errors_after_loading_are_raised_not_skipped(folder):
    def buggy_step(results):
        raise KeyError('gt_label')

    ds = build(folder, pipeline=[dict(type='mmpretrain.LoadImageFromFile'), buggy_step])
    with pytest.raises(KeyError, match='gt_label'):
        ds[0]
    assert ds.num_unreadable == 0


def test_empty_or_missing_root_fails_at_build_naming_the_root(tmp_path):
    empty = tmp_path / 'empty'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'sub' / 'readme.txt').write_text('no images here')
    with pytest.raises(FileNotFoundError, match=str(empty)):
        build(empty)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build(tmp_path / 'missing')


def test_cache_is_reused_and_rebuilt_when_the_tree_changes(folder, tmp_path, monkeypatch):
    cache_dir = tmp_path / 'cache'
    first = build(folder, cache_dir=str(cache_dir))
    cache_files = list(cache_dir.glob('images-*.json'))
    assert len(cache_files) == 1
    scans = []
    real_scan = image_file_list.scan_image_files
    monkeypatch.setattr(image_file_list, 'scan_image_files',
                        lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    assert len(build(folder, cache_dir=str(cache_dir))) == len(first) and not scans
    # a new image three levels down: its folder's mtime changes, the list is rebuilt
    Image.new('RGB', (8, 8)).save(folder / 'b' / 'd' / 'e' / 'new.png')
    os.utime(folder / 'b' / 'd' / 'e', ns=(1, 1))  # also on file systems with coarse mtimes
    ds = build(folder, cache_dir=str(cache_dir))
    assert len(scans) == 1 and len(ds) == len(first) + 1
    assert str(folder / 'b/d/e/new.png') in [ds.get_data_info(i)['img_path']
                                              for i in range(len(ds))]
    assert len(build(folder, cache_dir=str(cache_dir))) == len(ds) and len(scans) == 1  # cached


def test_cache_defaults_to_beside_the_work_dir(folder, tmp_path, log_lines):
    build(folder, cache_dir=None)
    assert len(list((tmp_path / '.file_lists').glob('images-*.json'))) == 1
    assert any('images under' in line for line in log_lines())


def test_ann_file_lists_relative_paths_and_ignores_imagenet_labels(folder):
    (folder / 'meta.txt').write_text('z/h.Png\nb/c.JPG 3\n\n')
    ds = build(folder, ann_file='meta.txt')
    assert [ds.get_data_info(i)['img_path'] for i in range(len(ds))] == [
        str(folder / 'z/h.Png'), str(folder / 'b/c.JPG')]
    (folder / 'wrong.txt').write_text('images/z/h.Png\n')
    with pytest.raises(FileNotFoundError, match='relative to the image folder'):
        build(folder, ann_file='wrong.txt')


def test_imagenet_config_arguments(folder):
    # split='train' names a subfolder when there is one (ImageNet layout), else the whole root
    assert len(build(folder, split='train', data_prefix='')) == len(GOOD) + 1
    assert len(build(folder, split='b')) == 4 and len(build(folder, data_prefix='z')) == 1
    with pytest.raises(ValueError, match='no labels'):
        build(folder, with_label=True)
    with pytest.raises(ValueError, match='classes'):
        build(folder, classes=['cat'])
    as_dict = build(folder, data_prefix=dict(img_path='z'))  # the mmpretrain spelling
    assert [as_dict.get_data_info(i)['img_path'] for i in range(len(as_dict))] == [
        str(folder / 'z/h.Png')]


def _two_rank_listing(rank, world_size, folder, work_dir):
    import mmbeit.datasets  # noqa: F401

    if rank == 0:  # as in a run: only rank 0's logger has the log file (knows the work dir)
        MMLogger.get_instance('two-rank', log_file=os.path.join(work_dir, 'ts', 'ts.log'))
    ds = build(folder, cache_dir=None)
    return dict(files=[ds.get_data_info(i)['img_path'] for i in range(len(ds))],
                cache_file=ds.cache_file, source=ds.list_source)


def test_two_ranks_share_rank0s_cache_and_hold_the_same_list(folder, tmp_path):
    from tests.dist_utils import run_distributed

    work_dir = tmp_path / 'work_dirs' / 'run'
    (work_dir / 'ts').mkdir(parents=True)
    out = tmp_path / 'out'
    out.mkdir()
    r0, r1 = run_distributed(_two_rank_listing, 2, out, str(folder), str(work_dir))
    assert r0['files'] == r1['files'] and len(r0['files']) == len(GOOD) + 1
    cache_files = list((tmp_path / 'work_dirs' / '.file_lists').glob('images-*.json'))
    assert [r0['cache_file']] == [r1['cache_file']] == [str(p) for p in cache_files]
    assert (r0['source'], r1['source']) == ('scan (cache written)', 'cache')


def _png_declaring(path: Path, width: int, height: int) -> None:
    """A small valid PNG whose header (IHDR) declares ``width`` x ``height`` pixels."""
    import struct
    import zlib
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, 'PNG')
    data = bytearray(path.read_bytes())
    start = data.index(b'IHDR')
    data[start + 4:start + 12] = struct.pack('>II', width, height)
    data[start + 17:start + 21] = struct.pack('>I', zlib.crc32(bytes(data[start:start + 17])))
    path.write_bytes(bytes(data))


def test_an_image_over_the_pixel_budget_is_skipped_before_decoding(folder, log_lines):
    _png_declaring(folder / 'huge.png', 20000, 20000)
    ds = build(folder, pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    huge = [i for i in range(len(ds)) if ds.get_data_info(i)['img_path'].endswith('huge.png')]
    sample = ds[huge[0]]
    assert sample['data_samples'].img_path != str(folder / 'huge.png')  # the next image
    skipped = [line for line in log_lines() if 'skipped unreadable image' in line]
    assert len(skipped) == 1 and 'huge.png' in skipped[0]
    assert '20000 x 20000 = 400.0 MP, over LoadImageFromFile max_pixels=100000000' in skipped[0]
    small = build(folder, pipeline=[dict(type='LoadImageFromFile', max_pixels=None),
                                    dict(type='PackInputs')])
    assert small.prepare_data(0) is not None  # no budget: an ordinary image still loads


def test_a_skipped_file_with_a_non_utf8_name_is_logged_escaped(folder, log_lines):
    bad = os.path.join(os.fsencode(folder), b'bad\xff.jpg')
    with open(bad, 'wb') as f:
        f.write(b'not a jpeg')
    ds = build(folder)
    for i in range(len(ds)):
        ds[i]
    skipped = [line for line in log_lines() if 'skipped unreadable image' in line]
    assert any('bad\\xff.jpg' in line for line in skipped), skipped


def test_the_file_list_cache_is_readable_by_the_group(folder, tmp_path):
    old = os.umask(0o022)
    try:
        build(folder, cache_dir=str(tmp_path / 'cache'))
    finally:
        os.umask(old)
    (cache,) = (tmp_path / 'cache').glob('images-*.json')
    assert cache.stat().st_mode & 0o777 == 0o644
