"""Bytes that CPU kernels allocate inside one op, which a fake trace cannot see.

A fake tensor only knows an op's outputs; buffers a kernel allocates and frees while it runs (oneDNN's
reorders into blocked layouts, ``.contiguous()`` copies of its operands, ``TensorIterator``'s dtype
conversions) never reach the dispatcher. They raise the real peak when the op runs at (or near) the
step's peak. Each rule below was found by running a real step op by op with VmHWM reset before every op
(bench/memory_op_probe.py, torch 2.13.0+cpu, oneDNN 3.12, AVX-512 with bf16, 2 threads) and is keyed to
the op, dtype and shapes; it gives the bytes held during the op *beyond its outputs*, which the tracker
adds for that op only. Only the CPU target uses them (CUDA's kernels are modelled in attention.py and
targets.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

aten = torch.ops.aten


def onednn_channel_block() -> int:
    """Channels per block of oneDNN's blocked activation layout on this CPU (0: no rule applies).

    Measured (ONEDNN_VERBOSE) on AVX-512: fp32 and bf16 activations are reordered to ``aBcd16b``, 16
    channels per block with zero padding. AVX2 machines get ``aBcd8b`` (oneDNN's avx2 kernels block by 8;
    not measured here). Other CPUs (ARM, no AVX2): no rule.
    """
    if not torch.backends.mkldnn.is_available():
        return 0
    capability = torch.backends.cpu.get_cpu_capability()
    return {"AVX512": 16, "AVX2": 8}.get(capability, 0)


def _blocked_bytes(t: torch.Tensor, block: int) -> int:
    """Bytes of ``t`` (N, C, *spatial) reordered to oneDNN's channel-blocked layout (C padded to block)."""
    if t.dim() < 2 or t.shape[1] == 0:
        return 0
    channels = t.shape[1]
    padded = -(-channels // block) * block
    return t.numel() // channels * padded * t.element_size()


def _blocked_weight_bytes(w: torch.Tensor, block: int) -> int:
    """Bytes of weights (C_out, C_in, *kernel) reordered to ``ABcd16b16a``: both channel dims padded."""
    if w.dim() < 2 or w.numel() == 0:
        return _bytes(w)
    c_out, c_in = w.shape[0], w.shape[1]
    pad = lambda c: -(-c // block) * block  # noqa: E731
    return w.numel() // (c_out * c_in) * pad(c_out) * pad(c_in) * w.element_size()


def _bytes(t: torch.Tensor | None) -> int:
    return 0 if t is None else t.numel() * t.element_size()


def _mkldnn_conv(inp, weight, bias, stride, padding, dilation, transposed, output_padding, groups) -> bool:
    """Whether torch runs this convolution through oneDNN on the CPU (torch's own backend choice)."""
    if transposed or groups != 1 or inp.device.type != "cpu":
        return False  # rules measured for plain (groups 1, not transposed) convolutions only
    if inp.is_contiguous(memory_format=torch.channels_last) and not inp.is_contiguous():
        return False  # channels-last writes the output in place: not measured
    select = getattr(torch._C, "_select_conv_backend", None)
    if select is None:
        return False
    try:
        backend = select(inp, weight, bias, stride, padding, dilation, transposed, output_padding, groups, None)
    except (RuntimeError, TypeError):
        return False
    # torch's stub calls the enum ConvBackend; at run time it is torch._C._ConvBackend
    return backend == torch._C._ConvBackend.Mkldnn  # type: ignore[attr-defined]


def convolution_scratch(args: Sequence, out: torch.Tensor, block: int) -> int:
    """oneDNN forward convolution: the input reordered to the blocked layout, the weights reordered, and
    the output computed into a blocked buffer, then reordered into the ATen output.

    Peak while the op runs = max(blocked input + blocked weights + blocked output, blocked output + output).
    Measured, B16 L1290 fp32 (one activation 5.28 MB): 64→64 k3–k9 held 5.10–5.19 MB beyond the output
    (rule: 5.28 + weights), 5→64 k1 5.17 (rule 5.28), 64→2 k1 6.25 (rule 6.44); bf16 half of that.
    """
    inp, weight = args[0], args[1]
    if not _mkldnn_conv(*args[:9]):
        return 0
    w = _blocked_weight_bytes(weight, block)
    y_blocked = _blocked_bytes(out, block)
    peak = max(_blocked_bytes(inp, block) + w + y_blocked, y_blocked + _bytes(out))
    return max(0, peak - _bytes(out))


def convolution_backward_scratch(args: Sequence, outs: Sequence[torch.Tensor | None], block: int) -> int:
    """oneDNN convolution backward: grad-input (the output's gradient and the weights reordered, grad-input
    computed blocked, then reordered out), then grad-weight (the output's gradient and the input reordered
    again, while grad-input already exists).

    Measured, B16 L1290 fp32 (one activation 5.28 MB): 64→64 k3–k9 held 10.30–10.66 MB beyond its outputs
    (rule 10.4–10.6), 64→2 k1 6.54 (rule 6.60), 5→64 k1 without grad-input 6.47 (rule 6.60). bf16: rule
    2.6–3.3 MB, measured 3.6–6.2 (oneDNN's bf16 weight-gradient kernel has a scratchpad that is not modelled).
    """
    grad_out, inp, weight = args[0], args[1], args[2]
    stride, padding, dilation, transposed, output_padding, groups = args[4:10]
    if not _mkldnn_conv(inp, weight, None, stride, padding, dilation, transposed, output_padding, groups):
        return 0
    grad_input = outs[0] if len(outs) > 0 else None
    gy, x = _blocked_bytes(grad_out, block), _blocked_bytes(inp, block)
    w = _blocked_weight_bytes(weight, block)
    peak = 0
    if grad_input is not None:
        gx = _blocked_bytes(grad_input, block)
        peak = max(gy + w + gx, gx + _bytes(grad_input))
    if any(o is not None for o in outs[1:]):
        peak = max(peak, _bytes(grad_input) + gy + x + w)
    return max(0, peak - sum(_bytes(o) for o in outs))


def _mkldnn_matmul_ready(t: torch.Tensor) -> bool:
    """torch's ``is_mkldnn_optimized_format`` (aten/src/ATen/native/mkldnn/Matmul.cpp): contiguous, or the
    last two dims of a contiguous tensor transposed; any other operand is copied with ``.contiguous()``."""
    if t.is_contiguous():
        return True
    sizes, strides = t.shape, t.stride()
    return strides[0] == sizes[1] * sizes[2] and strides[1] == 1 and strides[2] == sizes[1]


def onednn_matmul_dtypes() -> frozenset[torch.dtype]:
    """Half dtypes whose CPU matmuls torch sends to oneDNN (its bf16/fp16 device checks)."""
    if not torch.backends.mkldnn.is_available() or not torch.backends.mkldnn.enabled:
        return frozenset()
    dtypes = set()
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        dtypes.add(torch.bfloat16)
    if torch.ops.mkldnn._is_mkldnn_fp16_supported():
        dtypes.add(torch.float16)
    return frozenset(dtypes)


def bmm_scratch(batch1: torch.Tensor, batch2: torch.Tensor, onednn_dtypes: frozenset[torch.dtype]) -> int:
    """bf16/fp16 ``bmm``/``baddbmm`` go through oneDNN's matmul, which first copies every operand that is
    neither contiguous nor a last-two-dims transpose (fp32 goes to MKL, which takes any strides).

    Measured, bf16, (64, 1, 64) @ (64, 64, 5160) with the second operand a (5160, 64, 64) tensor permuted
    (as ``nn.MultiheadAttention``'s explicit path holds k and v): 42.20 MB held beyond the output = the
    operand's 42.27 MB; a plain transpose copied nothing (0.02 MB); fp32 copied nothing.
    """
    if batch1.dim() != 3 or batch2.dim() != 3 or batch1.device.type != "cpu":
        return 0
    if batch1.dtype != batch2.dtype or batch1.dtype not in onednn_dtypes:
        return 0
    b, m, k = batch1.shape
    n = batch2.shape[2]
    if min(m, k, n) < 1 or b * m * k * n <= 16 * 16 * 16:  # torch's checksize: small products skip oneDNN
        return 0
    return sum(_bytes(t) for t in (batch1, batch2) if not _mkldnn_matmul_ready(t))


_PROMOTING_BINARY = {aten.add, aten.sub, aten.mul, aten.div, aten.add_, aten.sub_, aten.mul_, aten.div_}
_IN_PLACE = {aten.add_, aten.sub_, aten.mul_, aten.div_}


def mixed_dtype_scratch(func, args: Sequence) -> int:
    """CPU ``TensorIterator`` ops do not mix float dtypes: every operand whose dtype differs from the common
    dtype is first copied to it (``promote_inputs_to_common_dtype``), and an in-place result of another
    dtype is computed into a temporary of the common dtype (``cast_common_dtype_to_outputs``). Under bf16
    autocast this is every ``fp32 ⊙ bf16`` product or sum (a float32 parameter times a bf16 activation,
    the float32 residual stream plus a bf16 branch).

    Measured, (64, 516, 64) bf16 (4.23 MB) with float32: add, sub, mul, div held 8.38–8.44 MB beyond the
    output (its float32 copy: 8.45 MB), also when the bf16 operand was transposed; with a (1, 516, 64) bf16
    operand broadcast, 0.10 MB (copy 0.07 MB); bf16 ⊙ bf16 and bf16 times a 0-dim float32 tensor (which
    does not promote) nothing. In a bf16 DiT step (bench/memory_op_probe.py) the rule gives 1.9–2.1 MB where
    1.8–2.1 MB were measured.
    """
    from torch._prims_common import ELEMENTWISE_TYPE_PROMOTION_KIND, elementwise_dtypes

    if func.overloadpacket not in _PROMOTING_BINARY or func._overloadname not in ("Tensor", "Tensor_mode"):
        return 0
    operands = [a for a in args[:2] if isinstance(a, torch.Tensor | int | float)]
    tensors = [a for a in operands if isinstance(a, torch.Tensor)]
    if len(operands) != 2 or not tensors or any(t.device.type != "cpu" for t in tensors):
        return 0
    if not all(t.dtype.is_floating_point for t in tensors):
        return 0  # measured for float operands only
    kind = ELEMENTWISE_TYPE_PROMOTION_KIND.INT_TO_FLOAT if func.overloadpacket in (aten.div, aten.div_) \
        else ELEMENTWISE_TYPE_PROMOTION_KIND.DEFAULT
    common = elementwise_dtypes(*operands, type_promotion_kind=kind)[1]
    size = common.itemsize
    held = sum(t.numel() * size for t in tensors if t.dtype != common)
    if func.overloadpacket in _IN_PLACE and isinstance(args[0], torch.Tensor) and args[0].dtype != common:
        held += args[0].numel() * size  # the result, computed in the common dtype, then copied back
    return held


class CpuScratch:
    """The rules above for this machine; called by the tracker after every op of a CPU-target trace.

    The machine facts (oneDNN's channel block, its half-precision matmul support) are read once, when the
    trace is set up, outside any fake mode.
    """

    def __init__(self) -> None:
        self.block = onednn_channel_block()
        self.onednn_dtypes = onednn_matmul_dtypes()

    def __call__(self, func, args: Sequence, out) -> int:
        """Bytes ``func`` holds inside its CPU kernel beyond its outputs (0 for every op without a rule)."""
        packet = getattr(func, "overloadpacket", None)
        if packet is aten.convolution and isinstance(out, torch.Tensor) and self.block:
            return convolution_scratch(args, out, self.block)
        if packet is aten.convolution_backward and isinstance(out, tuple | list) and self.block:
            return convolution_backward_scratch(args, out, self.block)
        if packet is aten.bmm:
            return bmm_scratch(args[0], args[1], self.onednn_dtypes)
        if packet is aten.baddbmm:
            return bmm_scratch(args[1], args[2], self.onednn_dtypes)
        if packet in _PROMOTING_BINARY:
            return mixed_dtype_scratch(func, args)
        return 0
