"""Batches for pretraining: shards -> shuffled, DDP-split, masked tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from zhnlp.pretraining.masking import mask_batch
from zhnlp.pretraining.shards import PretrainingShards


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


def row_seed(seed: int, key: int, salt: int) -> int:
    """A seed for one sequence's random draws: a function of the run's seed, the sequence's
    key (epoch and index) and what it is for, and of nothing else."""
    return ((seed * 1_000_003 + key) * 8 + salt) % (1 << 62)


@dataclass
class MaskingCollator:
    """Stacks rows, optionally swaps A/B for sentence-order prediction, and masks.

    Called with ``(key, row)`` pairs: every random draw of a sequence (its mask, its A/B
    swap, the generator's samples for it, see ``sample_seed``) depends only on the seed and
    the sequence's key, never on which batch, micro-batch, rank or loader worker it lands
    in.  So gradient accumulation and data parallelism see the very same masks.
    """

    mask_id: int
    vocab_size: int
    strategy: str = "wwm"
    policy: str = "electra"
    rate: float = 0.15
    sop: bool = False
    seed: int = 0

    def __call__(self, items: list[tuple[int, np.ndarray]]) -> dict[str, torch.Tensor]:
        parts, sop_labels, sample_seeds = [], [], []
        for key, row in items:
            gen = torch.Generator().manual_seed(row_seed(self.seed, key, 0))
            flip = False
            if self.sop:
                flip = bool((row[2] == 1).any()) and bool(torch.rand(1, generator=gen) < 0.5)
                row = swap_segments(row) if flip else row
            data = torch.from_numpy(np.array(row, dtype=np.int64))[None]
            masked = mask_batch(data[:, 0], data[:, 1], strategy=self.strategy, rate=self.rate,
                                policy=self.policy, mask_id=self.mask_id,
                                vocab_size=self.vocab_size, gen=gen)
            parts.append((data, masked))
            sop_labels.append(int(flip))
            sample_seeds.append(row_seed(self.seed, key, 1))
        data = torch.cat([d for d, _ in parts])
        ids, words, types = data[:, 0], data[:, 1], data[:, 2]
        batch = {"input_ids": torch.cat([m.input_ids for _, m in parts]),
                 "labels": torch.cat([m.labels for _, m in parts]),
                 "attention_mask": (ids != 0).long(), "token_type_ids": types,
                 "original_ids": ids, "word_ids": words,
                 "sample_seed": torch.tensor(sample_seeds, dtype=torch.long)}
        if self.sop:
            batch["sentence_order_label"] = torch.tensor(sop_labels)
        return batch


class KeyedShards(Dataset):
    """``(key, row)`` for each sequence of an epoch, the key unique over epochs."""

    def __init__(self, shards: PretrainingShards, epoch: int = 0) -> None:
        self.shards, self.epoch = shards, epoch

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray]:
        return self.epoch * len(self.shards) + index, self.shards[index]


def make_loader(shards: PretrainingShards, collator: MaskingCollator, batch_size: int, *,
                rank: int = 0, world_size: int = 1, seed: int = 0, epoch: int = 0,
                num_workers: int = 0, drop_last: bool = True) -> DataLoader:
    """Sequences shuffled across all shards, rank ``rank`` of ``world_size`` taking a
    disjoint, equally long part (torch's DistributedSampler), masked by ``collator``."""
    keyed = KeyedShards(shards, epoch)
    sampler = DistributedSampler(keyed, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed, drop_last=drop_last)
    sampler.set_epoch(epoch)
    return DataLoader(keyed, batch_size=batch_size, sampler=sampler, collate_fn=collator,
                      num_workers=num_workers, drop_last=drop_last)
