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
random token, 10% unchanged).  Every random number is keyed (:func:`keyed_uniform`) by its
row's seed, what it is for and its column: a row's masks are a function of its seed alone,
not of the batch it is masked in, and a whole batch is masked at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zhnlp.pretraining.sampling import keyed_uniform

STRATEGIES = ("char", "wwm", "span")
POLICIES = ("electra", "bert")


@dataclass
class Masked:
    """A masked batch: the inputs, the labels (-100 where not masked) and the mask."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor


# what a row's uniforms are for: the keys that keep them apart (spans use two per round)
WORD_ORDER, TOKEN_ORDER, REPLACEMENT, RANDOM_TOKEN, SENTENCE_ORDER, SPAN_ROUNDS = 0, 1, 2, 3, 4, 8


def draws(seeds: torch.Tensor, what: int, width: int) -> torch.Tensor:
    """Uniforms ``(len(seeds), width)`` for ``what``: entry ``(i, j)`` a function of
    ``seeds[i]``, ``what`` and ``j`` alone."""
    return keyed_uniform(seeds, torch.full_like(seeds, what), width)


def budget(maskable: torch.Tensor, rate: float) -> torch.Tensor:
    """Tokens to mask in each sequence: round(rate * n), at least 1 (0 for empty rows)."""
    n = maskable.sum(dim=1)
    return torch.where(n > 0, torch.clamp(torch.round(n * rate), min=1), 0).long()


def choose_tokens(maskable: torch.Tensor, k: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Exactly ``k[i]`` random maskable positions in each row ``i``."""
    keys = draws(seeds, TOKEN_ORDER, maskable.shape[1])
    keys[~maskable] = 2.0  # never among the smallest
    ranks = keys.argsort(dim=1).argsort(dim=1)
    return ranks < k[:, None]


def choose_words(word_ids: torch.Tensor, maskable: torch.Tensor, k: torch.Tensor,
                 seeds: torch.Tensor) -> torch.Tensor:
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
    order = draws(seeds, WORD_ORDER, n_words).masked_fill(sizes == 0, 2.0).argsort(dim=1)
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


def choose_spans(maskable: torch.Tensor, k: torch.Tensor, seeds: torch.Tensor,
                 p: float = 0.2, max_span: int = 10) -> torch.Tensor:
    """Spans of geometric length at random starts until each row's budget is met, exactly."""
    batch, length = maskable.shape
    picked = torch.zeros_like(maskable)
    positions = torch.arange(length)
    for round_ in range(4 * length):  # enough rounds for any budget; usually a handful
        left = k - picked.sum(dim=1)
        if not bool((left > 0).any()):
            break
        u = draws(seeds, SPAN_ROUNDS + 2 * round_, 1).squeeze(1)
        span = torch.clamp(torch.ceil(torch.log(u) / torch.log(torch.tensor(1 - p))), 1, max_span)
        span = torch.minimum(span.long(), left.clamp(min=0))
        free = maskable & ~picked
        keys = draws(seeds, SPAN_ROUNDS + 2 * round_ + 1, length).masked_fill(~free, 2.0)
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
               special_ids: tuple[int, ...] = (), seeds: torch.Tensor) -> Masked:
    """Mask a batch of token ids (``word_ids`` -1 on special tokens and padding), each row
    with the random numbers of its seed (``seeds``: one int64 per row, 0 to 2**62)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    maskable = word_ids >= 0
    for special in special_ids:
        maskable &= input_ids != special
    k = budget(maskable, rate)
    if strategy == "char":
        mask = choose_tokens(maskable, k, seeds)
    elif strategy == "wwm":
        mask = choose_words(word_ids, maskable, k, seeds)
    else:
        mask = choose_spans(maskable, k, seeds)
    labels = torch.where(mask, input_ids, -100)
    draw = draws(seeds, REPLACEMENT, input_ids.shape[1])
    inputs = input_ids.clone()
    if policy == "electra":
        inputs[mask & (draw < 0.85)] = mask_id
    else:
        inputs[mask & (draw < 0.8)] = mask_id
        swap = mask & (draw >= 0.8) & (draw < 0.9)
        random_ids = (draws(seeds, RANDOM_TOKEN, input_ids.shape[1]) * vocab_size).long()
        inputs[swap] = random_ids.clamp(max=vocab_size - 1)[swap]
    return Masked(inputs, labels, mask)
