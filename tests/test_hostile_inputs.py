"""Crafted hostile checkpoints (tests/hostile.py): the verdict follows torch.load, nothing runs, every
file ends in a report (exit 0/3) or one line (exit 2) within the documented bounds."""

from __future__ import annotations

import collections
import json
import pickle
import zipfile

import hostile
import numpy as np
import pytest
import torch
from inprocess import run_main

from reporter.checkpoint import read_checkpoint
from reporter.checkpoint import unpickler as unpickler_module
from reporter.checkpoint.analyze import analyse_checkpoint
from reporter.errors import InputError
from reporter.report_facts import exit_status


def _verdict(path):
    """(exit status, report or error message) of reading and analysing ``path`` in-process."""
    try:
        report = analyse_checkpoint(read_checkpoint(path, sha256=False))
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return 2, str(exc)
    report.model_dump_json()  # the report must serialise
    return exit_status(report.security_findings), report


@pytest.mark.parametrize(("module", "name"), hostile.DOTTED)
def test_globals_outside_the_allow_list_are_findings_whatever_their_path(tmp_path, module, name):
    marker = tmp_path / "marker"
    status, report = _verdict(hostile.make_dotted(tmp_path, module, name, marker))
    assert status == 3 and not marker.exists()
    assert [f.where for f in report.security_findings] == [f"{module}.{name}"]
    assert report.weight_health.total_numel == 4  # the rest of the file is still reported


def test_plain_data_builders_are_not_findings(tmp_path):
    path = hostile.make_range_and_dict_reconstructor(tmp_path)
    status, report = _verdict(path)
    assert status == 0 and report.security_findings == [] and report.foreign_globals == []
    built = read_checkpoint(path, sha256=False).raw["p"]
    assert built == (range(10), collections.OrderedDict(a=1))


def test_legacy_magic_followed_by_a_payload_is_a_security_finding(tmp_path):
    marker = tmp_path / "marker"
    status, report = _verdict(hostile.make_legacy_disguise(tmp_path, marker))
    assert status == 3 and not marker.exists()
    assert [f.where for f in report.security_findings] == ["posix.system"] or \
        [f.where for f in report.security_findings] == ["os.system"]


def test_deep_pickle_gets_the_verdict_of_a_shallow_one(tmp_path):
    shallow_status, shallow = _verdict(hostile.make_shallow_raw(tmp_path))
    deep_status, deep = _verdict(hostile.make_deep_raw(tmp_path, depth=20_000))
    assert shallow_status == deep_status == 2
    assert "holds no tensors" in shallow and "nested more than 200 levels" in deep
    marker = tmp_path / "marker"
    status, report = _verdict(hostile.make_deep_raw(tmp_path, depth=20_000, marker=marker))
    assert status == 3 and not marker.exists()


def test_dict_keyed_by_a_tuple_nested_a_million_deep_is_refused_not_a_crash(tmp_path):
    status, message = _verdict(hostile.make_deep_tuple_key(tmp_path, depth=1_000_000))
    assert status == 2 and "nested more than 200 levels" in message and "bound" in message


@pytest.mark.parametrize("hostile_first", [True, False])
def test_duplicate_data_pkl_is_read_as_torch_reads_it_and_a_hostile_copy_is_found(tmp_path, hostile_first):
    marker = tmp_path / "marker"
    path = hostile.make_duplicate_pickle(tmp_path, marker, hostile_first)
    torch_reads = torch._C.PyTorchFileReader(str(path)).get_record("data.pkl")
    assert (b"system" in torch_reads) is not hostile_first  # torch 2.13 reads the later copy here
    status, report = _verdict(path)
    assert status == 3 and not marker.exists()
    assert [f.where for f in report.security_findings] == ["os.system"]
    if hostile_first:  # torch reads the clean copy: its tensor is reported, the shadow is named
        assert report.weight_health.total_numel == 4
        assert "shadowed entry" in report.foreign_globals[0].calls[0]
        assert any("entries named like data.pkl" in f.message for f in report.findings)


def test_build_state_on_a_storage_is_refused(tmp_path):
    status, message = _verdict(hostile.make_build_storage_data(tmp_path))
    assert status == 2 and "state on a tensor storage" in message


@pytest.mark.parametrize("case", ["storage numel > record", "shape 1e30", "negative numel", "stride-0 2^30 view"])
def test_tensor_records_claiming_more_than_the_file_holds(tmp_path, case):
    status, message = _verdict(hostile.make_tensor_claims(tmp_path)[case])
    assert status == 2
    if case == "stride-0 2^30 view":
        assert "1,073,741,824 elements" in message and "bound" in message


def test_safetensors_headers_beyond_the_bounds(tmp_path, monkeypatch):
    status, message = _verdict(hostile.make_safetensors_deep(tmp_path, depth=100_000))
    assert status == 2 and "too deeply" in message
    monkeypatch.setattr("reporter.checkpoint.formats.TENSORS", 500)
    status, message = _verdict(hostile.make_safetensors_many(tmp_path, count=600))
    assert status == 2 and "600 tensors (bound: 500)" in message


def test_billion_laughs_in_metrics_is_refused_quickly(tmp_path):
    status, message = _verdict(hostile.make_laughs(tmp_path, levels=40))
    assert status == 2 and "metrics" in message and "200,000 values" in message


def test_opcode_tensor_and_collision_bombs_stop_at_their_bounds(tmp_path, monkeypatch):
    status, message = _verdict(hostile.make_colliding_keys(tmp_path, count=60_000))
    assert status == 2 and "share a hash value" in message
    monkeypatch.setattr(unpickler_module, "PICKLE_OPCODES", 50_000)
    status, message = _verdict(hostile.make_opcode_bomb(tmp_path, count=60_000))
    assert status == 2 and "50,000 opcodes" in message
    monkeypatch.setattr(unpickler_module, "TENSORS", 1_000)
    status, message = _verdict(hostile.make_many_tensors(tmp_path, count=5_000))
    assert status == 2 and "1,000 tensors" in message


@pytest.mark.parametrize("case", ["encrypted pickle", "unknown method pickle", "encrypted storage",
                                  "unknown method storage", "bad local header storage", "truncated directory"])
def test_zips_torch_refuses_are_refused(tmp_path, case):
    path = hostile.make_torch_refused(tmp_path)[case]
    with pytest.raises(Exception):  # noqa: B017 - torch's own reason varies by case
        torch.load(path, weights_only=False)
    status, message = _verdict(path)
    assert status == 2


def test_integers_beyond_64_bits_are_shown_exactly_as_text(tmp_path):
    status, report = _verdict(hostile.make_big_int_metric(tmp_path))
    assert status == 0
    assert report.training.metrics == {"huge": str(10**30), "enormous": "<integer of 20,001 bits>"}
    assert report.training.best_loss is None  # 10**400 is no float
    json.loads(report.model_dump_json())


def test_deflated_storages_are_streamed_and_bounded(tmp_path, monkeypatch):
    values = torch.arange(300_000, dtype=torch.float32)
    plain = tmp_path / "plain.pt"
    torch.save({"w": values}, plain)
    deflated = tmp_path / "deflated.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(deflated, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
    assert torch.equal(torch.load(deflated)["w"], values)
    ckpt = read_checkpoint(deflated, sha256=False)
    assert torch.equal(ckpt.state_dict["w"].load(), values)
    monkeypatch.setattr("reporter.checkpoint.formats.INFLATED_BYTES", 1 << 20)
    status, message = _verdict(deflated)
    assert status == 2 and "1,048,576" in message


def test_strided_tensors_are_summarised_without_copying_them_whole(tmp_path):
    base = torch.randn(64, 48, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "t.pt"
    torch.save({"w": base.t()}, path)  # saved as a non-contiguous view of its storage
    report = analyse_checkpoint(read_checkpoint(path, sha256=False))
    stats = report.weight_health.tensors[0]
    assert stats.numel == base.numel()
    assert stats.mean == pytest.approx(base.double().mean().item(), rel=1e-9)
    assert stats.l2 == pytest.approx(base.double().norm().item(), rel=1e-9)


@pytest.mark.parametrize("name", ["deep_key", "duplicate_first"])
def test_cli_gives_one_line_or_a_report(tmp_path, name):
    marker = tmp_path / "marker"
    path = (hostile.make_deep_tuple_key(tmp_path, depth=5_000) if name == "deep_key"
            else hostile.make_duplicate_pickle(tmp_path, marker, True))
    out = tmp_path / "r.json"
    result = run_main("--checkpoint", path, "--no-memory", "-q", "-o", out)
    if name == "deep_key":
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()
    else:
        assert result.returncode == 3 and out.exists() and not marker.exists()


def test_fuzzed_pickles_never_escape_as_crashes(tmp_path):
    """Seeded opcode soup around real tensor records: a report or one InputError, never anything else."""
    rng = np.random.default_rng(16)
    good = hostile.data_pkl(hostile.torch_zip(tmp_path / "seed.pt"))
    opcodes = [bytes([c]) for c in b"()]}NKJ\x88\x89tuaelsR\x81\x85\x86\x87\x93bq0h2"]
    outcomes = collections.Counter()
    for index in range(120):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 6))):
            at = int(rng.integers(2, len(data) - 1))
            if rng.random() < 0.5:
                data[at] = int(rng.integers(0, 256))
            else:
                data[at:at] = opcodes[int(rng.integers(len(opcodes)))] + bytes([int(rng.integers(0, 4))])
        path = hostile.torch_zip(tmp_path / f"f{index}.pt",
                                 mutate=lambda entries, d=bytes(data): [(n, d if n.endswith("data.pkl") else b)
                                                                        for n, b in entries])
        status, _ = _verdict(path)
        outcomes[status] += 1
    assert set(outcomes) <= {0, 2, 3} and outcomes[2] > 0


def test_globals_after_the_point_of_failure_are_still_found(tmp_path):
    """A hostile pickle that also fails (an unknown persistent id) lists every callable it names, also one
    after the failure whose name is assembled from memoised strings (STACK_GLOBAL after BINGET)."""
    from reporter.checkpoint.opscan import global_names

    hidden = (hostile.text("os") + b"q\x05" + hostile.text("system") + b"q\x06" + b"0" * 2
              + b"h\x05h\x06\x93")
    assert global_names(b"\x80\x04" + hidden + b".") == [("os", "system")]
    early = b"cbuiltins\neval\n0"  # named (torch would resolve it) before the failure
    data = (b"\x80\x02" + early + b"(" + hostile.text("module") + b"tQ" + b"0" + hidden + hostile.touch(tmp_path)
            + b"\x85R.")
    status, report = _verdict(hostile.raw(tmp_path / "late.pkl", data))
    assert status == 3 and sorted(f.where for f in report.security_findings) == ["builtins.eval", "os.system"]
    assert any("could not be read past" in f.message for f in report.findings)


def test_a_malformed_pickle_is_not_scanned_past_its_error(tmp_path):
    """torch's unpickler fails at the same opcode, so bytes after it (a random file) are no finding."""
    data = b"\x80\x02(" + hostile.text("module") + b"tQ" + b"0" + b"cos\nsystem\n" + b"."
    status, message = _verdict(hostile.raw(tmp_path / "broken.pkl", data))
    assert status == 2 and "persistent" in message
    rng = __import__("random").Random(7)
    for index in range(40):  # random bytes never count as "asks to run code"
        path = tmp_path / f"random{index}.pt"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
        assert _verdict(path)[0] == 2, index


@pytest.mark.parametrize("where", ["other prefix", "nested prefix"])
def test_data_pkl_under_another_prefix(tmp_path, where):
    """``zzz/data.pkl`` next to the archive: torch refuses the zip (exit 2 with its reason);
    ``archive/sub/data.pkl``: torch reads the real one, the other is scanned and its payload found."""
    marker = tmp_path / "marker"
    evil = b"\x80\x02" + hostile.call(hostile.glob("os", "system"), hostile.touch(marker)) + b"."

    def mutate(entries):
        prefix = entries[0][0].split("/", 1)[0]
        name = "zzz/data.pkl" if where == "other prefix" else f"{prefix}/sub/data.pkl"
        return entries + [(name, evil)] if where == "other prefix" else [(name, evil)] + entries

    path = hostile.torch_zip(tmp_path / "prefixed.pt", mutate=mutate)
    status, result = _verdict(path)
    if where == "other prefix":
        with pytest.raises(RuntimeError):
            torch.load(path, weights_only=False)
        assert status == 2 and "torch.load refuses this zip" in result
    else:
        assert torch.load(path, weights_only=False)["p"] == hostile.MARKER and not marker.exists()
        assert status == 3 and [f.where for f in result.security_findings] == ["os.system"]


def test_legacy_tar_checkpoints_are_scanned_as_torch_would_unpickle_them(tmp_path):
    """torch.load tries its pre-0.4 tar format first and unpickles the ``storages`` member."""
    import io
    import tarfile

    marker = tmp_path / "marker"

    def tar(name, members):
        path = tmp_path / name
        with tarfile.open(path, "w") as archive:
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return path

    evil = b"\x80\x02" + hostile.call(hostile.glob("os", "system"), hostile.touch(marker)) + b"."
    status, report = _verdict(tar("evil.tar", {"storages": evil, "tensors": b"", "pickle": b""}))
    assert status == 3 and not marker.exists() and [f.where for f in report.security_findings] == ["os.system"]
    status, message = _verdict(tar("plain.tar", {"storages": pickle.dumps(0, protocol=2),
                                                 "tensors": pickle.dumps(0, protocol=2),
                                                 "pickle": pickle.dumps({"a": 1}, protocol=2)}))
    assert status == 2 and "legacy tar checkpoint" in message
    status, message = _verdict(tar("other.tar", {"readme.txt": b"hello"}))
    assert status == 2 and "no 'storages' member" in message
