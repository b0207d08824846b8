"""The sha256 cache: reused only for an unchanged file, never trusted after a change."""

from __future__ import annotations

import hashlib
import os

from reporter.checkpoint import digest_cache


def test_digest_reused_only_while_the_file_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESIS_REPORT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GENESIS_REPORT_NO_CACHE", raising=False)
    monkeypatch.setattr(digest_cache, "MIN_SIZE", 1)
    path = tmp_path / "f.pt"
    path.write_bytes(b"a" * 1000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest_cache.lookup(str(path)) is None
    digest_cache.store(str(path), digest)
    assert digest_cache.lookup(str(path)) == digest
    path.write_bytes(b"b" * 1000)  # same size, new content and mtime
    os.utime(path, ns=(1, 2))
    assert digest_cache.lookup(str(path)) is None


def test_cache_can_be_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESIS_REPORT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GENESIS_REPORT_NO_CACHE", "1")
    monkeypatch.setattr(digest_cache, "MIN_SIZE", 1)
    path = tmp_path / "f.pt"
    path.write_bytes(b"x" * 10)
    digest_cache.store(str(path), "0" * 64)
    assert digest_cache.lookup(str(path)) is None
    assert not (tmp_path / "cache").exists()
