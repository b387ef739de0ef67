"""`zhnlp prepare`: sentences, word ids, packing, shards, resume, loading, on real text."""

from __future__ import annotations

import json
import shutil
import unicodedata

import numpy as np
import pytest
import torch
from conftest import zhnlp

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.pretraining.loader import MaskingCollator, make_loader, swap_segments
from zhnlp.pretraining.shards import (
    PrepareConfig,
    PretrainingShards,
    SentenceEncoder,
    prepare,
    sentences,
)
from zhnlp.segment import Segmenter
from zhnlp.vocab import save_tokenizer


@pytest.fixture(scope="module")
def corpus(eprstmt_sentences):
    return eprstmt_sentences[:1500]


@pytest.fixture(scope="module")
def shards(corpus, tokdir, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "s"
    config = PrepareConfig(docs_per_shard=400, backend="rjieba", max_len=64)
    manifest = prepare(corpus, tokdir, str(out), config=config)
    return out, manifest, config


def test_sentences_keep_their_marks():
    assert sentences("他说：“好。”然后走了！！真的吗？没有句号") == \
        ["他说：“好。”", "然后走了！！", "真的吗？", "没有句号"]


def test_word_ids_align_mixed_han_latin_digit_words(tokdir, eprstmt_sentences):
    lexicon = {"iPhone8": 1, "iphone8": 1, "4G网络": 1, "MP3": 1}
    encoder = SentenceEncoder(tokdir, Segmenter("rjieba", lexicon))
    checked = 0
    for line in eprstmt_sentences:
        if "4G网络" not in line and "iPhone8" not in line:
            continue
        ids, words = encoder.encode(line)
        tokens = [encoder.tokenizer.id_to_token(i) for i in ids]
        for word in ("4g网络", "iphone8"):
            text = "".join(t.removeprefix("##") for t in tokens)
            if word not in text:
                continue
            # the tokens that spell the word all carry one word id, and no other token has it
            pos, acc = 0, ""
            for i, tok in enumerate(tokens):
                if text.startswith(word, len(acc)):
                    pos = i
                    break
                acc += tok.removeprefix("##")
            span, spelled = [], ""
            for tok in tokens[pos:]:
                if spelled == word:
                    break
                spelled += tok.removeprefix("##")
                span.append(pos + len(span))
            assert len({words[i] for i in span}) == 1, (line, tokens, words)
            assert sum(w == words[span[0]] for w in words) == len(span)
            assert len(span) > 1
            checked += 1
    assert checked >= 2
    assert encoder.unaligned == 0


def test_shards_layout_and_manifest(shards, tokdir):
    out, manifest, config = shards
    data = PretrainingShards(str(out), tokenizer=tokdir)
    assert len(data) == manifest["sequences"] > 200
    lengths = []
    for i in range(len(data)):
        ids, words, types = data[i]
        n = int((ids != 0).sum())
        lengths.append(n)
        assert ids[0] == 101 and ids[n - 1] == 102 and (ids[n:] == 0).all()
        assert (words[ids == 101] == -1).all() and (words[ids == 102] == -1).all()
        assert (words[:n][(ids[:n] != 101) & (ids[:n] != 102)] >= 0).all()
        if (types == 1).any():
            first_b = int(np.argmax(types == 1))
            assert ids[first_b - 1] == 102 and (types[first_b:n] == 1).all()
    assert max(lengths) <= config.max_len
    two_segments = np.mean([(data[i][2] == 1).any() for i in range(len(data))])
    # one review per line: only reviews of several sentences can give A/B pairs
    assert 0.1 < two_segments < 0.95
    assert manifest["words"] < manifest["word_tokens"]  # some words span several tokens


def test_resume_after_an_interruption_gives_identical_shards(corpus, tokdir, shards, tmp_path):
    out, manifest, config = shards
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # an interrupted run: the last shard never written, another one half-written
    last = manifest["shards"][-1]["name"]
    (copy / last).unlink()
    broken = copy / manifest["shards"][1]["name"]
    broken.write_bytes(broken.read_bytes()[:100])
    again = prepare(corpus, tokdir, str(copy), config=config)
    assert again == manifest
    for entry in manifest["shards"]:
        assert (copy / entry["name"]).read_bytes() == (out / entry["name"]).read_bytes()
    parallel = prepare(corpus, tokdir, str(tmp_path / "par"), config=config, workers=2)
    assert parallel == manifest


def test_other_settings_or_tokenizer_are_refused(corpus, tokdir, shards, tmp_path,
                                                 eprstmt_sentences):
    out, manifest, config = shards
    with pytest.raises(ZhnlpError, match="other settings"):
        prepare(corpus, tokdir, str(out), config=PrepareConfig(max_len=32, backend="rjieba"))
    other = tmp_path / "tok2"
    from zhnlp.vocab import train_tokenizer
    save_tokenizer(train_tokenizer(eprstmt_sentences[:500], 2000), str(other))
    with pytest.raises(ZhnlpError, match="another tokenizer"):
        PretrainingShards(str(out), tokenizer=str(other))
    corrupt = tmp_path / "corrupt"
    shutil.copytree(out, corrupt)
    shard = corrupt / manifest["shards"][0]["name"]
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="corrupt shard"):
        PretrainingShards(str(corrupt))
    PretrainingShards(str(corrupt), verify=False)  # a flipped byte keeps the shape
    shard.write_bytes(bytes(raw[:len(raw) // 2]))  # a half-written shard does not
    for verify in (True, False):
        with pytest.raises(InputError, match="corrupt shard|truncated shard"):
            PretrainingShards(str(corrupt), verify=verify)
    with pytest.raises(InputError, match="no manifest.json"):
        PretrainingShards(str(tmp_path))


def test_loader_splits_ranks_disjointly_and_masks(shards):
    out, manifest, config = shards
    data = PretrainingShards(str(out))
    seen = []
    for rank in range(2):
        collator = MaskingCollator(mask_id=103, vocab_size=21128, seed=rank)
        loader = make_loader(data, collator, 8, rank=rank, world_size=2, seed=3)
        seen.append([i for batch in loader.batch_sampler for i in batch])
        batch = next(iter(loader))
        assert batch["input_ids"].shape == (8, config.max_len)
        assert ((batch["labels"] != -100) == (batch["input_ids"] != batch["original_ids"])
                ).sum() > 0
    assert not set(seen[0]) & set(seen[1])
    assert len(seen[0]) == len(seen[1]) == len(data) // 2 // 8 * 8  # whole batches


def test_batches_are_the_same_from_worker_processes_and_after_a_restore(shards):
    """The training loop's iterator: worker processes, an epoch's end and a restored position
    change nothing in the batches (their masks are functions of the sequences' keys)."""
    from zhnlp.pretraining.loader import Batches

    out, _, _ = shards
    data = PretrainingShards(str(out))
    collator = MaskingCollator(mask_id=103, vocab_size=21128, seed=5)
    per_epoch = len(data) // 16
    here = Batches(data, collator, 16, seed=2)
    there = Batches(data, collator, 16, seed=2, workers=2)
    steps = per_epoch + 3  # into the second epoch
    mine = [here.next() for _ in range(steps)]
    theirs = [there.next() for _ in range(steps)]
    assert here.state() == there.state() == {"epoch": 1, "index": 3}
    for a, b in zip(mine, theirs):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(mine[0]["input_ids"], mine[per_epoch]["input_ids"])  # reshuffled
    again = Batches(data, collator, 16, seed=2)
    again.restore({"epoch": 0, "index": per_epoch - 1})
    for want in mine[per_epoch - 1:]:
        got = again.next()
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_sentence_order_swap(shards):
    data = PretrainingShards(str(shards[0]))
    row = next(data[i] for i in range(len(data)) if (data[i][2] == 1).any())
    swapped = swap_segments(row)
    ids, types = row[0], row[2]
    n = int((ids != 0).sum())
    b0 = int(np.argmax(types == 1))
    a, b = list(ids[1:b0]), list(ids[b0:n])
    assert list(swapped[0][:n]) == [101, *b, *a]
    assert sorted(swapped[1][:n]) == sorted(row[1][:n])
    assert list(swapped[2][:n]) == [0] * (1 + len(b)) + [1] * len(a)


def test_cli_bad_input(tokdir, tmp_path, corpus):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    res = zhnlp("prepare", str(empty), "--tokenizer", tokdir, "-o",
                str(tmp_path / "o1"), "-q", text=True)
    assert res.returncode == 1 and "no sequences" in res.stderr
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(("\n".join(corpus[:5]) + "\n").encode("gbk"))
    res = zhnlp("prepare", str(gbk), "--tokenizer", tokdir, "-o",
                str(tmp_path / "o2"), "-q", text=True)
    assert res.returncode == 1 and "gbk.txt:1" in res.stderr and "not valid utf-8" in res.stderr
    lex = tmp_path / "lex.jsonl"
    lex.write_text('{"word": "好评"}\nnot json\n', encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text("\n".join(corpus[:50]) + "\n", encoding="utf-8")
    res = zhnlp("prepare", str(good), "--tokenizer", tokdir, "--lexicon", str(lex), "-o",
                str(tmp_path / "o3"), "-q", text=True)
    assert res.returncode == 1 and "lex.jsonl:2: not a JSON object" in res.stderr
    res = zhnlp("prepare", str(good), "--tokenizer", str(tmp_path), "-o",
                str(tmp_path / "o4"), "-q", text=True)
    assert res.returncode == 1 and "not a tokenizer directory" in res.stderr
    res = zhnlp("prepare", str(good), "--tokenizer", tokdir, "-o",
                str(tmp_path / "o5"), text=True)
    assert res.returncode == 0 and "1 shards" in res.stderr
    assert json.loads((tmp_path / "o5" / "manifest.json").read_text())["sequences"] > 0


def test_full_packing_fills_sequences_across_short_documents(corpus, tokdir, shards, tmp_path):
    """One real review per line: documents are short, so ELECTRA's per-document packing
    leaves most positions empty; --pack full runs sequences on across documents, closing a
    sequence before a sentence that would overflow it, so no text is cut away."""
    _, by_document, config = shards
    full_config = PrepareConfig(**{**config.__dict__, "pack": "full"})
    full = prepare(corpus, tokdir, str(tmp_path / "full"), config=full_config)
    fill = {name: m["tokens"] / (m["sequences"] * config.max_len)
            for name, m in (("document", by_document), ("full", full))}
    assert fill["document"] < 0.6 and fill["full"] > 0.75
    assert full["sequences"] < 0.8 * by_document["sequences"]
    # ELECTRA's builder truncates a sequence's overflow; full packing keeps every token of
    # every sentence that fits in a sequence at all
    assert full["word_tokens"] > by_document["word_tokens"]
    data = PretrainingShards(str(tmp_path / "full"), tokenizer=tokdir)
    assert all(int((data[i][0] != 0).sum()) <= config.max_len for i in range(len(data)))


def test_every_token_is_in_a_sequence_or_counted_as_cut(corpus, tokdir, shards):
    """Tokens cut off full sequences are on record (the summary reports them): shard tokens
    plus cut tokens are the corpus's tokens, none lost silently."""
    _, manifest, _ = shards
    from zhnlp.vocab import load_tokenizer

    tok = load_tokenizer(tokdir)
    total = sum(len(tok.encode(unicodedata.normalize("NFKC", s), add_special_tokens=False).ids)
                for line in corpus for s in sentences(line))
    assert manifest["cut_tokens"] > 0  # sequences of 64 tokens cut some real reviews
    assert manifest["word_tokens"] + manifest["cut_tokens"] == total
