"""Downloading and unpacking large archives safely, with the standard library only.

A data set part of several gigabytes must survive a flaky connection and must never leave a
half-written file where the workbook looks for data:

* `download` writes to `<dest>.part`, resumes it with an HTTP Range request after an
  interruption, retries with a growing pause, checks the size against Content-Length (and the
  size you expect), and renames the file to `dest` only when it is complete;
* `checksums.json` in the download folder records each file's sha256 on its first complete
  download (the Playing for Data site publishes no checksums) and later runs verify against it;
* `verify_zip` reads every member of an archive and checks its CRC;
* `extract` unpacks into a temporary folder beside the destination and moves the files into
  place only when every member was read without error.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .config import is_quiet
from .files import atomic_write_text, staging_folder

CHUNK_BYTES = 1 << 20
CHECKSUMS_FILE = "checksums.json"
USER_AGENT = "unet-workbook-download/1.0"


class DownloadError(RuntimeError):
    """A download could not be completed; the message says what to do next."""


class ChecksumError(DownloadError):
    """A file's sha256 differs from the expected or the recorded one."""


class CorruptArchiveError(RuntimeError):
    """A zip archive is damaged or incomplete; the message names it and says to download it again."""


class _TransferCut(OSError):
    """The connection ended before the announced number of bytes arrived (worth a retry)."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(progress: bool) -> bool:
    return not progress or is_quiet()


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------

def sha256_file(path: str | Path, progress: bool = False) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=f"sha256 {path.name.removesuffix('.part')}",
                                          disable=_quiet(progress)) as bar:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def read_checksums(folder: str | Path) -> dict[str, dict]:
    """The checksum manifest of a download folder: {file name: {"sha256": …, "size": …}}."""
    manifest = Path(folder) / CHECKSUMS_FILE
    if not manifest.is_file():
        return {}
    try:
        return json.loads(manifest.read_text())
    except json.JSONDecodeError as error:
        raise DownloadError(f"{manifest} is not valid JSON ({error}); fix or delete it "
                            f"(the checksums are recorded again on the next download)") from error


def _write_checksums(folder: Path, records: dict[str, dict]) -> None:
    atomic_write_text(folder / CHECKSUMS_FILE, json.dumps(records, indent=1, sort_keys=True) + "\n")


def record_checksum(path: str | Path, digest: str | None = None) -> str:
    """Record a file's sha256 and size in its folder's checksums.json; return the digest."""
    path = Path(path)
    digest = digest or sha256_file(path)
    records = read_checksums(path.parent)
    records[path.name] = {"sha256": digest, "size": path.stat().st_size}
    _write_checksums(path.parent, records)
    return digest


def forget_checksum(path: str | Path) -> None:
    """Remove a file's entry from checksums.json (after finding the file damaged)."""
    path = Path(path)
    records = read_checksums(path.parent)
    if records.pop(path.name, None) is not None:
        _write_checksums(path.parent, records)


def verify_checksum(path: str | Path, expected: str | None = None, record: bool = True,
                    progress: bool = False) -> str:
    """Check a file against `expected` and against checksums.json; record it there when new.

    Raises ChecksumError naming the file when either differs: the file changed or is damaged.
    """
    path = Path(path)
    digest = sha256_file(path, progress)
    if expected and digest != expected.lower():
        raise ChecksumError(f"{path}: sha256 {digest} differs from the expected {expected}. "
                            f"Delete the file and download it again.")
    recorded = read_checksums(path.parent).get(path.name)
    if recorded and recorded.get("sha256") != digest:
        raise ChecksumError(
            f"{path}: sha256 {digest} differs from {recorded.get('sha256')} recorded in "
            f"{path.parent / CHECKSUMS_FILE} when it was first downloaded: the file changed or is "
            f"damaged. Delete it and download it again (and, if the file on the server really "
            f"changed, remove its entry from {CHECKSUMS_FILE}).")
    if record and not recorded:
        record_checksum(path, digest)
    return digest


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------

def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """Parse 'bytes START-END/TOTAL' or 'bytes */TOTAL' → (START, TOTAL); None where absent or '*'."""
    match = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", header or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _transfer(url: str, part: Path, timeout: float, progress: bool, only_rest: bool = False) -> int | None:
    """One attempt: fetch `url` into `part`, resuming from its current size. Returns the full size, or
    None when the server did not say it (no Content-Length: then a cut connection looks like the end).

    `only_rest=True` asks only for the bytes after the end of `part` (to learn whether it is complete)
    and gives up with None when the server answers with the whole file instead.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: complete, or the part is too long
            _start, total = _content_range(error.headers.get("Content-Range"))
            if total == have or (total is None and only_rest):
                return have
            part.unlink()
            raise _TransferCut(f"partial file {part.name} does not fit the file on the server; restarting") from error
        raise
    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise _TransferCut(f"server resumed at byte {start}, not {have}; restarting")
            mode = "ab"
        elif only_rest:  # the server ignores Range: it cannot say where the file ends
            return None
        else:  # 200: the server sends the whole file (it ignored the Range request, or none was sent)
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            have, mode = 0, "wb"
        with open(part, mode) as handle, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                              unit_divisor=1024, desc=part.name[: -len(".part")],
                                              disable=_quiet(progress)) as bar:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size < total:
        raise _TransferCut(f"transfer of {url} stopped at {size:,} of {total:,} bytes")
    return total


def _retryable(error: BaseException) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code in (408, 429) or error.code >= 500
    return isinstance(error, (OSError, http.client.HTTPException))


def download(url: str, dest: str | Path, expected_size: int | None = None, sha256: str | None = None,
             retries: int = 3, timeout: float = 60.0, progress: bool = True, backoff: float = 2.0) -> Path:
    """Download `url` to `dest`, resuming `dest.part`, retrying, checking size and checksum.

    `retries` more attempts follow a failed one, after `backoff`, 2·`backoff`, 4·`backoff` … s.
    `dest` appears only when the file is complete: its size matches the server's Content-Length
    and `expected_size`, its sha256 matches `sha256` and the one recorded in checksums.json on
    the first download (recorded now when absent). An existing `dest` is verified, not fetched.
    A server that announces no size is asked for the bytes after the end (nothing left, or the
    rest); if it cannot answer that either, the file is complete only by `expected_size` or `sha256`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        _check_size(dest, dest.stat().st_size, expected_size, None)
        verify_checksum(dest, sha256, progress=progress)
        return dest
    part = dest.with_name(dest.name + ".part")
    total = None
    for attempt in range(retries + 1):
        try:
            total = _transfer(url, part, timeout, progress)
            if total is None:  # no size announced: ask for what follows the last byte (nothing, or the rest)
                total = _transfer(url, part, timeout, progress, only_rest=True)
            break
        except Exception as error:  # sorted into retryable or not just below
            if isinstance(error, urllib.error.HTTPError) and not _retryable(error):
                raise DownloadError(f"{url}: HTTP {error.code} {error.reason}. Check the address "
                                    f"(or download the file by hand).") from error
            if not _retryable(error):
                raise
            if attempt == retries:
                kept = f"the partial file {part} is kept: " if part.exists() else ""
                raise DownloadError(f"could not download {url} after {retries + 1} attempts ({error}); "
                                    f"{kept}run the same command again to resume.") from error
            pause = backoff * 2 ** attempt
            _say(f"download of {dest.name} interrupted ({error}); retry {attempt + 1} of {retries} "
                 f"in {pause:g} s, resuming from byte {part.stat().st_size if part.exists() else 0:,}")
            time.sleep(pause)
    if total is None and expected_size is None and sha256 is None:
        raise DownloadError(f"{url}: the server announces no file size and ignores range requests, so a complete "
                            f"download cannot be told from a cut one; the {part.stat().st_size:,} bytes received are "
                            f"kept in {part}, not renamed. Download the file by hand (then use it from its folder), "
                            f"or pass its expected size or sha256.")
    try:
        _check_size(part, part.stat().st_size, expected_size, total)
        digest = sha256_file(part, progress)
        if sha256 and digest != sha256.lower():
            raise ChecksumError(f"{dest.name} from {url}: sha256 {digest} differs from the expected {sha256}; "
                                f"the download is damaged: run the command again.")
        recorded = read_checksums(dest.parent).get(dest.name)
        if recorded and recorded.get("sha256") != digest:
            raise ChecksumError(
                f"{dest.name} from {url}: sha256 {digest} differs from {recorded.get('sha256')} recorded in "
                f"{dest.parent / CHECKSUMS_FILE} on its first download. The download is damaged or the "
                f"file on the server changed: run the command again; if it keeps failing and the file "
                f"really changed, remove its entry from {CHECKSUMS_FILE}.")
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    record_checksum(dest, digest)
    return dest


def _check_size(path: Path, size: int, expected_size: int | None, announced: int | None) -> None:
    """Raise DownloadError when `size` differs from the server's announced or the expected size."""
    for what, wanted in (("the server announced", announced), ("expected", expected_size)):
        if wanted is not None and size != wanted:
            raise DownloadError(f"{path}: {size:,} bytes but {what} {wanted:,}. The file is incomplete or "
                                f"not the right one: delete it and download it again.")


def remote_size(url: str, timeout: float = 30.0) -> int | None:
    """Content-Length of `url` from a HEAD request, or None when the server does not say."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length is not None else None
    except (OSError, http.client.HTTPException, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------

ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


def verify_zip(path: str | Path) -> int:
    """Read every member of a zip archive and check its CRC; return the number of members.

    Raises CorruptArchiveError naming the archive (and the damaged member) and saying to delete
    it and download it again.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"archive {path} not found")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            count = len(archive.infolist())
    except ARCHIVE_ERRORS as error:
        raise CorruptArchiveError(f"{path} is not a complete zip archive ({error}). "
                                  f"Delete {path.name} and download it again.") from error
    if damaged is not None:
        raise CorruptArchiveError(f"{path}: member {damaged} is damaged (CRC check failed). "
                                  f"Delete {path.name} and download it again.")
    return count


def _safe_relative(name: str, archive: Path) -> PurePosixPath:
    """A member's target as a relative path; refuse absolute paths and '..' (zip slip)."""
    target = PurePosixPath(name.replace("\\", "/"))
    if target.is_absolute() or ".." in target.parts or not target.parts:
        raise CorruptArchiveError(f"{archive}: refusing member {name!r} (it points outside the folder)")
    return target


def extract(zip_path: str | Path, dest_dir: str | Path,
            members_filter: Callable[[str], str | None] | None = None, progress: bool = True) -> list[Path]:
    """Extract a zip into `dest_dir` through a temporary folder beside it; return the files written.

    `members_filter(name)` gives each member's path relative to `dest_dir`, or None to skip it
    (default: the member's own path). Files move into `dest_dir` only after every selected
    member was read and CRC-checked, so a damaged archive leaves `dest_dir` untouched; the
    temporary folder is removed in every case.
    """
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(dest_dir.parent, dest_dir.name, "extracting")
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                chosen: dict[PurePosixPath, zipfile.ZipInfo] = {}  # target → member (the last one wins)
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    target = members_filter(info.filename) if members_filter else info.filename
                    if target:
                        chosen[_safe_relative(target, zip_path)] = info
                plan = [(info, target) for target, info in chosen.items()]
                for info, target in tqdm(plan, desc=f"extracting {zip_path.name}", unit="file",
                                         disable=_quiet(progress)):
                    out = staging / target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as source, open(out, "wb") as sink:
                        shutil.copyfileobj(source, sink, CHUNK_BYTES)
        except ARCHIVE_ERRORS as error:
            raise CorruptArchiveError(f"{zip_path} could not be extracted ({error}). Nothing was written "
                                      f"to {dest_dir}. Delete {zip_path.name} and download it again.") from error
        written = []
        for _info, target in plan:
            final = dest_dir / target
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / target, final)
            written.append(final)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
