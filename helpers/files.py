"""Writing files so that an interruption never leaves half of one: temporary name, then rename.

A killed process, a full disk or Ctrl-C at the wrong moment must leave either the old file or
the new one, never a mixture:

* `atomic_write_text` / `atomic_write_bytes` / `atomic_path` write to a hidden temporary file
  beside the target and rename it over the target only when it is complete (`os.replace` is
  atomic on one file system);
* `staging_folder` makes a hidden work folder beside a destination folder, named after the
  destination, the job and the process id: `.gta5.extracting-<pid>-<random>`. Work happens in
  there and moves into place at the end;
* `remove_leftovers` deletes such folders left by a process that was killed (its id no longer
  runs), and says what it removed, so gigabytes of half-extracted data do not pile up.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on error delete it.

        with atomic_path(target) as tmp:
            frame.to_csv(tmp, index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Staging folders and what killed runs leave behind
# --------------------------------------------------------------------------------------------

def staging_folder(parent: str | Path, name: str, job: str) -> Path:
    """A new hidden folder `.<name>.<job>-<pid>-<random>` in `parent`, for work that moves into place later."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    while True:  # mkdir, not mkdtemp: the folder may become the data set, with the usual permissions
        folder = parent / f".{name}.{job}-{os.getpid()}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            return folder


def _left_over(folder: Path, pid: int | None) -> bool:
    """Whether the process that made `folder` has ended (Windows: whether it is older than a day)."""
    if pid is None:
        return True
    if pid == os.getpid():
        return False
    if os.name == "nt":  # os.kill(pid, 0) would end the process there
        return time.time() - folder.stat().st_mtime > 86400
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, under another user
        return False
    return False


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def human_size(size: float) -> str:
    """Bytes in words: 5.8 GB, 350 MB, 12 kB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} B"


def remove_leftovers(parent: str | Path, name: str, jobs: Iterable[str]) -> list[Path]:
    """Delete `.<name>.<job>-*` folders in `parent` whose process has ended; print what went.

    Folders of a process that still runs are kept (two runs at once do not hurt each other);
    folders whose name carries no process id (older versions) count as left over.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    removed = []
    for job in jobs:
        pattern = re.compile(rf"^\.{re.escape(name)}[.-]{re.escape(job)}-(?:(\d+)-)?")
        for folder in sorted(parent.iterdir()):
            match = pattern.match(folder.name)
            if not match or not folder.is_dir() or not _left_over(folder, match.group(1) and int(match.group(1))):
                continue
            size = _folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            print(f"removed {folder} ({human_size(size)}), left by an interrupted run", file=sys.stderr, flush=True)
    return removed
