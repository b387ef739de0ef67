"""Segmentation backends with a discovered lexicon, on real text."""

from __future__ import annotations

import importlib.util
import re

import pytest
from conftest import zhnlp

from zhnlp.discovery import NewWordMiner, write_words
from zhnlp.errors import InputError
from zhnlp.segment import Segmenter, read_lexicon


@pytest.fixture(scope="module")
def mined(pku_lines):
    # words seen 5 times and more: the rarer ones overlap (助申奥 beside 申奥), and the
    # segmenter rightly prefers the longer, which is not what this file tests
    return NewWordMiner(min_count=5).fit(pku_lines)


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "jieba", "pkuseg"])
def test_every_output_format_reads_back(mined, fmt, tmp_path):
    path = tmp_path / f"lex.{fmt}"
    with open(path, "w", encoding="utf-8") as handle:
        write_words(mined.words_, handle, fmt, corpus_units=mined.counts_.total,
                    kinds=("word", "term"))
    lexicon = read_lexicon(str(path))
    assert list(lexicon) == [w.word for w in mined.words_]
    if fmt in ("tsv", "jsonl"):
        assert list(lexicon.values()) == [w.count for w in mined.words_]


def test_a_malformed_lexicon_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("word\tcount\tcohesion\n罢免\t44\t7.4\n海合会\tmany\t5.0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.tsv:3: expected WORD<TAB>COUNT"):
        read_lexicon(str(bad))
    text = tmp_path / "prose.txt"
    text.write_text("这 不是 一个 词表 而是 一句 话\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"prose.txt:1: expected WORD or WORD COUNT"):
        read_lexicon(str(text))
    js = tmp_path / "bad.jsonl"
    js.write_text('{"word": "罢免", "count": 3}\n{"count": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2: expected an object"):
        read_lexicon(str(js))


@pytest.mark.parametrize("backend", ["jieba", "rjieba", "pkuseg"])
def test_lexicon_words_come_out_whole(backend, mined, pku_lines):
    if backend == "pkuseg" and importlib.util.find_spec("pkuseg") is None:
        pytest.skip("pkuseg not installed (the zhnlp[pkuseg] extra)")
    lexicon = {w.word: w.count for w in mined.words_}
    plain, with_lex = Segmenter(backend), Segmenter(backend, lexicon)
    checked = gained = 0
    for word in list(lexicon)[:15]:
        line = next(line for line in pku_lines if word in line)
        assert word in with_lex.cut(line), (backend, word)
        gained += word not in plain.cut(line)
        checked += 1
    assert checked == 15 and gained >= 3
    assert "".join(with_lex.cut(pku_lines[3])) == pku_lines[3].replace(" ", "")


def test_rjieba_cuts_as_jieba_without_hmm(pku_lines):
    a, b = Segmenter("jieba", hmm=False), Segmenter("rjieba", hmm=False)
    assert [a.cut(line) for line in pku_lines[:300]] == [b.cut(line) for line in pku_lines[:300]]


def test_workers_keep_order(pku_lines):
    seg = Segmenter("rjieba")
    lines = pku_lines[:500]
    assert list(seg.cut_lines(lines, workers=2, chunk_lines=37)) == [seg.cut(x) for x in lines]


def test_cli_segments_with_a_lexicon(mined, pku_lines, tmp_path):
    corpus = tmp_path / "pku.txt"
    corpus.write_text("\n".join(pku_lines[:300]) + "\n", encoding="utf-8")
    lex = tmp_path / "new.tsv"
    with open(lex, "w", encoding="utf-8") as handle:
        write_words(mined.words_, handle, "tsv")
    out = tmp_path / "seg.txt"
    res = zhnlp("segment", str(corpus), "--lexicon", str(lex), "-o", str(out),
                "-q", "--backend", "rjieba")
    assert res.returncode == 0, res.stderr
    seg = out.read_text(encoding="utf-8").splitlines()
    assert len(seg) == 300 and seg[0].split(" ") == Segmenter("rjieba", read_lexicon(
        str(lex))).cut(pku_lines[0])
    res = zhnlp("segment", str(corpus), "--lexicon", str(corpus), "-q")
    assert res.returncode == 1 and res.stderr.decode().startswith("error: ")
    assert re.search(r"pku.txt:4: a \d+-character word: is this a lexicon\?\n$",
                     res.stderr.decode())


def test_cli_streams_and_leaves_no_partial_output_on_late_bad_input(pku_lines, tmp_path):
    corpus = tmp_path / "pku.txt"
    corpus.write_bytes(("\n".join(pku_lines) + "\n").encode("utf-8") + b"\xff\xfe bad\n")
    out = tmp_path / "seg.txt"
    out.write_text("an earlier result\n", encoding="utf-8")
    res = zhnlp("segment", str(corpus), "-o", str(out), "-q", "--backend", "rjieba", text=True)
    assert res.returncode == 1
    assert f"pku.txt:{len(pku_lines) + 1}" in res.stderr and "not valid utf-8" in res.stderr
    assert out.read_text(encoding="utf-8") == "an earlier result\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pku.txt", "seg.txt"]  # no temp left
