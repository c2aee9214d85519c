"""Downloads, the cache, offline mode and the ``cnnzoo weights`` command, against a local server.

A ``http.server`` on 127.0.0.1 serves generated weight files (and misbehaves on request: a
connection cut half-way, a 404); a catalogue entry pointing at it is added per test.
Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import helpers
import pytest
import torch

import cnnzoo
from cnnzoo import weights
from cnnzoo.errors import HashMismatchError, OfflineError, WeightsDownloadError
from cnnzoo.weights import cache as hub
from cnnzoo.weights.catalogue import CATALOGUE, WeightsEntry

TAG = "lenet5.served"


class _Server:
    """Routes of the local server: path -> (body, how to serve it); counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests += 1
                body, mode = server.routes.get(self.path, (b"", "404"))
                if mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                # "cut": announce more bytes than are sent, send half, close the connection;
                # "cut-unsized": no Content-Length at all (nothing to count), send half, close
                cut = mode in ("cut", "cut-unsized")
                if mode != "cut-unsized":
                    self.send_header("Content-Length", str(len(body) + 1000 if cut else len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                self.wfile.flush()
                if cut:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("CNNZOO_OFFLINE", raising=False)
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def lenet_bytes() -> tuple[bytes, dict]:
    state = cnnzoo.create_model("lenet5").state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue(), state


def add_entry(monkeypatch, server: _Server, body: bytes, *, mode: str = "ok", **changes) -> WeightsEntry:
    digest = hashlib.sha256(body).hexdigest()
    server.routes["/lenet5-served.pth"] = (body, mode)
    entry = dataclasses.replace(
        CATALOGUE["lenet5.digits"],
        tag=TAG,
        source="test",
        default=False,
        url=f"{server.url}/lenet5-served.pth",
        filename=f"lenet5-served-{digest[:8]}.pth",
        sha256=digest,
        hash_prefix=digest[:8],
    )
    entry = dataclasses.replace(entry, **changes)
    monkeypatch.setitem(CATALOGUE, TAG, entry)
    return entry


def cache_files() -> list[str]:
    d = hub.cache_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_download_verifies_caches_and_loads(server, lenet_bytes, monkeypatch, capsys):
    body, state = lenet_bytes
    entry = add_entry(monkeypatch, server, body)
    (path,) = cnnzoo.download_weights(TAG)
    assert path == hub.cache_dir() / entry.filename and path.read_bytes() == body
    assert "lenet5-served" in capsys.readouterr().err  # the progress bar, on stderr
    model = cnnzoo.create_model(TAG)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert model.pretrained_cfg["tag"] == TAG
    assert server.requests == 1  # create_model used the cache
    assert cache_files() == [entry.filename]


def test_hash_mismatch_keeps_nothing(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    add_entry(monkeypatch, server, body, sha256="0" * 64, hash_prefix=None)
    with pytest.raises(HashMismatchError, match="expected 0000"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_wrong_hash_prefix_is_refused(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    add_entry(monkeypatch, server, body, sha256=None, hash_prefix="deadbeef")
    with pytest.raises(HashMismatchError, match="starting with deadbeef"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_connection_cut_half_way_keeps_nothing(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    add_entry(monkeypatch, server, body, mode="cut", sha256=None, hash_prefix=None)
    with pytest.raises(WeightsDownloadError, match="cut after"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_http_error_is_a_download_error(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body)
    monkeypatch.setitem(CATALOGUE, TAG, dataclasses.replace(entry, url=server.url + "/missing.pth"))
    with pytest.raises(WeightsDownloadError, match="HTTP 404"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_unreachable_network_is_offline_error_with_instructions(lenet_bytes, monkeypatch):
    monkeypatch.delenv("CNNZOO_OFFLINE", raising=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = dataclasses.replace(
        CATALOGUE["lenet5.digits"], tag=TAG, default=False, url=f"http://127.0.0.1:{port}/w.pth", filename="w.pth"
    )
    monkeypatch.setitem(CATALOGUE, TAG, entry)
    with pytest.raises(OfflineError, match="network is unreachable") as err:
        cnnzoo.create_model(TAG)
    assert str(hub.cache_dir() / "w.pth") in str(err.value)


def test_offline_without_cache_says_what_to_fetch_and_where(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body)
    monkeypatch.setenv("CNNZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        cnnzoo.create_model(TAG)
    message = str(err.value)
    assert entry.url in message and str(hub.cache_dir() / entry.filename) in message
    assert f"cnnzoo weights import {TAG} FILE" in message
    assert server.requests == 0


def test_offline_with_cache_uses_it(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    add_entry(monkeypatch, server, body)
    cnnzoo.download_weights(TAG, progress=False)
    monkeypatch.setenv("CNNZOO_OFFLINE", "1")
    server.routes.clear()
    assert cnnzoo.create_model(TAG).pretrained_cfg["tag"] == TAG
    assert server.requests == 1


def test_tampered_cache_file_is_refused(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    add_entry(monkeypatch, server, body)
    (path,) = cnnzoo.download_weights(TAG, progress=False)
    path.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(HashMismatchError, match="delete .* download it again"):
        cnnzoo.create_model(TAG)


def test_unpinned_file_is_trusted_on_first_use_only(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body, sha256=None, hash_prefix=None)
    with pytest.warns(UserWarning, match="no SHA-256 is published"):
        (path,) = cnnzoo.download_weights(TAG, progress=False)
    record = Path(str(path) + ".sha256")
    assert record.read_text().strip() == hashlib.sha256(body).hexdigest()
    cnnzoo.create_model(TAG)  # same bytes: accepted without a new warning
    other = io.BytesIO()
    torch.save(cnnzoo.create_model("lenet5").state_dict(), other)
    path.write_bytes(other.getvalue())  # a different, equally loadable file
    with pytest.raises(HashMismatchError, match="first copy"):
        cnnzoo.create_model(TAG)
    assert entry.hash_status == "tofu"


def test_a_cached_file_without_its_trust_record_is_refused(server, lenet_bytes, monkeypatch):
    """Replacing an unpinned cached file and deleting its record is noticed (it used to load with a
    warning); so is a file put into cnnzoo's cache by hand. The way in is `weights import`."""
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body, sha256=None, hash_prefix=None)
    with pytest.warns(UserWarning, match="trusting this first copy"):
        (path,) = cnnzoo.download_weights(TAG, progress=False)
    other = io.BytesIO()
    torch.save(cnnzoo.create_model("lenet5").state_dict(), other)
    path.write_bytes(other.getvalue())
    Path(str(path) + ".sha256").unlink()
    with pytest.raises(HashMismatchError, match="no trust record.*cnnzoo weights import"):
        cnnzoo.create_model(TAG)
    monkeypatch.setenv("CNNZOO_OFFLINE", "1")
    with pytest.raises(HashMismatchError, match="no trust record"):
        cnnzoo.download_weights(TAG, progress=False)  # offline: the cache is checked, not replaced
    assert entry.hash_status == "tofu"


def test_an_unsized_download_cut_short_is_not_kept_or_pinned(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body, sha256=None, hash_prefix=None, mode="cut-unsized")
    with pytest.raises(WeightsDownloadError, match="not a whole weights file"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []  # neither the half file nor a trust record of its hash
    server.routes["/lenet5-served.pth"] = (body, "ok")  # the next, whole download is trusted
    with pytest.warns(UserWarning, match="trusting this first copy"):
        (path,) = cnnzoo.download_weights(TAG, progress=False)
    assert path.read_bytes() == body and entry.hash_status == "tofu"


def test_stale_temporary_files_of_a_killed_download_are_cleaned(server, lenet_bytes, monkeypatch):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body)
    d = hub.cache_dir()
    d.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = d / f".{entry.filename}.{dead.stdout.strip()}-k1ll3d.cnnzoo.tmp"  # a killed download's
    live = d / f".{entry.filename}.{os.getppid()}-w0rk1ng.cnnzoo.tmp"  # a live process's, left alone
    mine = d / ".notes.tmp"  # the user's own file, not of cnnzoo's naming
    for f in (stale, live, mine):
        f.write_bytes(b"partial")
    cnnzoo.download_weights(TAG, progress=False)
    assert not stale.exists() and live.exists() and mine.exists()


def test_import_checks_the_hash_then_copies(server, lenet_bytes, monkeypatch, tmp_path):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body)
    good, bad = tmp_path / "good.pth", tmp_path / "bad.pth"
    good.write_bytes(body)
    bad.write_bytes(body[:-10])
    with pytest.raises(HashMismatchError):
        cnnzoo.weights.import_weights(TAG, bad)
    assert cache_files() == []
    assert weights.import_weights(TAG, good) == hub.cache_dir() / entry.filename
    monkeypatch.setenv("CNNZOO_OFFLINE", "1")
    assert cnnzoo.create_model(TAG).pretrained_cfg["tag"] == TAG
    assert server.requests == 0


# ---------------------------------------------------------------- the CLI
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    return helpers.run_cli(capsys, "weights", *argv)


def test_cli_list_and_info(capsys):
    code, out, _ = run_cli(capsys, "list", "resnet50*")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["TAG", "SOURCE", "DEFAULT", "TOP-1"]
    row = next(line for line in lines if line.startswith("resnet50.tv2_in1k "))
    assert "*" in row and "80.86" in row and "sha256" in row and row.endswith("no")
    code, out, _ = run_cli(capsys, "list", "lenet5", "--json")
    assert code == 0 and '"lenet5.digits"' in out and '"cached": true' in out
    code, out, _ = run_cli(capsys, "info", "googlenet")
    assert code == 0 and "googlenet-1378be20.pth" in out and "transform_input" in out


def test_cli_download_and_import(server, lenet_bytes, monkeypatch, capsys, tmp_path):
    body, _ = lenet_bytes
    entry = add_entry(monkeypatch, server, body)
    code, out, _ = run_cli(capsys, "download", TAG, "--quiet")
    assert code == 0 and out.strip() == str(hub.cache_dir() / entry.filename)
    (hub.cache_dir() / entry.filename).unlink()
    (tmp_path / "copy.pth").write_bytes(body)
    code, out, _ = run_cli(capsys, "import", TAG, str(tmp_path / "copy.pth"))
    assert code == 0 and Path(out.strip()).read_bytes() == body


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["info", "resnet5O"], "unknown weights"),
        (["list", "nothing*"], "no weights match"),
        (["download"], "one of the arguments TAG --all is required"),
        (["download", "lenet5", "--all"], "not allowed with"),
        (["import", "resnet50.tv2_in1k", "/nonexistent.pth"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(capsys, argv, expected):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and expected in err


def test_cli_offline_download_error_names_the_url(capsys):
    code, _, err = run_cli(capsys, "download", "resnet18")
    assert code == 2 and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in err
    assert len(err.strip().splitlines()) == 1
