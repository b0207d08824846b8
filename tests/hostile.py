"""Crafted hostile and broken checkpoints, generated on demand (small, deterministic, no binaries kept).

Each ``make_*`` writes one file into a folder and returns its path. ``CASES`` names every crafted
file with the exit status genesis-report must give it; tests/test_hostile_inputs.py checks each one,
and bench/hostile_bench.py runs each through the real CLI to measure wall time and peak memory.
Payloads ``touch`` a marker file, so a test can prove nothing was executed.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

MARKER = "@@PAYLOAD@@"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


# --- opcode helpers --------------------------------------------------------------------------------


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def stack_glob(module: str, name: str) -> bytes:
    return text(module) + text(name) + b"\x93"


def call(func: bytes, *args: bytes) -> bytes:
    return func + b"(" + b"".join(args) + b"tR"


def touch(marker: Path) -> bytes:
    return text(f"touch {marker}")


# --- containers ----------------------------------------------------------------------------------------


def torch_zip(path: Path, payload: bytes | None = None, obj: object | None = None,
              mutate: Callable[[list[tuple[str, bytes]]], list[tuple[str, bytes]]] | None = None) -> Path:
    """torch.save of ``obj`` (default: one tensor and a payload slot), with the payload's opcodes put
    in place of the marker string and the zip entries optionally rewritten by ``mutate``."""
    if obj is None:
        obj = {"w": torch.arange(4, dtype=torch.float32), "p": MARKER}
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source:
        entries = [(info.filename, source.read(info)) for info in source.infolist()]
    if payload is not None:
        entries = [(n, d.replace(text(MARKER), payload) if n.endswith("data.pkl") else d) for n, d in entries]
    if mutate is not None:
        entries = mutate(entries)
    with zipfile.ZipFile(path, "w") as target, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are the point of some cases
        for name, data in entries:
            target.writestr(zipfile.ZipInfo(name), data)
    return path


def data_pkl(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


def raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the crafted cases --------------------------------------------------------------------------------

DOTTED = [("torch", "os.system"), ("torch.os", "system"), ("pathlib", "os.system"),
          ("torch.nn.modules.module", "torch.os.system"), ("pydoc", "pipepager"), ("yaml", "unsafe_load"),
          ("imaplib", "IMAP4_stream")]


def make_dotted(folder: Path, module: str, name: str, marker: Path) -> Path:
    func = stack_glob(module, name) if "." in name else glob(module, name)
    return torch_zip(folder / f"dotted_{module}_{name}.pt", call(func, touch(marker)))


def make_range_and_dict_reconstructor(folder: Path) -> Path:
    """Benign plain data built by ``range(10)`` and ``copyreg._reconstructor(OrderedDict, dict, {...})``."""
    rng = call(glob("__builtin__", "xrange"), b"K\x0a")
    od = call(glob("copy_reg", "_reconstructor"), glob("collections", "OrderedDict"), glob("__builtin__", "dict"),
              b"}" + text("a") + b"K\x01s")
    return torch_zip(folder / "benign_range.pt", b"(" + rng + od + b"t")


def make_legacy_disguise(folder: Path, marker: Path) -> Path:
    """The legacy magic number (written as a protocol-0 long), then a pickle that runs ``os.system``."""
    magic = f"L{LEGACY_MAGIC}L\n.".encode()
    return raw(folder / "legacy_disguise.pt", magic + b"\x80\x02" + call(glob("os", "system"), touch(marker)) + b".")


def make_deep_raw(folder: Path, depth: int = 1_000_000, marker: Path | None = None) -> Path:
    inner = call(glob("os", "system"), touch(marker)) if marker is not None else b"N"
    data = b"\x80\x02" + b"]" * depth + inner + b"a" * depth + b"."
    return raw(folder / ("deep_hostile.pkl" if marker else "deep.pkl"), data)


def make_shallow_raw(folder: Path) -> Path:
    return raw(folder / "shallow.pkl", pickle.dumps([[1, 2], {"a": 3}], protocol=2))


def make_deep_tuple_key(folder: Path, depth: int = 1_000_000) -> Path:
    """A dict keyed by a tuple nested ``depth`` deep (hashing it recursed in C and crashed CPython)."""
    key = b")" + b"\x85" * depth  # (), ((),), (((),),) ...
    return torch_zip(folder / "deep_key.pt", b"}" + key + b"K\x01s")


def make_duplicate_pickle(folder: Path, marker: Path, hostile_first: bool) -> Path:
    evil = b"\x80\x02" + call(glob("os", "system"), touch(marker)) + b"."

    def mutate(entries: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        out = []
        for name, data in entries:
            if name.endswith("/data.pkl"):
                out += [(name, evil), (name, data)] if hostile_first else [(name, data), (name, evil)]
            else:
                out.append((name, data))
        return out

    return torch_zip(folder / f"duplicate_{'first' if hostile_first else 'second'}.pt", mutate=mutate)


def make_build_storage_data(folder: Path) -> Path:
    """A BUILD that hands the storage clean ``data`` bytes while the file's storage holds a NaN."""
    obj = {"w": torch.tensor([1.0, float("nan")])}
    clean = struct.pack("<2f", 1.0, 2.0)
    state = b"}" + text("data") + b"C" + bytes([len(clean)]) + clean + b"s"

    def mutate(entries: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        # BINPERSID pushes the storage; BUILD then gives it the clean bytes as its ``data``
        return [(n, d.replace(b"Q", b"Q" + state + b"b", 1) if n.endswith("data.pkl") else d) for n, d in entries]

    return torch_zip(folder / "build_data.pt", obj=obj, mutate=mutate)


def _tensor_pickle(size: bytes, stride: bytes, numel: int, offset: int = 0) -> bytes:
    storage = b"(" + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu") + _int(numel) + b"tQ"
    args = b"(" + storage + _int(offset) + size + stride + b"\x89" + call(glob("collections", "OrderedDict")) + b"t"
    return b"\x80\x02}" + text("w") + glob("torch._utils", "_rebuild_tensor_v2") + args + b"Rs."


def _int(value: int) -> bytes:
    if 0 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8 or 1, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def _tuple(*values: int) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def hand_zip(path: Path, pickle_bytes: bytes, storage: bytes, compress: bool = False) -> Path:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/data/0", storage, compress_type=method)
        archive.writestr("archive/version", "3\n")
    return path


def make_tensor_claims(folder: Path) -> dict[str, Path]:
    """Tensor and storage records that claim more than the file holds."""
    four = struct.pack("<f", 1.0)
    return {
        "storage numel > record": hand_zip(folder / "storage_claim.pt", _tensor_pickle(_tuple(1000), _tuple(1), 1000),
                                           four),
        "shape 1e30": hand_zip(folder / "shape_1e30.pt", _tensor_pickle(_tuple(10**30), _tuple(0), 1), four),
        "negative numel": hand_zip(folder / "negative_numel.pt", _tensor_pickle(_tuple(1), _tuple(1), -5), four),
        "stride-0 2^30 view": hand_zip(folder / "stride0.pt", _tensor_pickle(_tuple(1 << 30), _tuple(0), 1), four),
        "stride-0 2^31 view": hand_zip(folder / "stride0_31.pt", _tensor_pickle(_tuple(1 << 31), _tuple(0), 1), four),
    }


def make_safetensors_deep(folder: Path, depth: int = 100_000) -> Path:
    header = ("[" * depth + "]" * depth).encode()
    header = b'{"a":' + header + b"}"
    return raw(folder / "deep.safetensors", struct.pack("<Q", len(header)) + header)


def make_safetensors_many(folder: Path, count: int = 300_000) -> Path:
    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(count)}
    data = json.dumps(header, separators=(",", ":")).encode()
    return raw(folder / "many.safetensors", struct.pack("<Q", len(data)) + data + b"\0" * (4 * count))


def make_laughs(folder: Path, levels: int = 40) -> Path:
    """A trainer checkpoint whose metrics hold a list of 2^levels leaves in a few hundred bytes."""
    ops = b"(" + text("lol") + b"l"  # ['lol']
    for level in range(levels):
        ops += b"q" + bytes([level % 250]) + b"h" + bytes([level % 250]) + b"\x86"  # (x, x)
    obj = {"epoch": 1, "global_step": 2, "model_state_dict": {"w": torch.ones(2)},
           "optimizer_state_dict": {"state": {}, "param_groups": []}, "best_loss": 0.5, "metrics": {"m": MARKER}}
    return torch_zip(folder / "laughs.pt", ops, obj=obj)


def make_opcode_bomb(folder: Path, count: int = 6_000_000) -> Path:
    """No-op opcodes (push None, pop it) in a deflated data.pkl: 12 MB of work in a 12 KB file."""
    data = b"\x80\x02" + b"N0" * count + b"}."
    path = folder / "opcode_bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/version", "3\n")
    return path


def make_many_tensors(folder: Path, count: int = 1_000_000) -> Path:
    """``count`` small tensors sharing one storage and one memoised argument tuple."""
    storage = b"(" + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu") + _int(1) + b"tQ"
    head = (b"\x80\x02]" + glob("torch._utils", "_rebuild_tensor_v2") + b"q\x01(" + storage + _int(0) + _tuple(1)
            + _tuple(1) + b"\x89" + call(glob("collections", "OrderedDict")) + b"tq\x02")
    body = b"(" + b"h\x01h\x02R" * count + b"e."
    path = folder / "many_tensors.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", head + body)
        archive.writestr("archive/data/0", struct.pack("<f", 1.0), compress_type=zipfile.ZIP_STORED)
        archive.writestr("archive/version", "3\n")
    return path


def make_colliding_keys(folder: Path, count: int = 60_000) -> Path:
    """A dict of ``count`` integer keys that all hash to 0 (i * (2^61 - 1)): quadratic to insert."""
    modulus = (1 << 61) - 1
    ops = b"}(" + b"".join(_int(i * modulus) + b"N" for i in range(1, count + 1)) + b"u"
    path = folder / "colliding.pt"
    return torch_zip(path, ops)


def make_deflate_bomb(folder: Path, megabytes: int = 3000) -> Path:
    """Storages stored deflated: a small file whose storages inflate to gigabytes."""
    per = 500 << 20
    count = max(megabytes * (1 << 20) // per, 1)
    storage_pickles = b"".join(
        text(f"t{i}") + glob("torch._utils", "_rebuild_tensor_v2") + b"(" + b"(" + text("storage")
        + glob("torch", "ByteStorage") + text(str(i)) + text("cpu") + _int(per) + b"tQ" + _int(0) + _tuple(per)
        + _tuple(1) + b"\x89" + call(glob("collections", "OrderedDict")) + b"tR" for i in range(count))
    data = b"\x80\x02}(" + storage_pickles + b"u."
    path = folder / "deflate_bomb.pt"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        for i in range(count):
            info = zipfile.ZipInfo(f"archive/data/{i}")
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as out:
                for _ in range(per >> 20):
                    out.write(chunk)
        archive.writestr("archive/version", "3\n")
    return path


def make_torch_refused(folder: Path) -> dict[str, Path]:
    """Zips torch's reader refuses: encrypted entries, an unknown compression method, a bad header."""
    base = torch_zip(folder / "refused_base.pt")
    data = base.read_bytes()
    out = {}
    with zipfile.ZipFile(base) as archive:
        infos = {i.filename.rsplit("/", 1)[-1] if "/data/" not in i.filename else "storage": i
                 for i in archive.infolist()}
    central = data.rfind(b"PK\x05\x06")
    for label, info in (("pickle", infos["data.pkl"]), ("storage", infos["storage"])):
        cd = _central_entry(data, info.filename)
        encrypted = bytearray(data)
        struct.pack_into("<H", encrypted, info.header_offset + 6, 1)
        struct.pack_into("<H", encrypted, cd + 8, 1)
        out[f"encrypted {label}"] = raw(folder / f"encrypted_{label}.pt", bytes(encrypted))
        method = bytearray(data)
        struct.pack_into("<H", method, cd + 10, 99)
        out[f"unknown method {label}"] = raw(folder / f"method_{label}.pt", bytes(method))
        signature = bytearray(data)
        struct.pack_into("<I", signature, info.header_offset, 0x11223344)
        out[f"bad local header {label}"] = raw(folder / f"header_{label}.pt", bytes(signature))
    out["truncated directory"] = raw(folder / "truncated_dir.pt", data[: central - 10])
    return out


def _central_entry(data: bytes, name: str) -> int:
    position = data.find(b"PK\x01\x02")
    while position != -1:
        length = struct.unpack("<H", data[position + 28: position + 30])[0]
        if data[position + 46: position + 46 + length].decode() == name:
            return position
        position = data.find(b"PK\x01\x02", position + 1)
    raise KeyError(name)


def make_big_int_metric(folder: Path) -> Path:
    obj = {"epoch": 1, "global_step": 2, "model_state_dict": {"w": torch.ones(2)},
           "optimizer_state_dict": {"state": {}, "param_groups": []}, "best_loss": 10**400,
           "metrics": {"huge": 10**30, "enormous": 1 << 20000}}
    return torch_zip(folder / "big_int.pt", obj=obj)
