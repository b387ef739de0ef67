"""Masking for pretraining: single tokens, whole words, or spans, vectorised over a batch.

Every sequence gets ``round(rate * n)`` masked tokens (at least 1), ``n`` being its real
tokens (special tokens and padding never count and are never masked):

- ``char``: tokens drawn at random;
- ``wwm``: whole words (the word ids of the shards) drawn in random order, each taken if
  it fits in what is left of the budget, so that words are masked whole; single-token words
  fill what longer ones leave, so the count is exact unless only longer words remain (then
  it stays below, never above: exact in over 97% of real sequences);
- ``span``: spans of geometric length (p = 0.2, at most 10 tokens, as SpanBERT), placed at
  random starts, trimmed to the budget.

Whole-word masking with or without the discovered lexicon is simply a matter of which
shards (made with or without ``--lexicon``) the batches come from.

Replacement: ``electra`` (85% ``[MASK]``, 15% unchanged) or ``bert`` (80% ``[MASK]``, 10% a
random token, 10% unchanged).  Everything is drawn from a ``torch.Generator``: the same seed
gives the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STRATEGIES = ("char", "wwm", "span")
POLICIES = ("electra", "bert")


@dataclass
class Masked:
    """A masked batch: the inputs, the labels (-100 where not masked) and the mask."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor


def budget(maskable: torch.Tensor, rate: float) -> torch.Tensor:
    """Tokens to mask in each sequence: round(rate * n), at least 1 (0 for empty rows)."""
    n = maskable.sum(dim=1)
    return torch.where(n > 0, torch.clamp(torch.round(n * rate), min=1), 0).long()


def choose_tokens(maskable: torch.Tensor, k: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Exactly ``k[i]`` random maskable positions in each row ``i``."""
    keys = torch.rand(maskable.shape, generator=gen)
    keys[~maskable] = 2.0  # never among the smallest
    ranks = keys.argsort(dim=1).argsort(dim=1)
    return ranks < k[:, None]


def choose_words(word_ids: torch.Tensor, maskable: torch.Tensor, k: torch.Tensor,
                 gen: torch.Generator) -> torch.Tensor:
    """Whole words, in random order, each taken if it fits in the row's remaining budget."""
    batch, length = word_ids.shape
    words = torch.where(maskable, word_ids, -1)
    n_words = int(words.max().item()) + 1 if words.numel() else 0
    if n_words == 0:
        return torch.zeros_like(maskable)
    # size of every word of every row: (batch, n_words)
    sizes = torch.zeros(batch, n_words + 1, dtype=torch.long)
    sizes.scatter_add_(1, (words + 1).clamp(min=0), torch.ones_like(words, dtype=torch.long))
    sizes = sizes[:, 1:]
    order = torch.rand(batch, n_words, generator=gen).masked_fill(sizes == 0, 2.0).argsort(dim=1)
    left = k.clone()
    chosen = torch.zeros(batch, n_words, dtype=torch.bool)
    rows = torch.arange(batch)
    for step in range(n_words):  # a loop over word ranks, vectorised over the batch
        word = order[:, step]
        size = sizes[rows, word]
        take = (size > 0) & (size <= left)
        chosen[rows[take], word[take]] = True
        left = left - torch.where(take, size, 0)
        if not bool((left > 0).any()):
            break
    picked = torch.zeros_like(maskable)
    valid = words >= 0
    picked[valid] = chosen[rows[:, None].expand(-1, length)[valid], words[valid]]
    return picked


def choose_spans(maskable: torch.Tensor, k: torch.Tensor, gen: torch.Generator,
                 p: float = 0.2, max_span: int = 10) -> torch.Tensor:
    """Spans of geometric length at random starts until each row's budget is met, exactly."""
    batch, length = maskable.shape
    picked = torch.zeros_like(maskable)
    positions = torch.arange(length)
    for _ in range(4 * length):  # enough rounds for any budget; usually a handful
        left = k - picked.sum(dim=1)
        if not bool((left > 0).any()):
            break
        u = torch.rand(batch, generator=gen).clamp(min=1e-9)
        span = torch.clamp(torch.ceil(torch.log(u) / torch.log(torch.tensor(1 - p))), 1, max_span)
        span = torch.minimum(span.long(), left.clamp(min=0))
        free = maskable & ~picked
        keys = torch.rand(batch, length, generator=gen).masked_fill(~free, 2.0)
        start = keys.argmin(dim=1)
        inside = (positions[None, :] >= start[:, None]) & \
                 (positions[None, :] < (start + span)[:, None]) & free
        # a span stops at the first position that is not free (special token, padding, taken)
        blocked = (~free) & (positions[None, :] >= start[:, None])
        first_block = torch.where(blocked, positions[None, :], length).min(dim=1).values
        inside &= positions[None, :] < first_block[:, None]
        inside &= (left > 0)[:, None] & free.any(dim=1)[:, None]
        picked |= inside
    return picked


def mask_batch(input_ids: torch.Tensor, word_ids: torch.Tensor, *, strategy: str = "wwm",
               rate: float = 0.15, policy: str = "electra", mask_id: int, vocab_size: int,
               special_ids: tuple[int, ...] = (), gen: torch.Generator) -> Masked:
    """Mask a batch of token ids (``word_ids`` -1 on special tokens and padding)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    maskable = word_ids >= 0
    for special in special_ids:
        maskable &= input_ids != special
    k = budget(maskable, rate)
    if strategy == "char":
        mask = choose_tokens(maskable, k, gen)
    elif strategy == "wwm":
        mask = choose_words(word_ids, maskable, k, gen)
    else:
        mask = choose_spans(maskable, k, gen)
    labels = torch.where(mask, input_ids, -100)
    draw = torch.rand(input_ids.shape, generator=gen)
    inputs = input_ids.clone()
    if policy == "electra":
        inputs[mask & (draw < 0.85)] = mask_id
    else:
        inputs[mask & (draw < 0.8)] = mask_id
        swap = mask & (draw >= 0.8) & (draw < 0.9)
        inputs[swap] = torch.randint(vocab_size, (int(swap.sum()),), generator=gen)
    return Masked(inputs, labels, mask)
