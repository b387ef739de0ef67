"""Masking strategies on real sequences: exact counts, never a special token, words whole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zhnlp.pretraining.masking import budget, mask_batch
from zhnlp.pretraining.shards import PrepareConfig, PretrainingShards, prepare


@pytest.fixture(scope="module")
def batch(tokdir, eprstmt_sentences, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("m")
    prepare(eprstmt_sentences[:800], tokdir, str(tmp / "s"),
            config=PrepareConfig(backend="rjieba", max_len=96))
    data = PretrainingShards(str(tmp / "s"))
    rows = torch.from_numpy(np.stack([data[i] for i in range(len(data))])).long()
    return rows[:, 0], rows[:, 1]


SPECIAL = (0, 101, 102, 103)


def seeds(n: int, run: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.long) + run * 1_000_000


@pytest.mark.parametrize("strategy", ["char", "wwm", "span"])
@pytest.mark.parametrize("policy", ["electra", "bert"])
def test_counts_and_specials(batch, strategy, policy):
    ids, words = batch
    out = mask_batch(ids, words, strategy=strategy, policy=policy, mask_id=103,
                     vocab_size=21128, seeds=seeds(len(ids), 0))
    real = words >= 0
    want = budget(real, 0.15)
    got = out.mask.sum(dim=1)
    assert not (out.mask & ~real).any()  # never [CLS], [SEP] or padding
    assert (out.labels[out.mask] == ids[out.mask]).all() and (out.labels[~out.mask] == -100).all()
    assert (out.input_ids[~out.mask] == ids[~out.mask]).all()
    assert (want == torch.clamp(torch.round(real.sum(1) * 0.15), min=1)).all()
    if strategy == "wwm":
        assert (got <= want).all() and (got == want).float().mean() > 0.97
    else:
        assert (got == want).all()
    replaced = (out.input_ids == 103) & out.mask
    share = replaced.sum().item() / out.mask.sum().item()
    assert abs(share - (0.85 if policy == "electra" else 0.8)) < 0.04
    if policy == "bert":
        random_tok = out.mask & (out.input_ids != 103) & (out.input_ids != ids)
        assert 0.05 < random_tok.sum().item() / out.mask.sum().item() < 0.15


def test_whole_words_are_masked_whole(batch):
    ids, words = batch
    out = mask_batch(ids, words, strategy="wwm", mask_id=103, vocab_size=21128,
                     seeds=seeds(len(ids), 1))
    multi = 0
    for row_words, row_mask in zip(words, out.mask):
        for w in torch.unique(row_words[row_words >= 0]).tolist():
            at = row_words == w
            assert row_mask[at].all() or not row_mask[at].any()
            multi += bool(row_mask[at].all() and at.sum() > 1)
    assert multi > 50  # multi-token words do get masked, whole


def test_same_seed_same_masks(batch):
    ids, words = batch
    a = mask_batch(ids, words, strategy="span", mask_id=103, vocab_size=21128,
                   seeds=seeds(len(ids), 7))
    b = mask_batch(ids, words, strategy="span", mask_id=103, vocab_size=21128,
                   seeds=seeds(len(ids), 7))
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.mask, b.mask)


def test_spans_are_contiguous_runs(batch):
    ids, words = batch
    out = mask_batch(ids, words, strategy="span", mask_id=103, vocab_size=21128,
                     seeds=seeds(len(ids), 2))
    runs = []
    for row in out.mask:
        r = row.int().tolist()
        length = 0
        for v in r + [0]:
            if v:
                length += 1
            elif length:
                runs.append(length)
                length = 0
    assert np.mean(runs) > 1.5  # spans, not scattered tokens


@pytest.mark.parametrize("strategy", ["char", "wwm", "span"])
def test_a_rows_masks_depend_on_its_seed_not_on_its_batch(batch, strategy):
    ids, words = batch
    every = seeds(len(ids), 3)
    whole = mask_batch(ids, words, strategy=strategy, policy="bert", mask_id=103,
                       vocab_size=21128, seeds=every)
    part = mask_batch(ids[40:47], words[40:47], strategy=strategy, policy="bert", mask_id=103,
                      vocab_size=21128, seeds=every[40:47])
    assert torch.equal(part.input_ids, whole.input_ids[40:47])
    assert torch.equal(part.mask, whole.mask[40:47])
    other = mask_batch(ids[40:47], words[40:47], strategy=strategy, policy="bert", mask_id=103,
                       vocab_size=21128, seeds=every[40:47] + 1)
    assert not torch.equal(other.mask, part.mask)
