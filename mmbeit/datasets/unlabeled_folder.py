"""Pretrain on a folder of your own images: no labels, any depth, corrupt files skipped."""
from __future__ import annotations

import logging
import os
import os.path as osp
import zlib
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.logging import MMLogger, print_log
from torch.utils.data import get_worker_info

from mmbeit.registry import DATASETS

from .image_file_list import IMAGE_EXTENSIONS, cache_file_name, list_image_files


def printable_path(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (``os.fsdecode`` keeps them as
    surrogates, which a UTF-8 log handler cannot write) shown as ``\\xNN`` escapes."""
    return text.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')


class UnreadableImageError(RuntimeError):
    """An image file that cannot be read or decoded (``strict=True``)."""


def _work_dir_of_current_run() -> Optional[str]:
    """The work dir of the MMEngine Runner being built, from its log file
    (``{work_dir}/{timestamp}/{timestamp}.log``); None outside a run (or on ranks > 0)."""
    try:
        logger = MMLogger.get_current_instance()
    except Exception:  # pragma: no cover - no logger at all
        return None
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            return osp.dirname(osp.dirname(osp.abspath(handler.baseFilename)))
    return None


def default_cache_dir() -> str:
    """``{work_dir}/../.file_lists`` inside a run (every run in ``work_dirs/`` shares the
    lists), else ``~/.cache/mmbeit/file_lists``."""
    work_dir = _work_dir_of_current_run()
    if work_dir is not None:
        return osp.join(osp.dirname(work_dir), '.file_lists')
    return osp.join(osp.expanduser('~'), '.cache', 'mmbeit', 'file_lists')


def _image_path(line: str, extensions: Sequence[str]) -> str:
    """One ann_file line: a relative path; an ImageNet-style trailing label is dropped."""
    if line.lower().endswith(extensions):
        return line
    parts = line.rsplit(None, 1)
    if len(parts) == 2 and parts[1].lstrip('-').isdigit():
        return parts[0]
    return line


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """Every image file under a folder, at any depth, sorted; no labels.

    Drop-in for the ``ImageNet`` dataset of every pretraining config: override only
    ``train_dataloader.dataset.type`` and ``data_root``. The folder is
    ``data_root / data_prefix / split`` when that ``split`` subfolder exists (ImageNet layout:
    ``data/imagenet/train``), else ``data_root / data_prefix``, whole.

    Files whose suffix is in ``extensions`` (case-insensitive) are images; other files and
    names starting with ``.`` are ignored. The list is cached (see ``image_file_list``) in
    ``cache_dir`` and rebuilt when any folder of the tree changes; in a distributed run rank 0
    lists and writes, the other ranks read its list and check they hold the same one.

    An image that cannot be read (the first pipeline step, the loader, raises: corrupt,
    truncated, empty, missing, unreadable) is skipped: the next index is used in its place, and
    the file is named once in the log with the reason and the running count of skipped files.
    Counts are per process (each dataloader worker keeps its own). With ``strict=True`` the
    first one raises ``UnreadableImageError`` naming the file. Errors raised by later
    pipeline steps are bugs, not bad files, and are raised.

    Args:
        data_root (str): folder of images. Required.
        ann_file (str): optional text file, one image path per line relative to the image
            folder (a trailing integer label, as in ImageNet's meta files, is ignored);
            relative to ``data_root`` unless absolute. Defaults to '' (list the folder).
        split (str, optional): subfolder to use if it exists (configs pass 'train' / 'val').
            Defaults to None.
        data_prefix (str | dict): subfolder of ``data_root`` (``dict(img_path=...)`` as in
            MMEngine). Defaults to ''.
        extensions (Sequence[str]): image suffixes. Defaults to ``IMAGE_EXTENSIONS``
            (jpg, jpeg, png, bmp, ppm, pgm, tif, tiff, webp).
        cache_dir (str, optional): where the file list is cached. Defaults to
            ``{work_dir}/../.file_lists`` during a run, else ``~/.cache/mmbeit/file_lists``.
        use_cache (bool): read / write the cache. Defaults to True.
        strict (bool): raise on the first unreadable image instead of skipping it.
            Defaults to False.
        with_label (bool): accepted for ImageNet configs; must be False.
        **kwargs: MMEngine ``BaseDataset`` arguments (``pipeline``, ``indices``,
            ``test_mode``, ``lazy_init``, ``max_refetch``, ...).
    """

    METAINFO: dict = {}

    def __init__(self, data_root: str, ann_file: str = '', split: Optional[str] = None,
                 data_prefix: Union[str, dict] = '',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 cache_dir: Optional[str] = None, use_cache: bool = True,
                 strict: bool = False, with_label: bool = False, **kwargs) -> None:
        if with_label:
            raise ValueError('UnlabeledImageFolder has no labels: remove with_label=True '
                             '(use mmpretrain CustomDataset for a labelled class-folder tree)')
        for key in ('classes', 'filter_cfg'):
            if kwargs.get(key) is not None:
                raise ValueError(f'UnlabeledImageFolder has no labels: {key!r} means nothing '
                                 'here; remove it from the dataset config')
        kwargs.pop('classes', None)
        if not data_root:
            raise ValueError('UnlabeledImageFolder needs data_root (the folder of images)')
        if isinstance(data_prefix, dict):
            unknown = set(data_prefix) - {'img_path', 'img'}
            if unknown:
                raise ValueError(f'data_prefix keys {sorted(unknown)} mean nothing to '
                                 "UnlabeledImageFolder; use data_prefix='subfolder'")
            data_prefix = data_prefix.get('img_path', data_prefix.get('img', ''))
        image_root = osp.join(data_root, data_prefix) if data_prefix else data_root
        self.split_used = bool(split) and osp.isdir(osp.join(image_root, split))
        if self.split_used:
            image_root = osp.join(image_root, split)
        self.image_root = image_root
        self.split = split
        self.extensions = tuple(e.lower() for e in extensions)
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.strict = strict
        self._unreadable: Dict[int, str] = {}
        self.cache_file: Optional[str] = None  # set by listing: the cache used, if any
        self.list_source = 'ann_file'  # or 'cache', 'scan', 'scan (cache written)'
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=dict(img_path=''),
                         **kwargs)

    # ----------------------------------------------------------------------------- listing
    def _files_from_ann_file(self) -> List[str]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'UnlabeledImageFolder: ann_file {self.ann_file} not found')
        with open(self.ann_file) as f:
            files = [_image_path(line.strip(), self.extensions) for line in f]
        files = [p for p in files if p]
        if not files:
            raise ValueError(f'UnlabeledImageFolder: ann_file {self.ann_file} lists no image')
        probe = sorted({0, len(files) // 2, len(files) - 1})
        if not any(osp.isfile(osp.join(self.image_root, files[i])) for i in probe):
            raise FileNotFoundError(
                f'UnlabeledImageFolder: paths in {self.ann_file} are relative to the image '
                f'folder {self.image_root}, but e.g. {osp.join(self.image_root, files[0])} '
                'does not exist')
        return files

    def _files_from_tree(self) -> List[str]:
        root = self.image_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'UnlabeledImageFolder: data_root folder {root} does not '
                                    'exist')
        rank, world_size = get_dist_info()
        cache_file = None
        if self.use_cache:
            cache_file = [osp.join(self.cache_dir or default_cache_dir(),
                                   cache_file_name(root, self.extensions))]
            if world_size > 1:  # rank 0 decides (only it knows the work dir from its log)
                broadcast_object_list(cache_file, src=0)
            cache_file = cache_file[0]
        if rank == 0:
            files, how = list_image_files(root, self.extensions, cache_file)
        if world_size > 1:
            barrier()
        if rank != 0:
            files, how = list_image_files(root, self.extensions, cache_file, write=False)
        if world_size > 1:
            digest = [zlib.crc32('\n'.join(files).encode()), len(files)]
            mine = list(digest)
            broadcast_object_list(digest, src=0)
            if digest != mine:
                raise RuntimeError(
                    f'UnlabeledImageFolder: rank {rank} lists {mine[1]} images under {root}, '
                    f'rank 0 lists {digest[1]}; is the folder changing, or different on the '
                    'nodes?')
        if not files:
            raise FileNotFoundError(
                f'UnlabeledImageFolder: no image file ({", ".join(self.extensions)}) under '
                f'{root}')
        self.cache_file, self.list_source = cache_file, how
        cached = {'cache': f', list read from {cache_file}',
                  'scan (cache written)': f', list written to {cache_file}'}.get(how, '')
        split = ''
        if self.split:
            split = (f" ('{self.split}' subfolder)" if self.split_used else
                     f" (whole folder: no '{self.split}' subfolder)")
        print_log(f'UnlabeledImageFolder: {len(files)} images under {root}{split}{cached}',
                  logger='current')
        return files

    def load_data_list(self) -> List[dict]:
        files = self._files_from_ann_file() if self.ann_file else self._files_from_tree()
        root = self.image_root
        return [dict(img_path=osp.join(root, p)) for p in files]

    # ------------------------------------------------------------------- unreadable images
    def _record_unreadable(self, idx: int, path: str, error: Exception) -> None:
        reason = printable_path(f'{type(error).__name__}: {error}')
        if self.strict:
            raise UnreadableImageError(f'unreadable image {path} ({reason}); strict=True '
                                       'stops here, strict=False skips such files') from error
        self._unreadable[idx] = reason
        worker = get_worker_info()
        where = f'dataloader worker {worker.id}' if worker is not None else f'pid {os.getpid()}'
        shown = printable_path(path)
        print_log(f'UnlabeledImageFolder: skipped unreadable image {shown} ({reason}); '
                  f'{len(self._unreadable)} skipped so far in {where}',
                  logger='current', level=logging.WARNING)

    @property
    def num_unreadable(self) -> int:
        """Unreadable images met so far by this process."""
        return len(self._unreadable)

    def prepare_data(self, idx: int):
        """Run the pipeline; None if the image could not be read (recorded, or raised)."""
        results = self.get_data_info(idx)
        path = results['img_path']
        for step, transform in enumerate(self.pipeline.transforms):
            try:
                results = transform(results)
            except Exception as error:
                if step != 0:
                    raise
                self._record_unreadable(idx, path, error)
                return None
            if results is None:
                return None
        return results

    def __getitem__(self, idx: int) -> dict:
        """The ``idx``-th sample, or the next readable one after it (train and test mode)."""
        if not self._fully_initialized:
            self.full_init()
        n = len(self)
        for attempt in range(min(self.max_refetch + 1, n)):
            j = (idx + attempt) % n
            if j in self._unreadable:
                continue
            data = self.prepare_data(j)
            if data is not None:
                return data
        raise RuntimeError(
            f'UnlabeledImageFolder: no readable image among {min(self.max_refetch + 1, n)} '
            f'tried from index {idx} under {self.image_root} ({len(self._unreadable)} '
            'unreadable so far)')
