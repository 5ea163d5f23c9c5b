"""Mixed precision (``train.precision``): which dtype the model's matrix multiplies run in.

- ``fp32``: everything in float32.
- ``bf16``: the model's forward under ``torch.autocast`` in bfloat16 (CPU and CUDA); parameters,
  gradients and optimizer state stay float32 (autocast casts a weight for each use), so no loss
  scale is needed — bfloat16 has float32's exponent range.
- ``fp16``: the same in float16, with a dynamic loss scale (``train.loss_scale.LossScale``)
  against gradients that underflow float16's range.
- ``auto``: ``bf16`` where this machine's bfloat16 GEMM beats float32's (measured, ``gemm_rates``),
  else ``fp32``.

Where precision matters it is float32, by construction: the model's outputs and aux losses are
cast back to float32 at its boundary (``to_float32``), so every loss, metric and per-example
feedback (score-function surrogates) is computed in float32 outside autocast; per-task gradients
(a gradient-level weighting's Jacobian) are those of float32 parameters; the noisy top-k gate and
its balance losses run in float32 (``spaces/moe.py``: a top-k of rounded logits ties, and a
squared coefficient of variation of rounded loads is noise).
"""

import dataclasses
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

COMPUTE_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
GEMM_SIZE = 1024  # n of the n×n×n multiply ``gemm_rates`` times
BF16_MARGIN = 1.2  # auto takes bf16 when its GEMM is at least this much faster


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """Autocast to ``dtype`` on ``device``'s kind; nothing when ``dtype`` is None (float32)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def to_float32(value: Any) -> Any:
    """``value`` with every bfloat16 / float16 tensor in it as float32: tensors, and tensors
    inside dicts, lists, tuples and dataclasses (a model's outputs and aux losses)."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.bfloat16, torch.float16) else value
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if f.init]
        return dataclasses.replace(value, **{f: to_float32(getattr(value, f)) for f in fields})
    return value


def gemm_rates(
    device: torch.device,
    n: int = GEMM_SIZE,
    repeats: int = 3,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
) -> dict[str, float]:
    """FLOP/s of an n×n×n matrix multiply on ``device`` in each of ``precisions`` (best of
    ``repeats``, after one warm-up): the peak each precision can reach here."""
    rates = {}
    for name in precisions:
        dtype = COMPUTE_DTYPES[name] or torch.float32
        draws = torch.Generator(device).manual_seed(0)  # never the run's global RNG
        a, b = (torch.rand(n, n, device=device, generator=draws).to(dtype) for _ in "ab")
        best = float("inf")
        for _ in range(repeats + 1):
            _synchronize(device)
            start = time.perf_counter()
            a @ b
            _synchronize(device)
            best = min(best, time.perf_counter() - start)
        rates[name] = 2 * n**3 / best
    return rates


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def native_cpu_bf16() -> bool:
    """Has this CPU bfloat16 instructions (x86's AVX512-BF16 or AMX)? Without them torch
    emulates bfloat16 GEMMs: an AVX2 EPYC ran 1024³ at 0.46 GFLOP/s against 74 in float32, so
    timing one would take seconds. (torch's probes are private: where they are gone, measure.)"""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    found = [getattr(torch.cpu, name, None) for name in probes]
    return any(probe is None or probe() for probe in found)


def pick_precision(name: str, device: torch.device) -> str:
    """``train.precision`` → the precision to train in: ``auto`` is ``bf16`` where its GEMM runs
    at least ``BF16_MARGIN`` × float32's on ``device`` (measured now, on a CPU with bfloat16
    instructions or a GPU that has them), else ``fp32``."""
    if name != "auto":
        return name
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp32"
    if device.type == "cpu" and not native_cpu_bf16():
        return "fp32"
    rates = gemm_rates(device)
    return "bf16" if rates["bf16"] >= BF16_MARGIN * rates["fp32"] else "fp32"
