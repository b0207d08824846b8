"""Exact figures and the direction of predictions of the traced training step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from reporter.memory.predict import TrainingTrace, predict_inference_memory, predict_training_memory
from reporter.memory.step import OptimizerSpec
from reporter.memory.targets import target_from_name
from reporter.models import get_architecture, resolve_model_config

# configs/default.yaml's model: PMTDit H16 D3 heads 8 SUM with pos = 98,648 parameters (reference §2.1).
DEFAULT = {"architecture": "dit", "hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM", "dropout": 0.1}
N_PARAMS = 98_648


def _fns(overrides=None):
    cfg = resolve_model_config({**DEFAULT, **(overrides or {})})
    spec = get_architecture("dit")
    return (lambda: spec.build(cfg)), (lambda b: spec.example_inputs(cfg, b))


@pytest.fixture(scope="module")
def cpu_trace():
    build, inputs = _fns({"dropout": 0.0})
    return TrainingTrace(build, inputs, optimizer=OptimizerSpec(), target=target_from_name("cpu"))


def test_exact_parameter_gradient_and_adamw_state_bytes(cpu_trace):
    n_tensors = sum(1 for _ in cpu_trace.model.parameters())
    assert cpu_trace.parameter_bytes == N_PARAMS * 4 == 394_592
    assert cpu_trace.gradient_bytes == 394_592
    # exp_avg + exp_avg_sq per parameter, plus one fp32 step counter per parameter tensor
    assert cpu_trace.optimizer_state_bytes == 2 * 394_592 + 4 * n_tensors
    p = cpu_trace.training(4)
    assert (
        p.at_peak["parameters"] == 394_592 and p.at_peak["optimizer_state"] == cpu_trace.optimizer_state_bytes
    )
    assert p.input_bytes == {
        "x_sig_t": 4 * 2 * 5160 * 4,
        "geom": 4 * 3 * 5160 * 4,
        "t": 4 * 8,
        "label": 4 * 6 * 4,
        "target": 4 * 2 * 5160 * 4,
    }
    assert sum(p.at_peak.values()) == p.peak_bytes


def test_sgd_momentum_state_is_one_copy_of_the_parameters():
    build, inputs = _fns({"dropout": 0.0})
    trace = TrainingTrace(build, inputs, optimizer=OptimizerSpec(name="SGD"), target=target_from_name("cpu"))
    assert trace.optimizer_state_bytes == 394_592


def test_cuda_target_rounds_to_512_bytes_and_keeps_adam_steps_on_the_host():
    build, inputs = _fns({"dropout": 0.0})
    trace = TrainingTrace(build, inputs, optimizer=OptimizerSpec(), target=target_from_name("H100-80GB"))
    sizes = [p.numel() * 4 for p in trace.model.parameters()]
    rounded = sum(-(-s // 512) * 512 for s in sizes)
    assert trace.parameter_bytes == rounded
    assert trace.optimizer_state_bytes == 2 * rounded


def test_bigger_batch_means_more_activation_memory(cpu_trace):
    small, big = cpu_trace.training(4), cpu_trace.training(16)
    act = lambda p: p.at_peak["saved_activations"] + p.at_peak["temporaries"]  # noqa: E731
    assert act(big) > 3.5 * act(small)
    assert big.peak_bytes > small.peak_bytes


def test_bf16_autocast_means_less_memory(cpu_trace):
    fp32, bf16 = cpu_trace.training(16, "fp32"), cpu_trace.training(16, "bf16")
    assert bf16.peak_bytes < 0.8 * fp32.peak_bytes
    assert bf16.at_peak["parameters"] == fp32.at_peak["parameters"]  # autocast keeps fp32 weights


def test_attention_dropout_on_cpu_falls_to_math_and_costs_far_more(cpu_trace):
    build, inputs = _fns({"dropout": 0.1})
    with_dropout = predict_training_memory(
        build, inputs, 4, optimizer=OptimizerSpec(), precision="fp32", target=target_from_name("cpu")
    )
    without = cpu_trace.training(4)
    assert {a.kernel for a in without.attention} == {"flash (CPU)"}
    assert {a.kernel for a in with_dropout.attention} == {"math"}
    # math stores B·heads·L² scores: 4·8·5160²·4 bytes ≈ 3.4 GB per layer
    assert with_dropout.peak_bytes > 50 * without.peak_bytes


def test_cuda_fp32_default_model_is_math_and_bf16_is_flash():
    build, inputs = _fns()
    trace = TrainingTrace(build, inputs, optimizer=OptimizerSpec(), target=target_from_name("A100-80GB"))
    fp32, bf16 = trace.training(2, "fp32"), trace.training(2, "bf16")
    assert {a.kernel for a in fp32.attention} == {"math"}
    assert {a.kernel for a in bf16.attention} == {"flash"}
    scores = 2 * 8 * 5160 * 5160 * 4
    assert fp32.peak_bytes > 3 * scores  # three layers' softmax outputs are saved for backward
    assert bf16.peak_bytes < scores / 10


def test_inference_needs_no_gradients_or_optimizer_state():
    build, inputs = _fns({"dropout": 0.0})
    p = predict_inference_memory(build, inputs, 8, target=target_from_name("cpu"))
    assert p.mode == "inference" and "optimizer_state" not in p.at_peak
    assert p.at_peak["gradients"] == 0 and p.at_peak["saved_activations"] == 0
    assert p.at_peak["parameters"] == 394_592
    assert p.peak_bytes > sum(p.input_bytes.values())


def test_flops_of_a_linear_model_are_two_b_in_out():
    batch, n_in, n_out = 32, 48, 24
    trace = TrainingTrace(
        lambda: nn.Linear(n_in, n_out),
        lambda b: {"input": torch.randn(b, n_in)},
        optimizer=OptimizerSpec(),
        target=target_from_name("cpu"),
    )
    flops = trace.training(batch, count_flops=True).flops
    assert flops.forward_total == 2 * batch * n_in * n_out
    # backward: grad of the weight (2·B·in·out); the input needs no gradient
    assert flops.training_total == 2 * flops.forward_total
    assert "aten.mse_loss" in flops.not_counted_ops


def test_flops_per_top_level_module_of_the_default_model(cpu_trace):
    flops = cpu_trace.training(2, count_flops=True).flops
    assert set(flops.forward_by_module) >= {"embedder", "blocks", "t_mlp", "y_mlp", "out_proj"}
    assert sum(flops.forward_by_module.values()) == flops.forward_total
    assert flops.training_total > 2 * flops.forward_total


def test_largest_fitting_batch_fits_and_the_next_does_not():
    from reporter.memory.sweep import fits, sweep_batch_sizes

    build, inputs = _fns()
    target = target_from_name("cuda", gpu_memory="3GiB")
    trace = TrainingTrace(build, inputs, optimizer=OptimizerSpec(), target=target)
    sweep = sweep_batch_sizes(trace, 64, "fp16")
    best = sweep.largest_fitting_batch
    assert best is not None and best > 64
    assert fits(target, trace.training(best, "fp16").peak_bytes)
    assert not fits(target, trace.training(best + 1, "fp16").peak_bytes)


# -- CPU kernels' own buffers (reporter.memory.cpu_scratch) ---------------------------------------------
def _onednn_conv_available() -> bool:
    from reporter.memory.cpu_scratch import CpuScratch, _mkldnn_conv

    x, w = torch.empty(16, 64, 1290), torch.empty(64, 64, 3)
    return bool(CpuScratch().block) and _mkldnn_conv(x, w, None, [1], [1], [1], False, [0], 1)


needs_onednn_conv = pytest.mark.skipif(
    not _onednn_conv_available(), reason="no oneDNN convolution rule on this CPU (AVX2/AVX-512 only)"
)


def test_bmm_rule_copies_only_the_operands_onednn_cannot_take():
    from reporter.memory.cpu_scratch import bmm_scratch

    half = frozenset({torch.bfloat16})
    q = torch.empty(64, 1, 64, dtype=torch.bfloat16)
    held = torch.empty(516, 64, 64, dtype=torch.bfloat16)  # (L, B·heads, head_dim), as MultiheadAttention
    k = held.transpose(0, 1)  # (B·heads, L, head_dim): neither contiguous nor a last-two-dims transpose
    assert bmm_scratch(q, k.transpose(1, 2), half) == 516 * 64 * 64 * 2
    assert bmm_scratch(k, torch.empty(64, 64, 8, dtype=torch.bfloat16), half) == 516 * 64 * 64 * 2
    contiguous = k.contiguous()
    assert bmm_scratch(q, contiguous.transpose(1, 2), half) == 0  # a plain transpose is taken as is
    assert bmm_scratch(torch.empty(64, 1, 516, dtype=torch.bfloat16), contiguous, half) == 0
    sliced = torch.empty(64, 516, 128, dtype=torch.bfloat16)[..., :64]
    assert bmm_scratch(torch.empty(64, 1, 516, dtype=torch.bfloat16), sliced, half) == 64 * 516 * 64 * 2
    assert bmm_scratch(q.float(), k.transpose(1, 2).float(), half) == 0  # fp32 goes to MKL: any strides
    assert bmm_scratch(q, k.transpose(1, 2), frozenset()) == 0  # no oneDNN bf16 on this CPU: no copy
    tiny = torch.empty(4, 3, 2, dtype=torch.bfloat16).transpose(0, 1)
    assert bmm_scratch(tiny, torch.empty(3, 2, 5, dtype=torch.bfloat16), half) == 0  # 3·4·2·5 ≤ 16³


def test_mixed_float_dtypes_copy_the_operand_of_the_other_dtype():
    from reporter.memory.cpu_scratch import mixed_dtype_scratch

    aten = torch.ops.aten
    act = torch.empty(64, 516, 16, dtype=torch.bfloat16)
    fp32 = torch.empty(64, 516, 16)
    copy = act.numel() * 4  # the bf16 operand converted to float32
    assert mixed_dtype_scratch(aten.add.Tensor, (fp32, act)) == copy
    assert mixed_dtype_scratch(aten.mul.Tensor, (torch.empty(1), act.transpose(0, 1))) == copy
    assert mixed_dtype_scratch(aten.div.Tensor, (act, fp32)) == copy
    # a broadcast operand is converted at its own size, not the result's
    assert mixed_dtype_scratch(aten.add.Tensor, (fp32, act[:1])) == act[:1].numel() * 4
    assert mixed_dtype_scratch(aten.mul.Tensor, (act, act)) == 0
    # a 0-dim float32 tensor does not promote a bf16 tensor: only itself is converted (one bf16 element)
    assert mixed_dtype_scratch(aten.mul.Tensor, (torch.tensor(2.0), act)) == 2
    # in place into bf16: the bf16 self is converted, the result computed in float32, then copied back
    assert mixed_dtype_scratch(aten.add_.Tensor, (act, fp32)) == 2 * copy
    assert mixed_dtype_scratch(aten.add.Scalar, (act, 2.0)) == 0


@needs_onednn_conv
def test_conv_rule_holds_blocked_copies_with_channels_padded_to_the_block():
    from reporter.memory.cpu_scratch import CpuScratch, convolution_backward_scratch, convolution_scratch

    block = CpuScratch().block
    pad = lambda c: -(-c // block) * block  # noqa: E731
    b, length = 16, 1290
    x, w, bias = torch.empty(b, 64, length), torch.empty(2, 64, 1), torch.empty(2)
    y = torch.empty(b, 2, length)
    args = (x, w, bias, [1], [0], [1], False, [0], 1)
    # blocked input + blocked weights + blocked output (2 channels padded to a block), beyond the output
    expected = b * length * 64 * 4 + pad(2) * pad(64) * 4 + b * length * pad(2) * 4 - y.numel() * 4
    assert convolution_scratch(args, y, block) == expected
    assert convolution_scratch((x, w, bias, [1], [0], [1], True, [0], 1), y, block) == 0  # transposed
    grads = (torch.empty_like(x), torch.empty_like(w), torch.empty_like(bias))
    bwd_args = (y, x, w, [2], [1], [0], [1], False, [0], 1, [True, True, True])
    # grad-weight pass: grad-input exists, the output's gradient and the input are reordered again
    held = x.numel() * 4 + b * length * pad(2) * 4 + b * length * 64 * 4 + pad(2) * pad(64) * 4
    assert convolution_backward_scratch(bwd_args, grads, block) == held - sum(g.numel() * 4 for g in grads)


def convolution_scratch_of(x, w, y, rule) -> int:
    from reporter.memory.cpu_scratch import convolution_scratch

    return convolution_scratch((x, w, None, [1], [1], [1], False, [0], 1), y, rule.block)


@needs_onednn_conv
def test_tracker_counts_kernel_scratch_at_the_peak_only_while_the_op_runs():
    from reporter.memory.cpu_scratch import CpuScratch
    from reporter.memory.tracker import StorageTracker

    rule = CpuScratch()
    tracker = StorageTracker(hidden_bytes=rule)
    x, w = torch.randn(4, 32, 600), torch.randn(32, 32, 3)
    tracker.track(x, "inputs")
    tracker.track(w, "parameters")
    tracker.reset_peak()
    with tracker:
        y = torch.nn.functional.conv1d(x, w, padding=1)
    tracker.finish()
    scratch = convolution_scratch_of(x, w, y, rule)
    assert scratch > 0
    assert tracker.peak == x.numel() * 4 + w.numel() * 4 + y.numel() * 4 + scratch
    assert tracker.total == tracker.peak - scratch  # gone once the op returned
    assert tracker.peak_breakdown["temporaries"] == y.numel() * 4 + scratch



def test_cpu_target_traces_kernel_scratch_and_cuda_targets_do_not():
    build, inputs = _fns({"dropout": 0.0, "depth": 1})
    cpu = TrainingTrace(build, inputs, optimizer=OptimizerSpec(), target=target_from_name("cpu"))
    cuda = TrainingTrace(build, inputs, optimizer=OptimizerSpec(), target=target_from_name("H100-80GB"))
    assert cpu.tracker.hidden_bytes is not None
    assert cuda.tracker.hidden_bytes is None


_REAL_KERNELS = r"""
import json, sys
from pathlib import Path
import torch
from reporter.memory.cpu_scratch import CpuScratch

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

def held(fn):
    fn()  # first call: oneDNN primitive creation and caches
    before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    out = fn()
    outs = out if isinstance(out, tuple) else (out,)
    return status("VmHWM") - before - sum(o.numel() * o.element_size() for o in outs if o is not None)

rule, aten, rows = CpuScratch(), torch.ops.aten, []
x, w, b = torch.randn(16, 64, 5160), torch.randn(64, 64, 5), torch.randn(64)
fwd = (x, w, b, [1], [2], [1], False, [0], 1)
y = aten.convolution.default(*fwd)
rows.append(("conv", held(lambda: aten.convolution.default(*fwd)), rule(aten.convolution.default, fwd, y)))
bwd = (torch.randn_like(y), x, w, [64], [1], [2], [1], False, [0], 1, [True, True, True])
g = aten.convolution_backward.default(*bwd)
rows.append(("conv_backward", held(lambda: aten.convolution_backward.default(*bwd)),
             rule(aten.convolution_backward.default, bwd, g)))
act, stream = torch.randn(64, 5160, 16, dtype=torch.bfloat16), torch.randn(64, 5160, 16)
rows.append(("mixed add", held(lambda: stream + act), rule(aten.add.Tensor, (stream, act), stream + act)))
if torch.bfloat16 in rule.onednn_dtypes:
    q = torch.randn(64, 1, 64, dtype=torch.bfloat16)
    k = torch.randn(2580, 64, 64, dtype=torch.bfloat16).transpose(0, 1).transpose(1, 2)
    out = torch.bmm(q, k)
    rows.append(("bmm", held(lambda: torch.bmm(q, k)), rule(aten.bmm.default, (q, k), out)))
print(json.dumps(rows))
"""


@needs_onednn_conv
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure VmHWM")
def test_rules_match_what_the_real_kernels_hold(repo_root):
    """Fresh process, freed memory leaves RSS at once: each op's VmHWM over RSS before, minus its
    outputs, is what its kernel allocated inside; the rule must match it within 5 %. (The kernel's RSS
    counters lag by up to ~0.3 MB, hence activations of 21 MB.)"""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0",
           "OMP_NUM_THREADS": "2", "PYTHONPATH": str(repo_root)}
    done = subprocess.run([sys.executable, "-c", _REAL_KERNELS], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [name for name, *_ in rows][:3] == ["conv", "conv_backward", "mixed add"]
    for name, measured, predicted in rows:
        assert predicted > 20_000_000, name  # each holds at least one 21 MB activation-sized buffer
        assert abs(predicted - measured) <= 0.05 * measured, (name, measured, predicted)
