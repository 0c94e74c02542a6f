"""Where the workers of one `survey serve` keep their Prometheus metric files.

`survey serve` names the directory (PROMETHEUS_MULTIPROC_DIR) before any worker imports
prometheus_client, which picks its mode at import; each worker writes its values there, and a
scrape sums them whichever worker answers it. The files of a worker that died are dropped.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def alive(pid: int) -> bool:
    """Whether a process with this id is running (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare() -> tuple[Path, bool]:
    """Where the workers of this `survey serve` keep their metric files, emptied first.

    PROMETHEUS_MULTIPROC_DIR if set (it must serve this one `survey serve` only), else a new
    private directory in the temp dir, `survey-metrics-PID-*`, after removing those of ours
    whose server is no longer running. Returns the directory and whether to remove it at exit.
    """
    if configured := os.environ.get(MULTIPROC_DIR):
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return directory, False
    for old in Path(tempfile.gettempdir()).glob("survey-metrics-*-*"):
        pid = old.name.split("-")[2]
        info = old.lstat()
        mine = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
        if mine and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"survey-metrics-{os.getpid()}-")), True


def forget_dead_workers() -> None:
    """Drop the gauges of workers that died without a clean shutdown (counters stay)."""
    from prometheus_client import multiprocess  # after the environment names the directory

    directory = Path(os.environ[MULTIPROC_DIR])
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))
