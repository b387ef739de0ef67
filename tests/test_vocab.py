"""Tokenizers in Chinese BERT's layout, learned or adopted, on real text."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest
from conftest import zhnlp
from transformers import AutoTokenizer, BertTokenizer

from zhnlp.errors import InputError
from zhnlp.vocab import (
    SPECIAL_TOKENS,
    learn_pieces,
    save_tokenizer,
    tokenizer_from_vocab,
    train_tokenizer,
    unk_share,
)


@pytest.fixture(scope="module")
def learned(eprstmt_sentences):
    return train_tokenizer(eprstmt_sentences[:8000], 6000)


def test_learned_layout(learned, eprstmt_sentences):
    vocab = learned.get_vocab()
    assert [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])][:5] == SPECIAL_TOKENS
    assert len(vocab) <= 6000
    assert any(t.startswith("##") and len(t) > 3 for t in vocab)  # merged pieces
    enc = learned.encode("质量非常差，ＩＰＨＯＮＥ 8贴上去四周翘边", add_special_tokens=False)
    # Han characters one by one, NFKC + lower-casing, Latin as a word or pieces
    assert enc.tokens[:5] == ["质", "量", "非", "常", "差"]
    assert "iphone" in enc.tokens or enc.tokens[6].startswith("i")
    assert all(len(t) == 1 for t in enc.tokens if "\u4e00" <= t[0] <= "\u9fff")
    assert unk_share(learned, eprstmt_sentences[:8000])[0] == 0.0


def test_learning_is_deterministic(eprstmt_sentences):
    a = train_tokenizer(eprstmt_sentences[:3000], 3000).get_vocab()
    b = train_tokenizer(list(eprstmt_sentences[:3000]), 3000).get_vocab()
    assert a == b


def test_pieces_merge_the_most_frequent_pair_first():
    pieces = learn_pieces({"iphone": 10, "iphones": 3, "ipad": 4, "phone": 2}, 10)
    # i+##p is seen 17 times; then four pairs tie at 13 and the one whose text sorts first wins
    assert pieces[:2] == ["ip", "##ho"]
    assert "iphone" in pieces
    assert learn_pieces({"ab": 1}, 10) == []  # below min_frequency


def test_adopted_bert_vocab_tokenizes_as_bert(bert_vocab, eprstmt_sentences, tmp_path):
    tok = tokenizer_from_vocab(str(bert_vocab))
    save_tokenizer(tok, str(tmp_path / "tok"))
    assert (tmp_path / "tok" / "vocab.txt").read_bytes() == bert_vocab.read_bytes()
    ours = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    bert = BertTokenizer(str(bert_vocab))
    for line in eprstmt_sentences[:300]:
        norm = unicodedata.normalize("NFKC", line)
        assert ours.tokenize(line) == bert.tokenize(norm)
    pair = ours("你好", "世界")
    assert pair["input_ids"] == [101, 872, 1962, 102, 686, 4518, 102]
    assert pair["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]
    share, total = unk_share(tok, eprstmt_sentences)
    assert total > 500_000 and 0 < share < 0.01


def test_bad_vocab_files(tmp_path):
    missing = tmp_path / "v1.txt"
    missing.write_text("[PAD]\n[UNK]\n你\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks \\[CLS\\], \\[SEP\\], \\[MASK\\]"):
        tokenizer_from_vocab(str(missing))
    dup = tmp_path / "v2.txt"
    dup.write_text("\n".join([*SPECIAL_TOKENS, "你", "好", "你"]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="v2.txt:8: token '你' repeats line 6"):
        tokenizer_from_vocab(str(dup))
    # zhnlp's shards pad with id 0: a vocabulary with [PAD] elsewhere is refused, as a
    # vocab.txt and as a tokenizer folder
    moved = tmp_path / "v3.txt"
    moved.write_text("\n".join(["[UNK]", "[PAD]", *SPECIAL_TOKENS[2:], "你"]) + "\n", "utf-8")
    with pytest.raises(InputError, match=r"v3.txt: \[PAD\] has id 1, not 0"):
        tokenizer_from_vocab(str(moved))
    from zhnlp.vocab import load_tokenizer, wordpiece

    folder = tmp_path / "tok"
    save_tokenizer(wordpiece(["[UNK]", "[PAD]", *SPECIAL_TOKENS[2:], "你"]), str(folder))
    with pytest.raises(InputError, match=r"tokenizer.json: \[PAD\] has id 1, not 0"):
        load_tokenizer(str(folder))


def test_cli_writes_a_directory_and_reports_coverage(eprstmt_sentences, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(eprstmt_sentences[:2000]) + "\n", encoding="utf-8")
    out = tmp_path / "tok"
    res = zhnlp("build-vocab", str(corpus), "-o", str(out), "--size", "3000",
                text=True)
    assert res.returncode == 0, res.stderr
    assert "[UNK] is 0.0000%" in res.stderr
    assert {p.name for p in out.iterdir()} >= {"tokenizer.json", "tokenizer_config.json",
                                                "vocab.txt"}
    again = zhnlp("build-vocab", str(corpus), "-o", str(out), "-q",
                  "--vocab", str(tmp_path / "none.txt"), text=True)
    assert again.returncode == 1 and "none.txt: no such file" in again.stderr
    assert (out / "vocab.txt").exists()  # the earlier tokenizer is untouched


def test_extend_keeps_every_id_and_adds_what_the_corpus_lacks(bert_vocab, tmp_path):
    """Chinese BERT's vocabulary lacks curly quotes and some rare characters that CLUENER's
    news use: --extend adds them after the old ids, and [UNK] all but goes."""
    import json

    from conftest import DATA, need

    texts = [json.loads(x)["text"] for x in need(DATA / "cluener" / "train.json")
             .read_text("utf-8").splitlines()]
    corpus = tmp_path / "news.txt"
    corpus.write_text("\n".join(texts) + "\n", "utf-8")
    res = zhnlp("build-vocab", str(corpus), "--extend", str(bert_vocab), "-o",
                str(tmp_path / "tok"), "--most", "400")
    assert res.returncode == 0, res.stderr
    base = tokenizer_from_vocab(str(bert_vocab))
    extended = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    old, new = base.get_vocab(), extended.get_vocab()
    assert all(new[t] == i for t, i in old.items())
    added = sorted((t for t in new if t not in old), key=new.__getitem__)
    assert 0 < len(added) <= 400 and {"“", "”"} <= set(added)
    assert min(new[t] for t in added) == len(old)
    # characters seen once are not worth a row
    counts = Counter(c for text in texts for c in text)
    assert all(counts[t] >= 2 for t in added if len(t) == 1)
    before, _ = unk_share(base, texts)
    after, _ = unk_share(tokenizer_from_vocab(str(tmp_path / "tok" / "vocab.txt")), texts)
    assert before > 0.005 and after < before / 10, (before, after)
    assert "added to" in res.stderr.decode()
    res = zhnlp("build-vocab", str(corpus), "--extend", str(bert_vocab), "--vocab",
                str(bert_vocab), "-o", str(tmp_path / "tok2"))
    assert res.returncode == 2 and "give one of them" in res.stderr.decode()
