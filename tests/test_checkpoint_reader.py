"""Reading GENESIS trainer checkpoints of every era and the other supported formats."""

from __future__ import annotations

import hashlib
import pickle
import sys
import zipfile

import numpy as np
import pytest
import torch
from test_checkpoint_helpers import TinyDit, forget_module, load_config_module, trainer_checkpoint

from reporter.checkpoint import read_checkpoint
from reporter.checkpoint.analyze import analyse_checkpoint
from reporter.errors import InputError
from reporter.report_facts import exit_status


@pytest.mark.parametrize("era", ["earliest", "mid", "late"])
def test_trainer_checkpoint_of_each_era(tmp_path, era):
    path, model = trainer_checkpoint(tmp_path, era=era)
    assert "config" not in sys.modules
    report = analyse_checkpoint(read_checkpoint(path))
    assert report.file.structure == "trainer-checkpoint"
    assert report.training.epoch_stored == 7 and report.training.epochs_completed == 8
    assert report.training.global_step == 1234
    assert report.training.best_loss == pytest.approx(0.0123, abs=0)
    assert report.optimizer.type == "AdamW"
    assert report.optimizer.param_groups[0].lr == 3e-4
    assert report.optimizer.step_count == 3
    assert report.scheduler.type == "ReduceLROnPlateau"
    expected_numel = sum(t.numel() for t in model.state_dict().values())
    assert report.weight_health.total_numel == expected_numel
    assert len(report.weight_health.tensors) == len(model.state_dict())
    params = sum(p.numel() for p in model.parameters())
    assert report.optimizer.state_tensors == 3 * len(list(model.parameters()))
    assert report.optimizer.state_bytes == 2 * 4 * params + 4 * len(list(model.parameters()))
    assert report.file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.security_findings == [] and exit_status(report.security_findings) == 0
    config = report.config
    assert config["model"]["hidden"] == 16 and config["model"]["affine_scales"][2] == 600.0
    assert config["training"]["fusion_kind"] == "SUM"
    assert config["training"]["output_dir"] == "outputs/run"
    assert config["data"] == {"batch_size": 128}
    kinds = {g.name: g.kind for g in report.foreign_globals}
    assert kinds["config.ModelConfig"] == "data-holder"
    if era == "earliest":
        assert report.early_stopping is None and report.training.metrics == {}
    else:
        assert report.training.metrics == {"train/epoch_loss": 0.02, "train/epoch_time": 12.5}
        es = report.early_stopping
        assert (es.counter, es.best_epoch, es.best_score, es.patience) == (2, 5, -0.0123, 4)
        assert es.best_weights_tensors == len(model.state_dict())
        model_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        assert es.best_weights_bytes == model_bytes
        sections = {s.section: s.bytes for s in report.file.sections}
        assert sections["model"] == model_bytes and sections["early-stopping copy"] == model_bytes
        assert sum(sections.values()) == path.stat().st_size
    if era == "mid":
        assert report.training.suffix == "final"
    if era == "late":
        assert report.training.metadata["is_best"] is True


def test_adam_is_told_from_adamw_and_sgd(tmp_path):
    (tmp_path / "a").mkdir()
    adam, _ = trainer_checkpoint(tmp_path / "a", optimizer="Adam", scheduler="cosine")
    report = analyse_checkpoint(read_checkpoint(adam), weights=False)
    assert report.optimizer.type == "Adam"
    assert report.scheduler.type == "CosineAnnealingLR"
    assert report.scheduler.last_epoch == 1 and report.scheduler.current_lr[0] < 3e-4
    (tmp_path / "s").mkdir()
    sgd, _ = trainer_checkpoint(tmp_path / "s", optimizer="SGD", scheduler=None)
    report = analyse_checkpoint(read_checkpoint(sgd), weights=False)
    assert report.optimizer.type == "SGD" and report.optimizer.param_groups[0].momentum == 0.9
    assert report.scheduler is None


def test_weight_statistics_are_exact(tmp_path):
    model = TinyDit()
    path = tmp_path / "sd.pth"
    torch.save(model.state_dict(), path)
    health = analyse_checkpoint(read_checkpoint(path)).weight_health
    stats = {s.name: s for s in health.tensors}
    for name, tensor in model.state_dict().items():
        values = tensor.double().reshape(-1)
        s = stats[name]
        assert s.numel == values.numel()
        assert s.mean == pytest.approx(values.mean().item(), rel=1e-9, abs=1e-12)
        if values.numel() > 1:
            assert s.std == pytest.approx(values.std().item(), rel=1e-9, abs=1e-12)
        assert (s.min, s.max) == (values.min().item(), values.max().item())
        assert s.l2 == pytest.approx(values.norm().item(), rel=1e-12)
        assert s.zero_fraction == (values == 0).double().mean().item()
    assert len(health.histograms) == 4
    for histogram in health.histograms:
        assert sum(histogram.series[0].values) == model.state_dict()[histogram.title].numel()
    (gates,) = [f for f in health.findings if f.code == "weights.gate-zero"]  # one finding for every gate
    assert gates.items == ["blocks.0.gate_attn", "blocks.1.gate_attn"]
    assert gates.message.startswith("2 tensors are exactly 0")


def test_nan_in_one_weight_is_reported_by_name(tmp_path):
    model = TinyDit()
    with torch.no_grad():
        model.blocks[1].mlp.fc1.weight[3, 2] = float("nan")
        model.out_proj.bias[0] = float("inf")
    opt = torch.optim.AdamW(model.parameters())
    path = tmp_path / "nan.pt"
    state = opt.state_dict()
    torch.save({"epoch": 0, "global_step": 1, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": state, "best_loss": float("inf")}, path)
    report = analyse_checkpoint(read_checkpoint(path))
    (error,) = [f for f in report.findings if f.code == "weights.non-finite"]
    assert error.items == ["blocks.1.mlp.fc1.weight (1 NaN, 0 Inf)", "out_proj.bias (0 NaN, 1 Inf)"]
    assert error.where == "blocks.1.mlp.fc1.weight" and error.severity == "error"
    stats = {s.name: s for s in report.weight_health.tensors}
    assert stats["blocks.1.mlp.fc1.weight"].nan_count == 1
    assert stats["out_proj.bias"].inf_count == 1
    finite = model.blocks[1].mlp.fc1.weight.detach().reshape(-1).double()
    finite = finite[torch.isfinite(finite)]
    assert stats["blocks.1.mlp.fc1.weight"].mean == pytest.approx(finite.mean().item(), rel=1e-9)


def test_nan_in_optimizer_state_is_reported(tmp_path):
    model = TinyDit()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3, 2)).sum().backward()
    opt.step()
    names = [n for n, _ in model.named_parameters()]
    index = names.index("out_proj.weight")
    opt.state[model.out_proj.weight]["exp_avg_sq"][0, 0] = float("nan")
    path = tmp_path / "opt.pt"
    torch.save({"epoch": 0, "global_step": 1, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "best_loss": 1.0}, path)
    report = analyse_checkpoint(read_checkpoint(path))
    found = [f for f in report.findings if f.code == "optimizer.non-finite"]
    assert len(found) == 1 and found[0].where == f"state[{index}].exp_avg_sq"
    assert "out_proj.weight" in found[0].message


def test_bare_state_dict_safetensors_and_legacy_agree(tmp_path):
    from safetensors.torch import save_file

    model = TinyDit()
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(sd, tmp_path / "zip.pth")
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    save_file(sd, str(tmp_path / "w.safetensors"), metadata={"epoch": "3"})
    formats = {}
    for name in ("zip.pth", "legacy.pt", "w.safetensors"):
        ckpt = read_checkpoint(tmp_path / name)
        formats[ckpt.format] = ckpt
        assert ckpt.structure == "state-dict"
        assert ckpt.shapes() == {k: tuple(v.shape) for k, v in sd.items()}
        for key, value in sd.items():
            assert torch.equal(ckpt.state_dict[key].load(), value)
    assert set(formats) == {"torch-zip", "torch-legacy", "safetensors"}
    assert formats["safetensors"].safetensors_metadata == {"epoch": "3"}


def test_pickled_whole_module_reports_class_without_importing(tmp_path):
    folder = tmp_path / "modsrc"
    folder.mkdir()
    (folder / "genesis_models_x.py").write_text(
        "import torch\nclass PMTDitX(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.proj = torch.nn.Linear(3, 4)\n        self.register_buffer('scale', torch.ones(2))\n")
    sys.path.insert(0, str(folder))
    import genesis_models_x

    model = genesis_models_x.PMTDitX()
    path = tmp_path / "whole.pth"
    torch.save(model, path)
    sys.path.remove(str(folder))
    sys.modules.pop("genesis_models_x")
    ckpt = read_checkpoint(path)
    assert "genesis_models_x" not in sys.modules
    assert ckpt.structure == "module" and ckpt.module_class == "genesis_models_x.PMTDitX"
    assert set(ckpt.state_dict) == {"proj.weight", "proj.bias", "scale"}
    assert torch.equal(ckpt.state_dict["proj.weight"].load(), model.proj.weight.detach())
    report = analyse_checkpoint(ckpt)
    assert report.file.module_class == "genesis_models_x.PMTDitX"
    kinds = {g.name: g.kind for g in report.foreign_globals}
    # torch.load(weights_only=False) would import genesis_models_x (running its code) to build the
    # class: outside the allow-list, so a security finding; torch.nn's own classes are allowed.
    assert kinds["genesis_models_x.PMTDitX"] == "refused-callable"
    assert kinds["torch.nn.modules.linear.Linear"] == "module-class"
    assert [f.where for f in report.security_findings] == ["genesis_models_x.PMTDitX"]
    assert exit_status(report.security_findings) == 3
    assert any(f.code == "checkpoint.pickled-module" for f in report.findings)


def test_frozen_dataclass_and_numpy_array_in_config(tmp_path):
    config, folder = load_config_module(tmp_path)
    path = tmp_path / "c.pt"
    torch.save({"epoch": 1, "global_step": 2, "model_state_dict": {"w": torch.ones(2)},
                "optimizer_state_dict": {"state": {}, "param_groups": []},
                "best_loss": np.float32(0.5), "config": {"data": config.DataConfig(batch_size=3),
                                                         "arr": np.arange(4, dtype=np.int16)}}, path)
    forget_module("config", folder)
    ckpt = read_checkpoint(path)
    assert ckpt.config == {"data": {"batch_size": 3}, "arr": [0, 1, 2, 3]}
    assert ckpt.training["best_loss"] == 0.5


def _assert_one_line_error(path, fragment):
    with pytest.raises(InputError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and fragment in message and str(path) in message


def test_bad_files_give_one_line_input_errors(tmp_path):
    _assert_one_line_error(tmp_path / "missing.pt", "no such file")
    (tmp_path / "empty.pt").write_bytes(b"")
    _assert_one_line_error(tmp_path / "empty.pt", "empty")
    _assert_one_line_error(tmp_path, "directory")
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    _assert_one_line_error(tmp_path / "random.pt", "not a checkpoint")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    _assert_one_line_error(tmp_path / "list.pkl", "holds no tensors")
    path, _ = trainer_checkpoint(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 200):
        truncated = tmp_path / f"trunc{cut}.pt"
        truncated.write_bytes(data[:cut])
        _assert_one_line_error(truncated, "truncated")
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(1000)}, legacy, _use_new_zipfile_serialization=False)
    legacy_data = legacy.read_bytes()
    (tmp_path / "legacy_cut.pt").write_bytes(legacy_data[:-100])
    _assert_one_line_error(tmp_path / "legacy_cut.pt", "truncated")
    (tmp_path / "notzip.pt").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    _assert_one_line_error(tmp_path / "notzip.pt", "truncated or corrupt")


def test_zip_without_data_pkl_is_rejected(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    _assert_one_line_error(path, "without data.pkl")


def test_float32_fast_path_precision_and_cancellation_guard(tmp_path):
    generator = torch.Generator().manual_seed(1)
    tensors = {
        "big.weight": torch.randn(700, 600, generator=generator) * 0.02,  # float32 reductions
        "norm.weight": 1.0 + torch.randn(300_000, generator=generator) * 1e-4,  # mean² ≫ var: exact redo
        "sparse.weight": torch.where(torch.rand(400, 400, generator=generator) < 0.3, 0.0, 1.0),
    }
    tensors["sparse.weight"][0, :7] = -0.0
    path = tmp_path / "big.pth"
    torch.save(tensors, path)
    stats = {s.name: s for s in analyse_checkpoint(read_checkpoint(path)).weight_health.tensors}
    for name, tensor in tensors.items():
        values = tensor.double().reshape(-1)
        s = stats[name]
        assert s.mean == pytest.approx(values.mean().item(), rel=1e-5)
        assert s.std == pytest.approx(values.std().item(), rel=1e-5)
        assert s.l2 == pytest.approx(values.norm().item(), rel=1e-6)
        assert (s.min, s.max) == (values.min().item(), values.max().item())
        assert s.zero_fraction == (values == 0).double().mean().item()


def test_adam_family_without_decoupled_key_uses_the_embedded_config():
    from reporter.checkpoint.sections import infer_optimizer_type

    group = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False}
    states = [{"step": 1, "exp_avg": None, "exp_avg_sq": None}]
    assert infer_optimizer_type([group], states, "Adam")[0] == "Adam"
    assert infer_optimizer_type([group], states, None)[0] == "AdamW"
    assert infer_optimizer_type([{**group, "decoupled_weight_decay": False}], states, "AdamW")[0] == "Adam"


def test_presized_bytes_in_a_pickle_are_refused(tmp_path):
    path = tmp_path / "huge.pkl"
    path.write_bytes(b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00\x7f\x85R.")
    _assert_one_line_error(path, "pre-sized bytearray")


def test_torchscript_archive_is_not_taken_for_a_checkpoint(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 3)), str(path))
    _assert_one_line_error(path, "TorchScript")


def test_progress_is_reported_for_each_long_stage(tmp_path):
    path, _ = trainer_checkpoint(tmp_path)
    seen: dict[str, list[float]] = {}
    report_progress = lambda stage, fraction: seen.setdefault(stage, []).append(fraction)  # noqa: E731
    ckpt = read_checkpoint(path, progress=report_progress)
    analyse_checkpoint(ckpt, progress=report_progress)
    assert set(seen) == {"reading pickle", "sha256", "weight statistics", "optimizer state check"}
    for fractions in seen.values():
        assert fractions == sorted(fractions) and fractions[-1] == 1.0


class _FakeStorage:
    """Pickles as a persistent storage id (as torch.save writes it) for hand-made archives."""


class _TensorOf:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, __import__("collections").OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


def _hand_made_zip(path, obj, storage_bytes):
    import io

    class Writer(pickle.Pickler):
        def persistent_id(self, item):
            if isinstance(item, _FakeStorage):
                return ("storage", torch.FloatStorage, "0", "cpu", len(storage_bytes) // 4)
            return None

    buffer = io.BytesIO()
    Writer(buffer, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/data/0", storage_bytes)
        archive.writestr("archive/version", "3\n")  # torch's reader requires it


def test_tensor_reaching_past_its_storage_is_a_corrupt_file(tmp_path):
    storage = _FakeStorage()
    good = tmp_path / "good.pt"
    _hand_made_zip(good, {"w": _TensorOf(storage, 1, (3,), (1,))}, np.arange(4, dtype=np.float32).tobytes())
    assert read_checkpoint(good).state_dict["w"].load().tolist() == [1.0, 2.0, 3.0]
    for offset, size, stride in ((2, (3,), (1,)), (0, (2, 3), (3, 1)), (0, (2,), (-1,))):
        bad = tmp_path / f"bad{offset}{len(size)}{stride[0]}.pt"
        _hand_made_zip(bad, {"w": _TensorOf(storage, offset, size, stride)},
                       np.arange(4, dtype=np.float32).tobytes())
        _assert_one_line_error(bad, "not a readable torch-zip checkpoint")


@pytest.mark.parametrize("legacy", [False, True])
def test_corrupted_bytes_never_escape_as_tracebacks(tmp_path, legacy):
    """Random byte flips and cuts: the result is a report or an InputError, nothing else."""
    import random

    path = tmp_path / "source.pt"
    torch.save({"epoch": 1, "model_state_dict": TinyDit().state_dict(), "best_loss": np.float64(1.0)}, path,
               _use_new_zipfile_serialization=not legacy)
    data = path.read_bytes()
    rng = random.Random(7)
    outcomes = {"report": 0, "input-error": 0}
    for index in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if index % 5 == 0:
            mutated = mutated[: rng.randrange(len(mutated))]
        target = tmp_path / f"m{index}.pt"
        target.write_bytes(bytes(mutated))
        try:
            analyse_checkpoint(read_checkpoint(target)).model_dump_json()
            outcomes["report"] += 1
        except InputError as exc:
            assert "\n" not in str(exc)
            outcomes["input-error"] += 1
    assert outcomes["input-error"] > 0


def test_hash_can_be_skipped(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(3)}, path)
    assert read_checkpoint(path, sha256=False).sha256 is None
    report = analyse_checkpoint(read_checkpoint(path, sha256=False))
    assert report.file.sha256 is None and report.weight_health.total_numel == 3
