"""Fault 3: a download interrupted half-way resumes cleanly; a wrong sha256 leaves nothing extracted."""

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

from slamags import SlamagsError
from slamags.fetch import materialise


def make_archive(tmp_path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for cls in ("LYT", "BLA"):
            for i in range(20):
                data = (f"{cls}-{i}-" * 2000).encode()
                info = tarfile.TarInfo(f"Bone-Marrow/{cls}/{cls}_{i:05d}.jpg")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Server:
    """A real HTTP server on 127.0.0.1 that honours Range requests and can drop a transfer half-way."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.drop_next = True
        self.requests: list[str | None] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = outer.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.drop_next:
                    outer.drop_next = False
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)   # the connection drops mid-transfer
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bone-marrow.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server(tmp_path):
    s = Server(make_archive(tmp_path))
    yield s
    s.close()


def test_interrupted_download_resumes_and_extracts_atomically(tmp_path, server, faults):
    root, downloads = tmp_path / "data" / "bm", tmp_path / "downloads"
    sha = hashlib.sha256(server.payload).hexdigest()
    faults.injected()
    with pytest.raises(SlamagsError, match="run again to resume"):
        materialise(root, server.url, sha, downloads)
    part = downloads / "bone-marrow.tar.gz.part"
    assert 0 < part.stat().st_size < len(server.payload)
    assert not root.exists()                                  # nothing extracted from half an archive
    got = materialise(root, server.url, sha, downloads)       # the rerun resumes with a Range request
    assert server.requests[-1] == f"bytes={len(server.payload) // 2}-"
    assert got == root and sorted(p.name for p in root.iterdir()) == ["BLA", "LYT"]
    assert len(list(root.rglob("*.jpg"))) == 40
    assert (downloads / "bone-marrow.tar.gz").read_bytes() == server.payload
    assert not list(tmp_path.rglob("*.extracting"))
    faults.survived()


def test_wrong_sha256_names_file_and_both_hashes_and_extracts_nothing(tmp_path, server, faults):
    server.drop_next = False
    root, downloads = tmp_path / "data" / "bm", tmp_path / "downloads"
    wrong = "0" * 64
    faults.bad_inputs()
    with pytest.raises(SlamagsError) as e:
        materialise(root, server.url, wrong, downloads)
    msg = str(e.value)
    actual = hashlib.sha256(server.payload).hexdigest()
    assert msg == (f"sha256 mismatch for {downloads / 'bone-marrow.tar.gz'}: expected {wrong}, got {actual}; "
                   "delete the file and download it again")
    assert not (tmp_path / "data").exists()                   # no dataset folder, not even a temporary one
    faults.survived()


def test_local_archive_and_missing_archive(tmp_path, server, faults):
    archive = tmp_path / "bm.tar.gz"
    archive.write_bytes(server.payload)
    root = materialise(tmp_path / "bm", str(archive), None, tmp_path / "dl")
    assert len(list(root.rglob("*.jpg"))) == 40
    assert materialise(root, str(archive), None, tmp_path / "dl") == root     # already there: untouched
    faults.bad_inputs()
    with pytest.raises(SlamagsError, match="dataset.archive .*missing.tar.gz does not exist"):
        materialise(tmp_path / "other", str(tmp_path / "missing.tar.gz"), None, tmp_path / "dl")
    faults.survived()
