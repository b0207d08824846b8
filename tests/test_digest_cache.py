"""The sha256 cache: reused only for an unchanged file, never trusted after a change, never planted."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
import torch
from inprocess import run_main

from reporter.checkpoint import digest_cache, read_checkpoint


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESIS_REPORT_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("GENESIS_REPORT_NO_CACHE", "GENESIS_REPORT_VERIFY_DIGEST", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(digest_cache, "MIN_SIZE", 1)
    return tmp_path / "cache"


def _file(tmp_path, content=b"a" * 1000):
    path = tmp_path / "f.pt"
    path.write_bytes(content)
    return path


def _store(path):
    """Store the file's digest as a hash started well after its last change would (not racy)."""
    before = digest_cache.identity(str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    started = max(before["mtime_ns"], before["ctime_ns"]) + digest_cache.RACY_NS + 1
    return digest, digest_cache.store(str(path), digest, before, started)


def test_digest_reused_only_while_the_file_is_unchanged(tmp_path, cache):
    path = _file(tmp_path)
    assert digest_cache.lookup(str(path)) is None
    digest, stored = _store(path)
    assert stored and digest_cache.lookup(str(path)) == digest
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache / "sha256-v2.json").stat().st_mode) == 0o600
    path.write_bytes(b"b" * 1000)  # same size, new content and mtime
    assert digest_cache.lookup(str(path)) is None


def test_an_edit_that_restores_the_mtime_is_not_served_a_stale_digest(tmp_path, cache):
    path = _file(tmp_path)
    _store(path)
    old = os.stat(path)
    with open(path, "r+b") as handle:  # in-place edit, same size
        handle.write(b"X")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # `touch -d`: mtime put back; ctime cannot be
    assert os.stat(path).st_mtime_ns == old.st_mtime_ns and os.stat(path).st_size == old.st_size
    assert digest_cache.lookup(str(path)) is None


def test_a_file_changed_while_hashing_or_too_recently_is_not_stored(tmp_path, cache):
    path = _file(tmp_path)
    before = digest_cache.identity(str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(b"c" * 1000)  # written while the hash ran
    started = max(before["mtime_ns"], before["ctime_ns"]) + digest_cache.RACY_NS + 1
    assert not digest_cache.store(str(path), digest, before, started)
    before = digest_cache.identity(str(path))
    assert digest_cache.racy(before, digest_cache.now_ns())  # changed a moment ago: same timestamp tick
    assert not digest_cache.store(str(path), "0" * 64, before, digest_cache.now_ns())
    assert digest_cache.lookup(str(path)) is None


def test_a_planted_entry_is_ignored(tmp_path, cache):
    path = _file(tmp_path)
    digest, _ = _store(path)
    entries = cache / "sha256-v2.json"
    data = json.loads(entries.read_text())
    data[os.path.realpath(path)]["sha256"] = "deadbeef" * 8
    entries.write_text(json.dumps(data))
    assert digest_cache.lookup(str(path)) == "deadbeef" * 8  # our own private entry is trusted
    entries.chmod(0o666)  # anyone could have written it
    assert digest_cache.lookup(str(path)) is None
    entries.chmod(0o600)
    cache.chmod(0o777)  # a shared folder: anyone could have replaced the file
    assert digest_cache.lookup(str(path)) is None
    assert not digest_cache.store(str(path), digest, digest_cache.identity(str(path)), 0)
    cache.chmod(0o700)
    if os.getuid() == 0:  # another user's file (only root can hand a file to someone else)
        os.chown(entries, 65534, -1)
        assert digest_cache.lookup(str(path)) is None


def test_verification_and_disabling(tmp_path, cache, monkeypatch):
    path = _file(tmp_path)
    digest, _ = _store(path)
    monkeypatch.setenv("CI", "true")
    assert digest_cache.lookup(str(path)) is None
    monkeypatch.delenv("CI")
    monkeypatch.setenv("GENESIS_REPORT_VERIFY_DIGEST", "1")
    assert digest_cache.lookup(str(path)) is None
    monkeypatch.delenv("GENESIS_REPORT_VERIFY_DIGEST")
    assert digest_cache.lookup(str(path)) == digest
    monkeypatch.setenv("GENESIS_REPORT_NO_CACHE", "1")
    assert digest_cache.lookup(str(path)) is None and not _store(path)[1]


def test_reports_say_when_the_digest_came_from_the_cache(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(digest_cache, "RACY_NS", 0)  # the file was written a moment ago
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(3)}, path)
    first = read_checkpoint(path)
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and not first.sha256_from_cache
    out = tmp_path / "r.json"
    result = run_main("--checkpoint", path, "--no-memory", "-q", "-o", out, "-o", tmp_path / "r.md")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["meta"]["inputs"][0]["sha256_from_cache"] is True
    assert report["checkpoint"]["file"]["sha256_from_cache"] is True
    assert "(from the digest cache)" in (tmp_path / "r.md").read_text()
    result = run_main("--checkpoint", path, "--no-memory", "-q", "-o", out, "--verify-digest")
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["meta"]["inputs"][0]["sha256_from_cache"] is False


def test_the_cache_flags_are_arguments_not_environment(tmp_path, cache, monkeypatch):
    """--no-digest-cache, --no-cache and --verify-digest reach the digest cache as arguments: the process
    environment is the same after the command (an API user's next report is not affected)."""
    from reporter.cli import main

    monkeypatch.setattr(digest_cache, "RACY_NS", 0)
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(3)}, path)
    out = tmp_path / "r.json"
    before = dict(os.environ)
    for flag in ("--no-digest-cache", "--no-cache"):
        assert main(["--checkpoint", str(path), "--no-memory", "-q", "-o", str(out), flag]) == 0
        assert dict(os.environ) == before and not cache.exists(), flag  # neither read nor written
    assert main(["--checkpoint", str(path), "--no-memory", "-q", "-o", str(out), "--verify-digest"]) == 0
    assert dict(os.environ) == before and cache.exists()  # verified: hashed, and the cache refreshed
    assert read_checkpoint(path).sha256_from_cache  # the next report (no flag) reuses it
    assert not read_checkpoint(path, verify_digest=True).sha256_from_cache
    assert not read_checkpoint(path, digest_cache_on=False).sha256_from_cache

