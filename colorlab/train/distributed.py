"""Several processes (``torchrun``): the process group, and the wrapped networks a step runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.distributed as torch_dist
from torch import nn

from colorlab.runtime import Runtime

__all__ = ["process_group", "wrap", "barrier"]


@contextlib.contextmanager
def process_group(rt: Runtime) -> Iterator[None]:
    """Join the torchrun process group for the run (NCCL on CUDA, gloo on CPU), if there is one
    and nobody joined it yet; leave it afterwards."""
    own = rt.distributed and not torch_dist.is_initialized()
    if own:
        if rt.device.type == "cuda":
            torch.cuda.set_device(rt.device)
        torch_dist.init_process_group("nccl" if rt.device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        if own and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def wrap(module: nn.Module | None, rt: Runtime, compile: bool) -> nn.Module | None:
    """``module`` as the step runs it: in ``DistributedDataParallel`` under torchrun, then
    ``torch.compile`` d if asked. Checkpoints always hold the plain module."""
    if module is None:
        return None
    if rt.distributed:
        ids = [rt.device.index] if rt.device.type == "cuda" else None
        module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
    return torch.compile(module) if compile else module


def barrier(rt: Runtime) -> None:
    """Wait for every rank (rank 0 writes the checkpoint before the others leave)."""
    if rt.distributed:
        torch_dist.barrier()
