"""``zhnlp discover-words`` and ``zhnlp corpus`` as a user runs them."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import zhnlp


def run(*args: str, stdin: bytes | None = None, cwd: Path | None = None):
    return zhnlp(*args, input=stdin, cwd=cwd)


@pytest.fixture(scope="module")
def corpus(pku_lines, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("c") / "pku.txt"
    path.write_text("\n".join(pku_lines[:1000]) + "\n", encoding="utf-8")
    return path


def test_help_has_an_example():
    for args in ([], ["discover-words"], ["corpus"], ["corpus", "get"], ["corpus", "list"]):
        out = run(*args, "--help")
        assert out.returncode == 0
        assert b"Example" in out.stdout


def test_tsv_to_stdout_and_formats(corpus, pku_words, tmp_path):
    out = run("discover-words", str(corpus), "--base", str(pku_words), "--top", "20", "-q")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0] == "word\tcount\tcohesion\tleft_entropy\tright_entropy\tscore\tkind"
    assert len(lines) == 21
    scores = [float(line.split("\t")[5]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert out.stderr == b""
    top = [line.split("\t")[0] for line in lines[1:]]
    assert {line.split("\t")[6] for line in lines[1:]} == {"word", "term"}
    words = run("discover-words", str(corpus), "--base", str(pku_words), "--top", "20", "-q",
                "--kinds", "word").stdout.decode().splitlines()[1:]
    assert {line.split("\t")[6] for line in words} == {"word"}
    # the segmenters' dictionaries take words only by default: the top 20 of those
    for fmt, want, check in (
            ("jsonl", top, lambda t: [json.loads(x)["word"] for x in t.splitlines()]),
            ("pkuseg", words, lambda t: t.splitlines()),
            ("jieba", words, lambda t: [x.split(" ")[0] for x in t.splitlines()])):
        target = tmp_path / f"out.{fmt}"
        res = run("discover-words", str(corpus), "--base", str(pku_words), "--top", "20",
                  "--format", fmt, "-o", str(target), "-q")
        assert res.returncode == 0 and res.stdout == b""
        assert check(target.read_text(encoding="utf-8")) == [w.split("\t")[0] for w in want]


def test_jieba_output_loads_into_jieba_and_changes_its_segmentation(pku_lines, tmp_path):
    import jieba

    corpus = tmp_path / "pku.txt"
    corpus.write_text("\n".join(pku_lines) + "\n", encoding="utf-8")
    target = tmp_path / "user.dict"
    # words seen 5 times or more: rarer ones may overlap a listed word (助申奥 and 申奥), and
    # jieba rightly takes the longer, which is not what this tests
    res = run("discover-words", str(corpus), "--format", "jieba", "-o", str(target), "-q",
              "--min-count", "5")
    assert res.returncode == 0, res.stderr
    entries = [line.split(" ") for line in target.read_text(encoding="utf-8").splitlines()]
    assert entries and all(len(e) == 2 and e[1].isdigit() for e in entries)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    plain, tok = jieba.Tokenizer(), jieba.Tokenizer()
    tok.load_userdict(str(target))
    gained = 0
    for word, _ in entries:
        sentence = next(line for line in lines if word in line)
        assert word in tok.lcut(sentence)  # every discovered word now comes out whole
        gained += word not in plain.lcut(sentence)
    assert len(entries) >= 10 and gained >= 5


def test_compressed_and_stdin_inputs_agree(corpus, tmp_path):
    raw = corpus.read_bytes()
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "c.txt.bz2").write_bytes(bz2.compress(raw))
    opts = ("--min-count", "3", "-q")
    plain = run("discover-words", str(corpus), *opts).stdout
    assert plain.count(b"\n") > 10
    assert run("discover-words", str(tmp_path / "c.txt.gz"), *opts).stdout == plain
    assert run("discover-words", str(tmp_path / "c.txt.bz2"), *opts).stdout == plain
    assert run("discover-words", "-", *opts, stdin=raw).stdout == plain
    gb = tmp_path / "c.gb18030.txt"
    gb.write_bytes(raw.decode("utf-8").encode("gb18030"))
    assert run("discover-words", str(gb), "--encoding", "gb18030", *opts).stdout == plain


def assert_one_line_error(res, *parts: str) -> None:
    assert res.returncode == 1
    err = res.stderr.decode()
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


def test_bad_input_gets_one_line_and_writes_nothing(corpus, tmp_path):
    target = tmp_path / "words.tsv"
    binary = tmp_path / "model.bin"
    binary.write_bytes(corpus.read_bytes()[:3000] + b"\x00\x01\x02" + os.urandom(100))
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("第一行\n".encode() + "新华社北京电".encode("gbk"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    cases = [
        (binary, ["model.bin", "NUL", "byte offset 3000"]),
        (gbk, ["gbk.txt:2", "not valid utf-8", "byte offset 10"]),
        (empty, ["empty.txt", "empty"]),
        (tmp_path / "missing.txt", ["missing.txt", "no such file"]),
    ]
    for path, parts in cases:
        res = run("discover-words", str(corpus), str(path), "-o", str(target), "-q")
        assert_one_line_error(res, *parts)
        assert not target.exists()
        assert not list(tmp_path.glob(".words.tsv*"))  # no temp file left behind
    punct = tmp_path / "punct.txt"
    punct.write_text("，。！？\n……\n", encoding="utf-8")
    assert_one_line_error(run("discover-words", str(punct), "-q"), "no text to count")
    assert_one_line_error(run("discover-words", str(corpus), "--encoding", "utf-16", "-q"),
                          "not supported")
    assert_one_line_error(run("discover-words", str(corpus), "--base", str(tmp_path / "no.txt")),
                          "no.txt", "no such file")


def test_usage_errors_exit_2(corpus):
    assert run("discover-words").returncode == 2
    assert run("discover-words", str(corpus), "--format", "xml").returncode == 2
    assert run("discover-words", str(corpus), "--min-count", "0").returncode == 2
    assert run("discover-words", str(corpus), "--kinds", "word,phrase").returncode == 2


def test_save_and_merge_counts(pku_lines, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(pku_lines[:900]) + "\n", encoding="utf-8")
    b.write_text("\n".join(pku_lines[900:1800]) + "\n", encoding="utf-8")
    both = tmp_path / "ab.txt"
    both.write_bytes(a.read_bytes() + b.read_bytes())
    # a counts file does not know which lines it saw: a line in both halves is counted once
    # by a run over both, once per half by the merge; hence --keep-duplicates for equality
    res = run("discover-words", str(a), "--save-counts", str(tmp_path / "a.npz"), "-q",
              "--keep-duplicates")
    assert res.returncode == 0, res.stderr
    # the boundary rule samples occurrences from text at hand, which a counts file lacks
    inc = run("discover-words", str(b), "--counts", str(tmp_path / "a.npz"), "-q",
              "--fragment-share", "1", "--keep-duplicates").stdout
    whole = run("discover-words", str(both), "-q", "--fragment-share", "1",
                "--keep-duplicates").stdout
    words = lambda out: [line.split(b"\t")[:2] for line in out.splitlines()]  # noqa: E731
    assert len(words(whole)) > 20
    assert words(inc) == words(whole)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a counts file")
    assert_one_line_error(run("discover-words", "--counts", str(bad), "-q"), "bad.npz")


def test_no_bare_cli_module_is_installed(tmp_path):
    probe = ("import importlib.util as u; "
             "print(u.find_spec('cli'), u.find_spec('zhnlp.cli') is not None)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, cwd=tmp_path,
                         text=True)
    assert out.stdout.split() == ["None", "True"]
