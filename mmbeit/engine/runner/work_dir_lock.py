"""One run per work dir: a lock file that names its holder.

Two runs in one work dir share a timestamp folder and log, interleave ``scalars.json`` and
overwrite each other's checkpoints, and both exit 0. ``tools/train.py`` takes
``{work_dir}/.mmbeit-run.lock`` (created exclusively, holding the PID and host) on the first
rank of the machine before building the runner, and removes it when the run ends. A second run
is refused naming the holder; a lock left by a process that no longer exists (a killed run) is
taken over, saying so.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import socket
from typing import Callable, Iterator, Optional

LOCK_NAME = '.mmbeit-run.lock'


class WorkDirLockedError(RuntimeError):
    """Another live run holds the work dir."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(path: str) -> Optional[tuple]:
    try:
        with open(path) as f:
            pid, host = f.read().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def work_dir_lock(work_dir: str, log: Callable[[str], None] = print) -> Iterator[str]:
    """Hold ``work_dir``'s run lock for the duration of the ``with`` block.

    Raises:
        WorkDirLockedError: a live process (on this host) holds it.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    me = f'{os.getpid()} {socket.gethostname()}\n'
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is not None and (holder[1] != socket.gethostname() or _alive(holder[0])):
                raise WorkDirLockedError(
                    f'work dir {work_dir} is in use by the run of PID {holder[0]} on '
                    f'{holder[1]} ({path}); give this run another --work-dir, or wait for it '
                    'to end') from None
            log(f'work dir lock {path}: its holder ({holder or "unknown"}) is gone; taking it')
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        with os.fdopen(fd, 'w') as f:
            f.write(me)
        break
    else:  # pragma: no cover - a third process won the race twice
        raise WorkDirLockedError(f'could not take the work dir lock {path}')
    try:
        yield path
    finally:
        if _holder(path) == (os.getpid(), socket.gethostname()):
            os.remove(path)
