"""Hostile pickles: nothing is ever executed, every attempt becomes a security finding (exit 3)."""

from __future__ import annotations

import os
import pickle
import subprocess

import pytest
import torch

from reporter.checkpoint import read_checkpoint
from reporter.checkpoint.analyze import analyse_checkpoint
from reporter.report_facts import exit_status


class _Payload:
    """Pickles as a call of ``func(*args)``; unpickling it with a normal unpickler would run it."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return {
        "os.system": _Payload(os.system, (f"touch {marker}",)),
        "eval": _Payload(eval, (code,)),
        "exec": _Payload(exec, (code,)),
        "subprocess": _Payload(subprocess.call, (["touch", str(marker)],)),
    }


def _nest(value, depth=40):
    for level in range(depth):
        value = [value] if level % 2 else (1, value)
    return value


def _check(path, marker, expected_global):
    report = analyse_checkpoint(read_checkpoint(path))
    assert not marker.exists(), "the payload ran"
    assert exit_status(report.security_findings) == 3
    # protocol 2 writes Python 3's builtins under its Python 2 name
    accepted = {expected_global, expected_global.replace("builtins.", "__builtin__.")}
    names = {f.where for f in report.security_findings}
    assert accepted & names, names
    assert all(f.severity.value == "security" for f in report.security_findings)
    refused = {g.name for g in report.foreign_globals if g.kind == "refused-callable"}
    assert accepted & refused
    return report


_EXPECTED = {"os.system": "posix.system", "eval": "builtins.eval", "exec": "builtins.exec",
             "subprocess": "subprocess.call"}


@pytest.mark.parametrize("kind", sorted(_EXPECTED))
def test_payload_at_top_level_of_raw_pickle(tmp_path, kind):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_payloads(marker)[kind], protocol=2))
    report = _check(path, marker, _EXPECTED[kind])
    assert report.file.format == "pickle"


@pytest.mark.parametrize("kind", sorted(_EXPECTED))
def test_payload_nested_deep_in_a_trainer_checkpoint(tmp_path, kind):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"epoch": 3, "global_step": 10, "model_state_dict": {"w": torch.ones(3)},
                "optimizer_state_dict": {"state": {}, "param_groups": []}, "best_loss": 0.1,
                "metrics": {"x": _nest(_payloads(marker)[kind])}}, path)
    report = _check(path, marker, _EXPECTED[kind])
    # the rest of the checkpoint is still reported
    assert report.training.epoch_stored == 3 and report.weight_health.total_numel == 3


@pytest.mark.parametrize("kind", ["os.system", "eval"])
def test_payload_in_legacy_torch_format(tmp_path, kind):
    marker = tmp_path / "marker"
    path = tmp_path / "evil_legacy.pt"
    torch.save({"model_state_dict": {"w": torch.ones(2)}, "payload": (_payloads(marker)[kind],)}, path,
               _use_new_zipfile_serialization=False)
    report = _check(path, marker, _EXPECTED[kind])
    assert report.file.format == "torch-legacy"


def test_getattr_import_chain_is_refused(tmp_path):
    marker = tmp_path / "marker"
    # getattr(__import__('os'), 'system')('touch marker'), written by hand in protocol 0
    data = (b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V"
            + f"touch {marker}".encode() + b"\ntR.")
    path = tmp_path / "chain.pkl"
    path.write_bytes(data)
    report = _check(path, marker, "builtins.getattr")
    assert "builtins.__import__" in {f.where for f in report.security_findings}


def test_payload_used_as_class_still_reports(tmp_path):
    marker = tmp_path / "marker"
    # NEWOBJ on os.system: the load of that object fails, the finding is still produced
    command = f"touch {marker}".encode()
    data = b"\x80\x02cos\nsystem\nX" + len(command).to_bytes(4, "little") + command + b"\x85\x81."
    path = tmp_path / "newobj.pkl"
    path.write_bytes(data)
    _check(path, marker, "os.system")


def test_payload_inside_zip_data_pkl_written_by_hand(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2)}, path)
    import zipfile

    evil = pickle.dumps({"w": _payloads(marker)["exec"]}, protocol=2)
    rewritten = tmp_path / "rewritten.pt"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rewritten, "w") as target:
        for info in source.infolist():
            data = evil if info.filename.endswith("data.pkl") else source.read(info)
            target.writestr(info, data)
    _check(rewritten, marker, "builtins.exec")


def test_benign_checkpoint_has_no_security_finding(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save({"w": torch.ones(2)}, path)
    report = analyse_checkpoint(read_checkpoint(path))
    assert report.security_findings == [] and exit_status(report.security_findings) == 0


def test_memory_exhaustion_pickles_are_refused_before_unpickling(tmp_path):
    from reporter.errors import InputError

    bombs = {
        "memo.pkl": b"\x80\x02K\x01r" + (2**31 - 1).to_bytes(4, "little") + b".",  # memo array of 16 GB
        "bytes.pkl": b"\x80\x05\x96" + (2**40).to_bytes(8, "little") + b".",  # 1 TB bytearray
    }
    for name, data in bombs.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError) as info:
            read_checkpoint(path)
        assert "\n" not in str(info.value)


def test_hostile_and_malformed_pickle_still_reports_the_callable(tmp_path):
    marker = tmp_path / "marker"
    data = (b"\x80\x02cos\nsystem\nX" + len(f"touch {marker}").to_bytes(4, "little")
            + f"touch {marker}".encode() + b"\x85R\x96" + (2**40).to_bytes(8, "little") + b".")
    path = tmp_path / "both.pkl"
    path.write_bytes(data)
    _check(path, marker, "os.system")
