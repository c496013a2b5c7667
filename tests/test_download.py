"""helpers.download against a loopback HTTP server: resume, retry, sizes, checksums, safe extraction."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from helpers.download import (
    CHECKSUMS_FILE,
    ChecksumError,
    CorruptArchiveError,
    DownloadError,
    download,
    extract,
    read_checksums,
    remote_size,
    verify_checksum,
    verify_zip,
)


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (free port) serving in-memory files, with Range support.

    `files` maps URL paths to bytes; `cut[path] = n` cuts the next n transfers of that path
    halfway (the connection closes early); `ranges=False` makes it ignore Range requests;
    `lengths=False` sends no Content-Length (the body ends when the connection closes);
    `log` records (method, path, Range header, status) of every request.
    """

    def __init__(self, files: dict[str, bytes] | None = None, ranges: bool = True, lengths: bool = True):
        self.files = dict(files or {})
        self.cut: dict[str, int] = {}
        self.ranges = ranges
        self.lengths = lengths
        self.log: list[tuple[str, str, str | None, int]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def gets(self, path: str) -> list[tuple[str | None, int]]:
        """(Range header, status) of each GET of `path`."""
        return [(rng, status) for method, p, rng, status in self.log if method == "GET" and p == path]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                self._serve(send_body=False)

            def do_GET(self):
                self._serve(send_body=True)

            def _serve(self, send_body: bool):
                body = server.files.get(self.path)
                requested = self.headers.get("Range")
                if body is None:
                    self._log(requested, 404)
                    self.send_error(404)
                    return
                start, status = 0, 200
                match = re.match(r"bytes=(\d+)-$", requested or "")
                if match and server.ranges:
                    start, status = int(match.group(1)), 206
                    if start >= len(body):
                        self._log(requested, 416)
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self._log(requested, status)
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                if server.lengths:
                    self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Content-Type", "application/zip")
                self.end_headers()
                if not send_body:
                    return
                payload = body[start:]
                with server.lock:
                    cutting = server.cut.get(self.path, 0) > 0
                    if cutting:
                        server.cut[self.path] -= 1
                if cutting:
                    payload = payload[: len(payload) // 2]
                self.wfile.write(payload)
                self.wfile.flush()
                self.close_connection = True

            def _log(self, requested, status):
                with server.lock:
                    server.log.append((self.command, self.path, requested, status))

        return Handler


def random_bytes(count: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8).tobytes()


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def damage_member(archive: bytes, member_data: bytes) -> bytes:
    """Flip one byte inside a stored member's data, so its CRC no longer matches."""
    position = archive.index(member_data) + len(member_data) // 2
    damaged = bytearray(archive)
    damaged[position] ^= 0xFF
    return bytes(damaged)


@pytest.fixture
def payload() -> bytes:
    return random_bytes(300_000)


def test_download_writes_file_and_records_its_checksum(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}) as server:
        dest = download(f"{server.url}/part.zip", tmp_path / "dl" / "part.zip", progress=False)
        assert remote_size(f"{server.url}/part.zip") == len(payload)
    assert dest.read_bytes() == payload
    assert not (tmp_path / "dl" / "part.zip.part").exists()
    records = json.loads((tmp_path / "dl" / CHECKSUMS_FILE).read_text())
    assert records == {"part.zip": {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}}


def test_download_resumes_a_cut_transfer_with_a_range_request(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}) as server:
        server.cut["/part.zip"] = 1
        dest = download(f"{server.url}/part.zip", tmp_path / "part.zip", retries=2, backoff=0, progress=False)
        gets = server.gets("/part.zip")
    assert dest.read_bytes() == payload
    assert gets == [(None, 200), (f"bytes={len(payload) // 2}-", 206)]


def test_download_restarts_when_the_server_ignores_range(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}, ranges=False) as server:
        server.cut["/part.zip"] = 1
        dest = download(f"{server.url}/part.zip", tmp_path / "part.zip", retries=1, backoff=0, progress=False)
        statuses = [status for _rng, status in server.gets("/part.zip")]
    assert dest.read_bytes() == payload  # the half-file was replaced, not appended to
    assert statuses == [200, 200]


def test_download_gives_up_keeps_the_part_and_resumes_on_the_next_run(tmp_path, payload):
    dest = tmp_path / "part.zip"
    with LoopbackServer({"/part.zip": payload}) as server:
        server.cut["/part.zip"] = 10
        with pytest.raises(DownloadError, match="after 2 attempts.*run the same command again to resume"):
            download(f"{server.url}/part.zip", dest, retries=1, backoff=0, progress=False)
        assert not dest.exists()
        kept = (tmp_path / "part.zip.part").stat().st_size
        assert 0 < kept < len(payload)
        server.cut["/part.zip"] = 0
        download(f"{server.url}/part.zip", dest, retries=0, progress=False)
        assert server.gets("/part.zip")[-1] == (f"bytes={kept}-", 206)
    assert dest.read_bytes() == payload


def test_download_without_content_length_resumes_a_cut_transfer(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}, lengths=False) as server:
        server.cut["/part.zip"] = 1  # half the file, then the connection closes: it looks like the end
        dest = download(f"{server.url}/part.zip", tmp_path / "part.zip", retries=1, backoff=0, progress=False)
        gets = server.gets("/part.zip")
    assert dest.read_bytes() == payload  # not the half that arrived first
    assert gets == [(None, 200), (f"bytes={len(payload) // 2}-", 206)]
    assert read_checksums(tmp_path)["part.zip"]["sha256"] == hashlib.sha256(payload).hexdigest()


def test_download_without_content_length_or_ranges_never_renames_a_cut_file(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}, ranges=False, lengths=False) as server:
        server.cut["/part.zip"] = 1
        with pytest.raises(DownloadError, match="no file size.*not renamed"):
            download(f"{server.url}/part.zip", tmp_path / "part.zip", retries=1, backoff=0, progress=False)
        assert not (tmp_path / "part.zip").exists() and read_checksums(tmp_path) == {}
        assert (tmp_path / "part.zip.part").stat().st_size == len(payload) // 2
        # with the size known, the same server's complete file is accepted
        dest = download(f"{server.url}/part.zip", tmp_path / "part.zip", expected_size=len(payload),
                        retries=1, backoff=0, progress=False)
    assert dest.read_bytes() == payload


def test_download_of_a_complete_part_finishes_without_refetching(tmp_path, payload):
    (tmp_path / "part.zip.part").write_bytes(payload)
    with LoopbackServer({"/part.zip": payload}) as server:
        dest = download(f"{server.url}/part.zip", tmp_path / "part.zip", progress=False)
        assert server.gets("/part.zip") == [(f"bytes={len(payload)}-", 416)]
    assert dest.read_bytes() == payload


def test_download_rejects_a_wrong_size_and_leaves_nothing(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}) as server:
        with pytest.raises(DownloadError, match=f"{len(payload):,} bytes but expected {len(payload) + 1:,}"):
            download(f"{server.url}/part.zip", tmp_path / "part.zip", expected_size=len(payload) + 1,
                     progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_download_rejects_a_wrong_expected_sha256(tmp_path, payload):
    with LoopbackServer({"/part.zip": payload}) as server:
        with pytest.raises(ChecksumError, match="differs from the expected"):
            download(f"{server.url}/part.zip", tmp_path / "part.zip", sha256="0" * 64, progress=False)
    assert not (tmp_path / "part.zip").exists() and not (tmp_path / "part.zip.part").exists()


def test_download_reports_http_errors_without_retrying(tmp_path):
    with LoopbackServer({}) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(f"{server.url}/missing.zip", tmp_path / "missing.zip", backoff=0, progress=False)
        assert len(server.gets("/missing.zip")) == 1


def test_checksum_manifest_detects_a_changed_file(tmp_path, payload):
    dest = tmp_path / "part.zip"
    with LoopbackServer({"/part.zip": payload}) as server:
        download(f"{server.url}/part.zip", dest, progress=False)
        assert verify_checksum(dest) == hashlib.sha256(payload).hexdigest()
        dest.write_bytes(payload[:-1] + b"\x00")  # damaged on disk
        with pytest.raises(ChecksumError, match="part.zip.*differs from .* recorded"):
            verify_checksum(dest)
        with pytest.raises(ChecksumError, match="recorded"):
            download(f"{server.url}/part.zip", dest, progress=False)  # an existing file is verified
        dest.unlink()
        server.files["/part.zip"] = random_bytes(len(payload), seed=1)  # the server's copy changed
        with pytest.raises(ChecksumError, match="on its first download"):
            download(f"{server.url}/part.zip", dest, progress=False)
    assert not dest.exists() and not (tmp_path / "part.zip.part").exists()
    assert read_checksums(tmp_path)["part.zip"]["sha256"] == hashlib.sha256(payload).hexdigest()


def test_verify_zip_names_a_damaged_member(tmp_path):
    member = random_bytes(5000, seed=2)
    good = zip_bytes({"images/00001.png": member, "images/00002.png": b"x" * 100})
    path = tmp_path / "01_images.zip"
    path.write_bytes(good)
    assert verify_zip(path) == 2
    path.write_bytes(damage_member(good, member))
    with pytest.raises(CorruptArchiveError, match=r"01_images.zip: member images/00001.png is damaged.*"
                                                  r"Delete 01_images.zip and download it again"):
        verify_zip(path)
    path.write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.raises(CorruptArchiveError, match="not a complete zip archive.*download it again"):
        verify_zip(path)


def test_extract_renames_members_and_skips_what_the_filter_drops(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes({"top/images/00001.png": b"first copy", "top/Thumbs.db": b"junk",
                                   "top/images/": b"", "top/top/images/00001.png": b"one"}))
    written = extract(archive, tmp_path / "data", lambda name: f"images/{name.rsplit('/', 1)[-1]}"
                      if name.endswith(".png") else None, progress=False)
    assert written == [tmp_path / "data" / "images" / "00001.png"]
    assert (tmp_path / "data" / "images" / "00001.png").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "data"]


def test_extract_of_a_damaged_archive_leaves_nothing_half_written(tmp_path):
    member = random_bytes(5000, seed=3)
    archive = tmp_path / "02_images.zip"
    archive.write_bytes(damage_member(zip_bytes({"images/00001.png": b"fine", "images/00002.png": member}), member))
    data = tmp_path / "data" / "gta5"
    with pytest.raises(CorruptArchiveError, match="02_images.zip could not be extracted.*download it again"):
        extract(archive, data, progress=False)
    assert not data.exists()  # not even the member that was read correctly
    assert list((tmp_path / "data").iterdir()) == []  # the temporary folder is gone too


def test_extract_refuses_members_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_bytes({"../evil.txt": b"x"}))
    with pytest.raises(CorruptArchiveError, match="outside the folder"):
        extract(archive, tmp_path / "data", progress=False)
    assert not (tmp_path / "evil.txt").exists()
