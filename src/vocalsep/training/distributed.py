"""Data-parallel training under ``torchrun``: the ranks, their process group, and what they share.

``torchrun --nproc-per-node N -m vocalsep train ...`` starts N processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each draws its own share of the seeded global batch
(``PatchSampler.spectra(..., rank=, ranks=)``), ``DistributedDataParallel`` averages the
gradients, and batch norm takes its statistics over the whole global batch
(``GlobalBatchNorm2d``), so N ranks with batch B compute what one process computes with
batch N·B. Without those variables everything here is a no-op for one process.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from vocalsep.errors import ConfigError

#: How long a rank waits for the others; rank 0 validates (minutes on a CPU) while they wait.
RANK_TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the data-parallel processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        """Rank 0, the one that validates, logs and writes checkpoints."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1

    def device(self, device: torch.device) -> torch.device:
        """This rank's GPU when training on CUDA (``cuda:LOCAL_RANK``), else ``device``."""
        if device.type == "cuda" and self.parallel:
            return torch.device("cuda", self.local_rank)
        return device

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the ranks (not differentiated)."""
        if not self.parallel:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` averaged over the ranks (not differentiated)."""
        return self.sum(value) / self.world

    def barrier(self) -> None:
        if self.parallel:
            dist.barrier()


def ranks_from_environment() -> Ranks:
    """The ranks ``torchrun`` describes in the environment; one process without it.

    Raises
    ------
    ConfigError
        The variables are inconsistent.
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"rank {rank} of {world} processes is not a valid place (RANK, WORLD_SIZE)")
    return Ranks(rank, world, local_rank)


@contextlib.contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """Join the ranks' process group for the block: NCCL between GPUs, gloo on CPUs."""
    if not ranks.parallel:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=RANK_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose training statistics are those of the global batch, over every rank.

    ``torch.nn.SyncBatchNorm`` does this on GPUs only; this one works with any backend,
    gloo on CPUs included. The per-channel sums go through ``torch.distributed.nn``'s
    differentiable ``all_reduce``, so the gradients are those of one process normalising
    the whole batch. Mean first, then the mean square deviation (two passes, as the
    single-process kernel), for the same rounding. In eval mode, or alone, it is plain
    ``BatchNorm2d``; its state dict is the same, so checkpoints do not change.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dtype, x = x.dtype, x.float()  # under autocast, bfloat16 in and out; statistics in float32 as the kernel's
        axes = (0, 2, 3)
        count = all_reduce(torch.tensor(float(x.numel() // x.shape[1]), device=x.device))
        mean = all_reduce(x.sum(axes)) / count
        centred = x - mean[None, :, None, None]
        variance = all_reduce(centred.square().sum(axes)) / count
        if self.track_running_stats:
            self.num_batches_tracked += 1
            momentum = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(variance.detach() * count / (count - 1), momentum)  # unbiased, as torch
        scale = torch.rsqrt(variance + self.eps)
        if self.affine:
            return (centred * (scale * self.weight)[None, :, None, None] + self.bias[None, :, None, None]).to(dtype)
        return (centred * scale[None, :, None, None]).to(dtype)


def with_global_batch_norm(model: nn.Module) -> nn.Module:
    """Make every ``BatchNorm2d`` of ``model`` a ``GlobalBatchNorm2d`` in place (weights and buffers kept)."""
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d
    return model


def data_parallel(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """``model`` wrapped for the ranks (``DistributedDataParallel``), or itself for one process.

    Buffers are not broadcast: global batch norm keeps them equal on every rank already.
    """
    if not ranks.parallel:
        return model
    from torch.nn.parallel import DistributedDataParallel

    with_global_batch_norm(model)
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                   broadcast_buffers=False)
