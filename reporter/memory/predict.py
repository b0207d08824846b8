"""Predict the peak memory of a training step (and of a sampling step) by tracing it with fake tensors.

The model, optimizer and a batch of the real input shapes are built under ``FakeTensorMode`` on device
"cpu" (a fake tensor keeps its device, so torch makes the real kernel choices; the meta device would
not). Step 1 at batch size 1 creates the optimizer state lazily, as a real first step does; the measured
step at the requested batch size is then the steady state. See docs/measurements.md for what was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.autograd.graph import saved_tensors_hooks

from reporter.errors import InputError
from reporter.memory.attention import AttentionChoice, AttentionRecorder
from reporter.memory.cpu_scratch import CpuScratch
from reporter.memory.flops import FlopCount, FlopRecorder
from reporter.memory.step import OptimizerSpec, Precision, autocast_context, first_tensor, training_step
from reporter.memory.targets import TargetProfile
from reporter.memory.tracker import StorageTracker

__all__ = [
    "AttentionKernel",
    "MemoryPrediction",
    "OptimizerSpec",
    "TrainingTrace",
    "predict_inference_memory",
    "predict_training_memory",
]

StepMode = Literal["training", "inference"]

#: Categories whose figures do not depend on prediction: they are sums of known tensor sizes.
EXACT_CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "inputs")


@dataclass(frozen=True)
class AttentionKernel(AttentionChoice):
    """The SDPA kernel assumed for one kind of attention call, and why (the report's AttentionKernelInfo)."""

    dtype: str
    head_dim: int
    seq_len: int
    dropout: bool


@dataclass(frozen=True)
class MemoryPrediction:
    """Predicted peak of one step, with the live bytes by category at that peak."""

    mode: StepMode
    batch_size: int
    precision: Precision
    target: str
    peak_bytes: int
    peak_phase: str  # forward / backward / optimizer
    at_peak: dict[str, int]  # category -> bytes live at the peak
    phase_peaks: dict[str, int]
    parameter_bytes: int  # exact
    buffer_bytes: int  # exact
    gradient_bytes: int  # exact: one gradient per trainable parameter, once backward completes
    optimizer_state_bytes: int  # exact (steady state)
    input_bytes: dict[str, int]  # exact, per input name (+ "target")
    attention: list[AttentionKernel] = field(default_factory=list)
    flops: FlopCount | None = None


def _fake_copy_of_meta(model: nn.Module) -> nn.Module:
    """Swap every meta parameter, buffer and tensor attribute for an empty fake CPU tensor (in place).

    The model is built on the meta device because initialisers that inspect values (``trunc_normal_``
    loops on ``mask.any()``) cannot run on fake tensors; values never matter for memory. Tied tensors stay
    tied.
    """
    swapped: dict[int, Tensor] = {}

    def fake_of(t: Tensor) -> Tensor:
        if id(t) not in swapped:
            empty = torch.empty(t.shape, dtype=t.dtype, device="cpu")
            if isinstance(t, nn.Parameter):
                empty = nn.Parameter(empty, requires_grad=t.requires_grad)
            swapped[id(t)] = empty
        return swapped[id(t)]

    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                fake = fake_of(param)
                assert isinstance(fake, nn.Parameter)  # fake_of keeps a parameter a Parameter
                module._parameters[name] = fake
        for name, buf in list(module._buffers.items()):
            if buf is not None:
                module._buffers[name] = fake_of(buf)
        for name, value in list(vars(module).items()):
            if isinstance(value, Tensor) and value.is_meta:
                setattr(module, name, fake_of(value))
    return model


def _build_fake(build_model: Callable[[], nn.Module]) -> nn.Module:
    """Build on the meta device and swap in fake tensors; if the model cannot be built on meta, build it
    directly under the (active) fake mode."""
    try:
        with torch.device("meta"):
            model = build_model()
    except Exception:  # noqa: BLE001 - some constructors need real devices; fake mode is the fallback
        model = build_model()
        if not isinstance(model, nn.Module):
            raise InputError("the model builder did not return a torch.nn.Module") from None
        return model
    if not isinstance(model, nn.Module):
        raise InputError("the model builder did not return a torch.nn.Module")
    return _fake_copy_of_meta(model)


class TrainingTrace:
    """A fake model + optimizer that can trace steady-state steps at any batch size and precision.

    Building and warming up happen once; each :meth:`training` or :meth:`inference` call then costs
    one fake step, so fp32, mixed precision, a batch-size sweep and inference share one model.
    """

    def __init__(
        self,
        build_model: Callable[[], nn.Module],
        make_inputs: Callable[[int], dict[str, Tensor]],
        *,
        optimizer: OptimizerSpec,
        target: TargetProfile,
    ) -> None:
        self.make_inputs = make_inputs
        self.target = target
        self.fake_mode = FakeTensorMode(allow_non_fake_inputs=False)
        # CPU kernels' own buffers (oneDNN reorders, operand copies) are invisible to fake tensors; CUDA
        # targets model theirs in attention.py / targets.py.
        self.tracker = StorageTracker(target.round_allocation, None if target.is_cuda else CpuScratch())
        self.recorder = AttentionRecorder(target)
        self.tracker.on_flash = self._flash_seen
        with self.fake_mode:
            self.model = _build_fake(build_model)
            self.model.train()
            for p in self.model.parameters():
                self.tracker.track(p, "parameters")
                if p.requires_grad:
                    p.register_post_accumulate_grad_hook(lambda q: self.tracker.mark_grad(q.grad))
            for b in self.model.buffers():
                self.tracker.track(b, "buffers")
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            self.optimizer = optimizer.build(trainable, foreach=True if target.is_cuda else None)
        self.parameter_bytes = sum(self._bytes(p) for p in self.model.parameters())
        self.buffer_bytes = sum(self._bytes(b) for b in self.model.buffers())
        self.gradient_bytes = sum(self._bytes(p) for p in trainable)
        self._warm_up()
        self._workspace: Tensor | None = None
        if target.backward_workspace_bytes:
            with self.fake_mode:
                self._workspace = torch.empty(target.backward_workspace_bytes, dtype=torch.uint8)

    # -- helpers -------------------------------------------------------------------------------------
    def _bytes(self, t: Tensor) -> int:
        return self.target.round_allocation(t.untyped_storage().nbytes())

    def _flash_seen(self) -> None:
        self.recorder.flash_seen = True

    def _inputs(self, batch_size: int) -> dict[str, Tensor]:
        inputs = self.make_inputs(batch_size)
        for value in inputs.values():
            if isinstance(value, Tensor):
                self.tracker.track(value, "inputs")
        return inputs

    def _target(self, batch_size: int) -> Tensor:
        target = torch.randn(batch_size, *self._output_tail)
        self.tracker.track(target, "inputs")
        return target

    def _warm_up(self) -> None:
        """What step 1 leaves behind, without tracing a whole step 1 (which cost as much as a measured
        step): the optimizer state torch creates lazily on the first ``optimizer.step()`` (fed gradients
        of zeros: values never matter on fake tensors), and the output's shape for the loss target (one
        forward at batch size 1 without autograd). The steps traced afterwards are the steady state."""
        with self.fake_mode, self.recorder.patched(), self.tracker, torch.no_grad():
            inputs = self._inputs(1)
            output = first_tensor(self.model(**inputs))
            self._output_tail = tuple(output.shape[1:])
            del inputs, output
        with self.fake_mode:
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            for p in trainable:
                p.grad = torch.zeros_like(p)
            with self.tracker:  # the state is created inside the tracker, as in a traced first step
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        with self.fake_mode:
            for state in self.optimizer.state.values():
                for name, value in state.items():
                    if not isinstance(value, Tensor):
                        continue
                    if self.target.is_cuda and name == "step" and value.dim() == 0:
                        # Without capturable/fused, torch keeps Adam's step counters on the host.
                        self.tracker.untrack(value)
                    else:
                        self.tracker.track(value, "optimizer_state")
        self.optimizer_state_bytes = self.tracker.live_bytes("optimizer_state")

    def _set_phase(self, phase: str) -> None:
        self.tracker.phase = phase

    def _attention(self) -> list[AttentionKernel]:
        return [
            AttentionKernel(
                kernel=c.kernel,
                reason=c.reason,
                dtype=str(call.dtype).replace("torch.", ""),
                head_dim=call.head_dim,
                seq_len=call.seq_len,
                dropout=call.dropout,
            )
            for call, c in self.recorder.summary()
        ]

    def _prediction(
        self,
        mode: StepMode,
        batch_size: int,
        precision: Precision,
        input_sizes: dict[str, int],
        exclude: tuple[str, ...] = (),
        flops: FlopCount | None = None,
    ) -> MemoryPrediction:
        t = self.tracker
        at_peak = {k: v for k, v in t.peak_breakdown.items() if k not in exclude}
        excluded = sum(t.peak_breakdown.get(k, 0) for k in exclude)
        return MemoryPrediction(
            mode=mode,
            batch_size=batch_size,
            precision=precision,
            target=self.target.name,
            peak_bytes=t.peak - excluded,
            peak_phase=t.peak_phase,
            at_peak=at_peak,
            phase_peaks={k: v - excluded for k, v in t.phase_peaks.items()},
            parameter_bytes=self.parameter_bytes,
            buffer_bytes=self.buffer_bytes,
            gradient_bytes=self.gradient_bytes if mode == "training" else 0,
            optimizer_state_bytes=self.optimizer_state_bytes if mode == "training" else 0,
            input_bytes=input_sizes,
            attention=self._attention(),
            flops=flops,
        )

    # -- public --------------------------------------------------------------------------------------
    def training(
        self, batch_size: int, precision: Precision = "fp32", *, count_flops: bool = False
    ) -> MemoryPrediction:
        """Trace one steady-state training step at ``batch_size``."""
        if batch_size < 1:
            raise InputError(f"batch size must be ≥ 1 (got {batch_size})")
        self.recorder.choices.clear()
        flop_recorder = FlopRecorder() if count_flops else None
        tracker = self.tracker

        def set_phase(phase: str) -> None:
            tracker.phase = phase
            if flop_recorder is not None:
                flop_recorder.phase(phase)

        def pack(t: Tensor) -> Tensor:
            tracker.mark_saved(t)
            return t

        with self.fake_mode, self.recorder.patched(), tracker, saved_tensors_hooks(pack, lambda t: t):
            tracker.phase = "forward"
            target = self._target(batch_size)
            inputs = self._inputs(batch_size)
            sizes = {k: self._bytes(v) for k, v in inputs.items() if isinstance(v, Tensor)}
            sizes["target"] = self._bytes(target)
            if self._workspace is not None:  # live for the whole step, as on the device
                tracker.track(self._workspace, "workspace")
            tracker.reset_peak()
            if flop_recorder is not None:
                with flop_recorder.counting():
                    training_step(self.model, self.optimizer, inputs, target, precision, set_phase)
            else:
                training_step(self.model, self.optimizer, inputs, target, precision, set_phase)
            tracker.finish()
            prediction = self._prediction(
                "training",
                batch_size,
                precision,
                sizes,
                flops=flop_recorder.result(tracker.ops_seen) if flop_recorder else None,
            )
            if self._workspace is not None:  # sampling has no backward thread
                tracker.untrack(self._workspace)
            del inputs, target
        return prediction

    def inference(self, batch_size: int, precision: Precision = "fp32") -> MemoryPrediction:
        """Trace one sampling step: eval mode, no autograd, one forward at ``batch_size``."""
        self.recorder.choices.clear()
        tracker = self.tracker
        self.model.eval()
        try:
            with self.fake_mode, self.recorder.patched(), tracker, torch.no_grad():
                tracker.phase = "forward"
                inputs = self._inputs(batch_size)
                sizes = {k: self._bytes(v) for k, v in inputs.items() if isinstance(v, Tensor)}
                tracker.reset_peak()
                with autocast_context(precision):
                    output = first_tensor(self.model(**inputs))
                del output
                tracker.finish()
                prediction = self._prediction(
                    "inference", batch_size, precision, sizes, exclude=("optimizer_state",)
                )
                del inputs
        finally:
            self.model.train()
        return prediction


def predict_training_memory(
    build_model: Callable[[], nn.Module],
    make_inputs: Callable[[int], dict[str, Tensor]],
    batch_size: int,
    *,
    optimizer: OptimizerSpec,
    precision: Precision,
    target: TargetProfile,
) -> MemoryPrediction:
    """Peak memory of a steady-state training step, by category, traced without allocating."""
    trace = TrainingTrace(build_model, make_inputs, optimizer=optimizer, target=target)
    return trace.training(batch_size, precision)


def predict_inference_memory(
    build_model: Callable[[], nn.Module],
    make_inputs: Callable[[int], dict[str, Tensor]],
    batch_size: int,
    *,
    precision: Precision = "fp32",
    target: TargetProfile,
) -> MemoryPrediction:
    """Peak memory of one sampling step (eval mode, no grad): parameters, buffers, inputs, temporaries."""
    trace = TrainingTrace(
        build_model, make_inputs, optimizer=OptimizerSpec(name="SGD", weight_decay=0.0), target=target
    )
    return trace.inference(batch_size, precision)
