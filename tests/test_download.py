"""The fresh-machine path: no local copy, so CIFAR-10 is downloaded through torchvision, from a
fake archive server on localhost (no network in tests), with torchvision's real md5 check."""

import hashlib
import http.server
import tarfile
import threading

import pytest
import torchvision.datasets.utils

from cifar_helpers import DatasetError, load_cifar10
from cifar_helpers.cli import main as cli_main
from cifar_helpers.data import DOWNLOADING, FOLDER

from conftest import make_fake_cifar


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A cifar-10-python.tar.gz of the fake copy (zero pixels compress to almost nothing)."""
    tmp = tmp_path_factory.mktemp("archive")
    folder = make_fake_cifar(tmp / "src")
    path = tmp / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(folder, arcname=FOLDER)
    return path.read_bytes()


@pytest.fixture
def server(archive, monkeypatch, tmp_path):
    """Serve `served["body"]` (the archive by default) on a free localhost port as torchvision's
    CIFAR-10 URL, with the md5 of the whole archive; count the requests. The repo's data/ and
    CIFAR10_ROOT point into tmp_path."""
    served = {"body": archive, "requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            served["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(served["body"])))
            self.end_headers()
            try:
                self.wfile.write(served["body"])
            except ConnectionError:
                pass  # torchvision's redirect check reads the headers only

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", f"http://127.0.0.1:{httpd.server_port}/cifar.tgz")
    monkeypatch.setattr("torchvision.datasets.CIFAR10.tgz_md5", hashlib.md5(archive).hexdigest())
    monkeypatch.setattr("cifar_helpers.data.REPO_DATA", tmp_path / "data")
    monkeypatch.delenv("CIFAR10_ROOT", raising=False)
    yield served
    httpd.shutdown()


def test_no_local_copy_downloads_once_into_data(server, tmp_path, capsys):
    data = load_cifar10(download=True)
    assert data.source == str(tmp_path / "data" / FOLDER)
    assert data.train_images.shape == (50000, 3, 32, 32) and data.test_labels.shape == (10000,)
    fetched = server["requests"]  # torchvision asks once for redirects, then downloads
    assert fetched >= 1
    # The archive and the temporary folder are gone; only the validated copy stays.
    assert [p.name for p in (tmp_path / "data").iterdir()] == [FOLDER]
    assert "Downloading CIFAR-10" in capsys.readouterr().out
    # The next call, with or without download, reads it without downloading again.
    assert load_cifar10(download=True).source == data.source
    assert load_cifar10().source == data.source
    assert server["requests"] == fetched


def test_a_local_copy_is_used_first_and_never_downloaded_over(server, fake_cifar, monkeypatch):
    monkeypatch.setenv("CIFAR10_ROOT", str(fake_cifar.parent))
    assert load_cifar10(download=True).source == str(fake_cifar)
    assert server["requests"] == 0


def test_a_corrupt_download_leaves_nothing_that_loads(server, tmp_path):
    server["body"] = server["body"][: len(server["body"]) // 2]  # cut off: torchvision's md5 fails
    with pytest.raises(DatasetError) as info:
        load_cifar10(download=True)
    message = str(info.value)
    assert "downloading it from http://127.0.0.1" in message and "failed" in message
    assert "\n" not in message and ".." not in message
    assert list((tmp_path / "data").iterdir()) == []
    with pytest.raises(DatasetError, match="CIFAR-10 was not found"):
        load_cifar10()


def test_a_killed_download_leaves_nothing_that_loads(server, tmp_path, monkeypatch):
    real_extract = torchvision.datasets.utils.extract_archive

    def extract_then_die(*args, **kwargs):
        real_extract(*args, **kwargs)  # everything unpacked, then Ctrl-C before the move
        raise KeyboardInterrupt

    monkeypatch.setattr("torchvision.datasets.utils.extract_archive", extract_then_die)
    with pytest.raises(KeyboardInterrupt):
        load_cifar10(download=True)
    with pytest.raises(DatasetError, match="CIFAR-10 was not found"):
        load_cifar10()
    # A process killed outright leaves its temporary folder; it never passes for CIFAR-10, and
    # the next download clears it.
    make_fake_cifar(tmp_path / "data" / f"{DOWNLOADING}killed")
    with pytest.raises(DatasetError, match="CIFAR-10 was not found"):
        load_cifar10()
    monkeypatch.setattr("torchvision.datasets.utils.extract_archive", real_extract)
    load_cifar10(download=True)
    assert [p.name for p in (tmp_path / "data").iterdir()] == [FOLDER]


def test_offline_failure_is_one_paragraph_naming_places_and_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("cifar_helpers.data.REPO_DATA", tmp_path / "data")
    monkeypatch.setenv("CIFAR10_ROOT", str(tmp_path / "elsewhere"))
    # A port nothing listens on: the connection is refused, as offline.
    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    assert cli_main(["data"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: CIFAR-10 was not found locally")
    assert str(tmp_path / "elsewhere" / FOLDER) in err and str(tmp_path / "data" / FOLDER) in err
    assert f"CIFAR10_ROOT is set to {tmp_path / 'elsewhere'}" in err
    assert "downloading it from http://127.0.0.1:9/" in err and "failed" in err
    assert ".." not in err and err.endswith(".")
