"""Batches for pretraining: shards -> shuffled, DDP-split, masked tensors (one way to make
them: ``make_loader``, a DataLoader; ``Batches`` walks its epochs for the training loop)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from zhnlp.errors import ZhnlpError
from zhnlp.pretraining.masking import SENTENCE_ORDER, draws, mask_batch
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
        keys = [key for key, _ in items]
        seeds = torch.tensor([row_seed(self.seed, key, 0) for key in keys], dtype=torch.long)
        rows = np.stack([row for _, row in items]).astype(np.int64)
        flips = torch.zeros(len(items), dtype=torch.long)
        if self.sop:
            flips = ((draws(seeds, SENTENCE_ORDER, 1).squeeze(1) < 0.5)
                     & torch.from_numpy((rows[:, 2] == 1).any(1))).long()
            for i in flips.nonzero().squeeze(1).tolist():
                rows[i] = swap_segments(rows[i])
        data = torch.from_numpy(rows)
        ids, words, types = data[:, 0], data[:, 1], data[:, 2]
        masked = mask_batch(ids, words, strategy=self.strategy, rate=self.rate,
                            policy=self.policy, mask_id=self.mask_id,
                            vocab_size=self.vocab_size, seeds=seeds)
        batch = {"input_ids": masked.input_ids, "labels": masked.labels,
                 # flat indices of the masked positions (see the model's forward)
                 "masked_positions": masked.mask.flatten().nonzero().squeeze(-1),
                 "attention_mask": (ids != 0).long(), "token_type_ids": types,
                 "original_ids": ids, "word_ids": words,
                 "sample_seed": torch.tensor([row_seed(self.seed, key, 1) for key in keys],
                                             dtype=torch.long)}
        if self.sop:
            batch["sentence_order_label"] = flips
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
                num_workers: int = 0, drop_last: bool = True, skip: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """Sequences shuffled across all shards, rank ``rank`` of ``world_size`` taking a
    disjoint, equally long part (torch's DistributedSampler), masked by ``collator`` in
    ``num_workers`` processes (0: this one), the first ``skip`` batches left out.  Masks are
    functions of the sequences' keys, so workers change nothing in what comes out."""
    keyed = KeyedShards(shards, epoch)
    sampler = DistributedSampler(keyed, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed, drop_last=drop_last)
    sampler.set_epoch(epoch)
    order = list(sampler)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return DataLoader(keyed, batch_sampler=batches[skip:], collate_fn=collator,
                      num_workers=num_workers, pin_memory=pin_memory,
                      prefetch_factor=4 if num_workers else None,
                      persistent_workers=False)


class Batches:
    """The training process's micro-batches, one rank's, epoch after epoch, in a position
    (epoch, batch) that can be saved and restored exactly."""

    def __init__(self, shards: PretrainingShards, collator: MaskingCollator, micro: int, *,
                 rank: int = 0, world: int = 1, seed: int = 0, workers: int = 0,
                 pin: bool = False) -> None:
        self.shards, self.collator, self.micro = shards, collator, micro
        self.rank, self.world, self.seed = rank, world, seed
        self.workers, self.pin = workers, pin
        if len(shards) // world < micro:
            raise ZhnlpError(f"{shards.directory}: {len(shards)} sequences are too few for "
                             f"micro-batches of {micro} on {world} rank(s)")
        self.epoch, self.index = 0, 0
        self._load_epoch()

    def _load_epoch(self) -> None:
        self._batches = iter(make_loader(
            self.shards, self.collator, self.micro, rank=self.rank, world_size=self.world,
            seed=self.seed, epoch=self.epoch, num_workers=self.workers, skip=self.index,
            pin_memory=self.pin))

    def next(self) -> dict[str, torch.Tensor]:
        batch = next(self._batches, None)
        if batch is None:
            self.epoch, self.index = self.epoch + 1, 0
            self._load_epoch()
            batch = next(self._batches)
        self.index += 1
        return batch

    def state(self) -> dict[str, int]:
        # the masks are functions of the sequences' keys: the position is all there is
        return {"epoch": self.epoch, "index": self.index}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._load_epoch()
