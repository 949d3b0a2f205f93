"""Checkpoints named by http(s) URL (``load_from``, ``init_cfg.checkpoint``, the model-zoo
schemes) are downloaded and read weights-only: pickled code served from a local http server on
127.0.0.1 is refused naming the global and never runs; a plain checkpoint loads."""
from __future__ import annotations

import functools
import http.server
import os
import threading

import pytest
import torch
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

import mmbeit.engine  # noqa: F401  (installs the safe loaders into MMEngine)
from mmbeit.utils.checkpoint import CheckpointError, UnsafeCheckpointError


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


@pytest.fixture()
def server(tmp_path):
    """An http server on 127.0.0.1 serving ``tmp_path / 'served'``; yields its base URL."""
    served = tmp_path / 'served'
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def test_pickled_code_over_http_is_refused_and_never_runs(server, tmp_path, monkeypatch):
    served, url = server
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': _Payload(str(marker))},
               served / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError, match='system'):
        _load_checkpoint(f'{url}/evil.pth', map_location='cpu')  # load_from / init_cfg route
    with pytest.raises(UnsafeCheckpointError, match='system'):  # the model-zoo schemes' route
        mmengine_checkpoint.load_from_http(f'{url}/evil.pth')
    assert not marker.exists()


def test_a_plain_checkpoint_over_http_loads_and_is_cached(server, tmp_path, monkeypatch):
    served, url = server
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    torch.save({'state_dict': {'w': torch.arange(3.)}}, served / 'ok.pth')
    ckpt = _load_checkpoint(f'{url}/ok.pth', map_location='cpu')
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(3.))
    cached = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'ok.pth'
    assert cached.is_file()
    with pytest.raises(CheckpointError, match='cannot download checkpoint .*missing.pth'):
        _load_checkpoint(f'{url}/missing.pth', map_location='cpu')
