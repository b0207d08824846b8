"""Exact figures and the direction of predictions of the traced training step."""

from __future__ import annotations

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
