"""Batches for pretraining: shards -> shuffled, DDP-split, masked tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from zhnlp.masking import mask_batch
from zhnlp.pretraining_data import PretrainingShards


def swap_segments(row: np.ndarray) -> np.ndarray:
    """``[CLS] A [SEP] B [SEP]`` -> ``[CLS] B [SEP] A [SEP]`` (ids, word ids, segment ids)."""
    ids, words, types = row
    length = int((ids != 0).sum())
    b_start = int(np.argmax(types == 1)) if (types == 1).any() else length
    if b_start >= length:
        return row
    a = slice(1, b_start)  # A and its [SEP]
    b = slice(b_start, length)  # B and its [SEP]
    out = row.copy()
    order = np.r_[0, np.arange(length)[b], np.arange(length)[a]]
    out[:, :length] = row[:, order]
    b_len = length - b_start
    out[2, :length] = 0
    out[2, 1 + b_len:length] = 1
    return out


@dataclass
class MaskingCollator:
    """Stacks rows, optionally swaps A/B for sentence-order prediction, and masks."""

    mask_id: int
    vocab_size: int
    strategy: str = "wwm"
    policy: str = "electra"
    rate: float = 0.15
    sop: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self._reseed(self.seed)
        self._worker: int | None = None

    def _reseed(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)

    def __call__(self, rows: list[np.ndarray]) -> dict[str, torch.Tensor]:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker != info.id:  # each loader worker its own stream
            self._worker = info.id
            self._reseed(self.seed * 1000 + 1 + info.id)
        sop_labels = None
        if self.sop:
            flips = self.rng.random(len(rows)) < 0.5
            has_b = [bool((r[2] == 1).any()) for r in rows]
            rows = [swap_segments(r) if f and b else r for r, f, b in zip(rows, flips, has_b)]
            sop_labels = torch.tensor([int(f and b) for f, b in zip(flips, has_b)])
        data = torch.from_numpy(np.stack(rows)).long()
        ids, words, types = data[:, 0], data[:, 1], data[:, 2]
        masked = mask_batch(ids, words, strategy=self.strategy, rate=self.rate,
                            policy=self.policy, mask_id=self.mask_id,
                            vocab_size=self.vocab_size, gen=self.gen)
        batch = {"input_ids": masked.input_ids, "labels": masked.labels,
                 "attention_mask": (ids != 0).long(), "token_type_ids": types,
                 "original_ids": ids, "word_ids": words}
        if sop_labels is not None:
            batch["sentence_order_label"] = sop_labels
        return batch


def make_loader(shards: PretrainingShards, collator: MaskingCollator, batch_size: int, *,
                rank: int = 0, world_size: int = 1, seed: int = 0, epoch: int = 0,
                num_workers: int = 0, drop_last: bool = True) -> DataLoader:
    """Sequences shuffled across all shards, rank ``rank`` of ``world_size`` taking a
    disjoint, equally long part (torch's DistributedSampler), masked by ``collator``."""
    sampler = DistributedSampler(shards, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed, drop_last=drop_last)
    sampler.set_epoch(epoch)
    return DataLoader(shards, batch_size=batch_size, sampler=sampler, collate_fn=collator,
                      num_workers=num_workers, drop_last=drop_last)
