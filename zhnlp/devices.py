"""Where a model runs, and in which precision: shared by pretraining and fine-tuning."""

from __future__ import annotations

import contextlib

import torch

from zhnlp.errors import ZhnlpError


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU when there is one, else the CPU; any other name as given."""
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ZhnlpError(f"unknown device {name!r} (auto, cpu, cuda, cuda:N)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ZhnlpError(f"device {name!r}: no GPU is visible to torch here")
        return device
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU that has it; fp32 elsewhere (half precision on this kind of CPU
    runs about 100x slower than fp32)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
