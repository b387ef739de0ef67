"""Random numbers keyed by what they are for: a counter-based hash, computed on the device.

The generator's samples must not depend on how a batch is split (accumulation, several
processes) and must come back after a resume.  A uniform here is a function of a key (a
sequence's seed and a position in it) and a column (a vocabulary entry) alone, so there is no
generator state to carry, nothing to draw on the host and copy over, and no loop over
sequences.  The hash is Chris Wellons' ``lowbias32`` (two multiply-xorshift rounds, well
mixed), with the 32-bit products done in 16-bit halves so that int64 never overflows.
"""

from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9  # spreads consecutive columns over the 32-bit range


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for ``0 <= x < 2**32``, with every product below 2**49."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 of 32-bit values held in int64."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _fold(h: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
    """Mix a 62-bit key part into a running 32-bit hash."""
    return hash32(hash32(h ^ (part & MASK32)) ^ ((part >> 32) & MASK32))


def keyed_uniform(seeds: torch.Tensor, places: torch.Tensor, width: int) -> torch.Tensor:
    """Uniforms in (0, 1), shape ``(len(seeds), width)``: entry ``(i, j)`` is a function of
    ``seeds[i]`` (an int64 from 0 to 2**62), ``places[i]`` and ``j`` alone, computed on the
    seeds' device."""
    h = _fold(_fold(torch.zeros_like(seeds, dtype=torch.long), seeds.long()), places.long())
    cols = torch.arange(width, device=seeds.device, dtype=torch.long)
    bits = hash32((h[:, None] + _mul32(cols, GOLDEN)[None, :]) & MASK32)
    return ((bits >> 8).float() + 0.5) / float(1 << 24)


BLOCK = 128  # columns per block of the two-level inverse CDF


def inverse_cdf(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """For each row of non-negative ``weights`` (unnormalised probabilities), the column whose
    share of the row's cumulative sum holds ``u`` (in (0, 1), one per row).

    In two levels, so that no cumulative sum runs over a whole vocabulary (a sequential scan,
    the slowest part of sampling before): the sums of blocks of :data:`BLOCK` columns locate
    the block, a cumulative sum inside that block alone locates the column.
    """
    n, width = weights.shape
    full = width // BLOCK
    sums = [weights[:, :full * BLOCK].unflatten(1, (full, BLOCK)).sum(-1)] if full else []
    if width % BLOCK:
        sums.append(weights[:, full * BLOCK:].sum(-1, keepdim=True))
    cum = torch.cat(sums, 1).cumsum(-1)
    target = u.reshape(n, 1) * cum[:, -1:]
    block = torch.searchsorted(cum, target).clamp(max=cum.shape[1] - 1)
    before = torch.where(block > 0, cum.gather(1, (block - 1).clamp(min=0)), 0.0)
    cols = block * BLOCK + torch.arange(BLOCK, device=weights.device)
    inside = torch.where(cols < width, weights.gather(1, cols.clamp(max=width - 1)), 0.0)
    last = (width - 1 - block * BLOCK).clamp(max=BLOCK - 1)  # a short last block's end
    place = torch.searchsorted(inside.cumsum(-1), target - before)
    return (block * BLOCK + torch.minimum(place, last)).squeeze(-1)
