"""A recipe's bytes are decoded by YAML's own reader, the one boundary of its text: UTF-8, or UTF-16
with its byte-order mark, is read; bytes that are neither are a ConfigError naming the file (one line,
exit status 2 in the CLI), not a UnicodeDecodeError."""

from __future__ import annotations

import pytest
from helpers import QUICK, cli_error

from cnnzoo.errors import ConfigError
from cnnzoo.training.config import load_config


def test_bytes_that_are_no_text_are_refused_with_the_file_named(capsys, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("epochs: 3\nmodel: r\xe9seau\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml.*unacceptable character #x00e9") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)
    line = cli_error(capsys, ["train", "--config", str(path), *QUICK])
    assert "latin1.yaml" in line and "Traceback" not in line


def test_utf16_with_its_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes("epochs: 3\nlr: 0.05\n".encode("utf-16"))  # Python writes the BOM first
    assert load_config(path) == {"epochs": 3, "lr": 0.05}
