"""Target parsing and CUDA attention-kernel rules."""

from __future__ import annotations

import pytest
import torch

from reporter.errors import InputError
from reporter.memory.attention import AttentionCall, choose_cuda_kernel
from reporter.memory.targets import CUDA_PROFILES, GiB, parse_gpu_memory, target_from_name


def test_parse_gpu_memory_units():
    assert parse_gpu_memory("24GB") == 24 * 1000**3
    assert parse_gpu_memory("24GiB") == 24 * GiB
    assert parse_gpu_memory("16") == 16 * GiB
    assert parse_gpu_memory("80 gb") == 80 * 1000**3
    assert parse_gpu_memory("512MiB") == 512 * 1024**2
    for bad in ("", "lots", "-3GB", "0"):
        with pytest.raises(InputError):
            parse_gpu_memory(bad)


def test_named_profiles_and_aliases():
    assert set(CUDA_PROFILES) >= {"A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB", "L4-24GB", "T4-16GB"}
    h100 = target_from_name("h100-80gb")
    assert h100.is_cuda and h100.compute_capability == (9, 0) and h100.allocation_rounding == 512
    assert target_from_name("T4").name == "T4-16GB"
    assert target_from_name("cpu").kind == "cpu" and target_from_name("cpu").memory_bytes > 0
    custom = target_from_name("cuda", gpu_memory="48GB")
    assert custom.memory_bytes == 48 * 1000**3 and custom.compute_capability == (8, 0)
    assert target_from_name("L4", gpu_memory="20GiB").memory_bytes == 20 * GiB
    with pytest.raises(InputError):
        target_from_name("tpu-v5")
    with pytest.raises(InputError):
        target_from_name("A100")  # ambiguous: 40GB or 80GB
    with pytest.raises(InputError):
        target_from_name("cpu", gpu_memory="24GB")


def test_allocation_rounding():
    h100 = target_from_name("H100-80GB")
    assert [h100.round_allocation(n) for n in (0, 1, 512, 513, 4096)] == [0, 512, 512, 1024, 4096]
    assert target_from_name("cpu").round_allocation(513) == 513


def _call(dtype, head_dim, dropout=False, mask=False):
    return AttentionCall(dtype=dtype, head_dim=head_dim, dropout=dropout, has_mask=mask, seq_len=5160)


def test_default_pmtdit_head_dim_2_fp32_is_math_on_a100_and_h100():
    for cc in ((8, 0), (9, 0)):
        choice = choose_cuda_kernel(_call(torch.float32, 2), cc)
        assert choice.kernel == "math"
        assert "head_dim divisible by 4" in choice.reason


def test_half_precision_gets_flash_on_sm80_even_with_dropout():
    assert choose_cuda_kernel(_call(torch.bfloat16, 2), (8, 0)).kernel == "flash"
    assert choose_cuda_kernel(_call(torch.float16, 2, dropout=True), (9, 0)).kernel == "flash"


def test_memory_efficient_and_math_fallbacks():
    assert choose_cuda_kernel(_call(torch.float32, 16), (8, 0)).kernel == "memory-efficient"
    assert choose_cuda_kernel(_call(torch.float16, 16), (7, 5)).kernel == "memory-efficient"  # T4: no flash
    assert choose_cuda_kernel(_call(torch.float16, 2), (7, 5)).kernel == "math"
    assert choose_cuda_kernel(_call(torch.float16, 512), (9, 0)).kernel == "memory-efficient"
    assert choose_cuda_kernel(_call(torch.float16, 64, mask=True), (9, 0)).kernel == "memory-efficient"


def test_memory_engine_imports_without_pydantic():
    """bench/memory_accuracy.py --device cuda runs on GPU machines that may lack pydantic."""
    import subprocess
    import sys

    from helpers import REPO

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pydantic', 'pydantic_core'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import reporter.memory.predict, reporter.memory.step, reporter.memory.sweep, reporter.models\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "ok", result.stderr
