"""Process group, device choice and FSDP2 sharding for training.

Launched by `torchrun` (RANK / WORLD_SIZE / LOCAL_RANK in the environment) the run joins a process group:
NCCL on GPUs, gloo on CPU. The transformer is sharded with `fully_shard` per block and at the root; a
trainable text encoder is one more FSDP unit. Full (unsharded) state dicts are gathered for checkpoints so
that they load into a single process.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sanavideo.device import resolve_device


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # this process created the group (and destroys it at the end)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device_spec: str) -> DistInfo:
    """Join the torchrun process group if there is one; pick the device (cuda:LOCAL_RANK under torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not dist.is_initialized():
        return DistInfo(0, 1, 0, resolve_device(device_spec), False)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank if device.index is None else device.index)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


def teardown(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        # free the run's sharded modules (reference cycles that hold the group) before the group goes: without
        # this a gloo rank sometimes aborted at exit ("terminate called without an active exception": 1 of 4
        # runs of tests/test_train_distributed.py on the 2-core VM; with it, 0 of 8)
        gc.collect()
        dist.barrier()  # no rank tears the group down while another still has collectives in flight
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def shard(transformer: nn.Module, text_encoder: nn.Module | None, info: DistInfo) -> None:
    """FSDP2: one unit per transformer block, the rest of the transformer at the root, the text encoder whole."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(info.device.type, (info.world_size,))
    for block in transformer.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(transformer, mesh=mesh)
    if text_encoder is not None:
        fully_shard(text_encoder, mesh=mesh)


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a DTensor shard (a collective: call on every rank); plain tensors unchanged."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def like_param(full: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A full tensor laid out like `param` (this rank's shard of a DTensor parameter)."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(
            full.to(param.device, param.dtype), param.device_mesh, param.placements, src_data_rank=None
        )
    return full.to(param.device, param.dtype)


def model_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Full CPU state dict of a (possibly sharded) module; every rank must call it, rank 0 gets the tensors."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(module, options=opts)


def optimizer_state(container: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(container, optimizer, options=opts)


def load_optimizer_state(container: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(container, optimizer, state, options=StateDictOptions(full_state_dict=True))


def mean_across(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.distributed:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world_size
    return t
