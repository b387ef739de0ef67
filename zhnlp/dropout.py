"""Dropout that is cheap on a CPU, for the hidden states and the attention probabilities.

torch's CPU dropout draws one Bernoulli number per element (about 9 ms per million here, the
cost of a matmul of the same tensor many times over), and SDPA on a CPU has no fused kernel
with dropout: training with attention dropout falls back to a slow path.  Together they took
a fifth to a third of a training step.  Here a keep-mask comes from 64-bit random words
(four 15-bit lanes each, ~0.6 ms per million; the dropped share is ``round(p * 32768) /
32768``, and the survivors are scaled by that share exactly), and the attention
probabilities are materialised, dropped and multiplied by hand.  Both draw from torch's
generator, so a seed (and a checkpointed generator state) repeats them.  On GPUs nothing
changes: torch's dropout and SDPA's fused kernels are used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION = "zhnlp_cpu_dropout"  # the attention implementation's name in transformers
LANE_BITS = 15


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device,
              ) -> tuple[torch.Tensor, float]:
    """A random boolean mask of ``shape`` that drops about ``p`` of the entries, and the
    share it drops exactly (a multiple of 2**-15)."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_()
    lanes = words.view(torch.int16)[:n].view(shape) & ((1 << LANE_BITS) - 1)
    cut = round(p * (1 << LANE_BITS))
    return lanes >= cut, cut / (1 << LANE_BITS)


def cheap_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout`` with a cheap mask on the CPU (torch's own elsewhere)."""
    if not training or p == 0 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    keep, share = keep_mask(x.shape, p, x.device)
    # one multiplier tensor: a pass forward and a pass backward (where + scale take two each)
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - share))


class Dropout(nn.Dropout):
    """``nn.Dropout`` with :func:`cheap_dropout`'s cheap CPU mask."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cheap_dropout(x, self.p, self.training)


def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attention_mask: torch.Tensor | None, scaling: float | None = None,
              dropout: float = 0.0, **kwargs: object) -> tuple[torch.Tensor, None]:
    """A transformers attention function: SDPA unless training on a CPU with dropout, where
    the probabilities are computed and dropped with :func:`cheap_dropout`'s mask."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0 or query.device.type != "cpu":
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      scaling=scaling, dropout=dropout, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scale
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min) \
            if attention_mask.dtype == torch.bool else scores + attention_mask
    probs = cheap_dropout(scores.softmax(-1), dropout)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


def use_cheap_dropout(model: nn.Module) -> None:
    """Give a transformers model (and every one inside it) :class:`Dropout` modules and
    :func:`attention`; what it computes is unchanged in distribution, its exports too."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)  # boolean masks, as SDPA takes
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is nn.Dropout:
                cheap = Dropout(child.p)
                cheap.train(child.training)
                setattr(module, name, cheap)
        config = getattr(module, "config", None)
        if hasattr(config, "_attn_implementation"):
            config._attn_implementation = ATTENTION
