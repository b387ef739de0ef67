"""Pretraining data: a raw corpus to shards of token sequences that carry whole-word spans.

Documents (one per line, or paragraphs separated by blank lines) are cut into sentences,
each sentence into words by a :class:`zhnlp.segment.Segmenter` (with the discovered lexicon)
and into tokens by the tokenizer; every token gets the id of the word it lies in.  Sentences
are packed into sequences of at most ``max_len`` tokens as ELECTRA's data builder does: two
segments A and B in document order most of the time, a share of single-segment sequences
and of randomly shorter ones.  A and B stay in document order, so sentence-order
prediction can be trained from the same data by swapping them at load time.

A shard is one ``.npy`` file of ``int32`` with shape ``(sequences, 3, max_len)``: token ids
(0-padded), word ids (-1 for special tokens and padding; numbered from 0 in each sequence)
and segment ids.  ``manifest.json`` records the settings, the tokenizer's and the lexicon's
sha256, and each shard's name, size, checksum and counts; ``tokenizer/`` holds a copy of the
tokenizer.  Shard ``k`` holds the sequences
built from input block ``k`` (a fixed number of documents) with a random generator seeded
by ``(seed, k)``, so shards do not depend on the order or the process they are built in:
an interrupted run resumes by building only the missing shards, and gives the same files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.io import atomic_dir, atomic_write, sha256_file
from zhnlp.parallel import bounded_imap, chunked, make_pool
from zhnlp.progress import progress_bar
from zhnlp.segment import Segmenter

FORMAT = "zhnlp-pretraining-shards/1"
MANIFEST = "manifest.json"
# a sentence: up to a run of sentence-final marks and the closing quotes after them
_SENTENCE = re.compile(r".*?[。！？!?；;…]+[”’」』）)\]]*|.+$")


@dataclass(frozen=True)
class PrepareConfig:
    """The settings that decide the shards' content (all recorded in the manifest)."""

    max_len: int = 128
    docs: str = "line"  # "line": one document per line; "blank": blank lines separate them
    docs_per_shard: int = 2000
    single_segment_prob: float = 0.1
    short_seq_prob: float = 0.05
    backend: str = "jieba"
    seed: int = 0
    # "document": a document's last sequence ends with it (ELECTRA's builder); "full":
    # sequences run on into the next document of the shard (RoBERTa's FULL-SENTENCES), which
    # fills them when documents are short (a review a line)
    pack: str = "document"
    # the share of documents held out for validation (their sequences in valid-K.npy beside
    # shard K; drawn per document with a generator seeded by (seed, K))
    valid_share: float = 0.0


def tokenizer_hash(tokdir: str | Path) -> str:
    """The sha256 of a tokenizer directory's ``tokenizer.json``."""
    path = Path(tokdir) / "tokenizer.json"
    if not path.exists():
        raise InputError(str(tokdir), "not a tokenizer directory (no tokenizer.json); "
                         "make one with zhnlp build-vocab")
    return sha256_file(path)


# --------------------------------------------------------------------------- text to sentences

def documents(lines: Iterable[str], mode: str) -> Iterator[list[str]]:
    """Documents as lists of non-empty lines: each line (``line``) or blank-line separated
    paragraphs (``blank``)."""
    if mode == "line":
        for line in lines:
            if line.strip():
                yield [line.strip()]
        return
    doc: list[str] = []
    for line in lines:
        if line.strip():
            doc.append(line.strip())
        elif doc:
            yield doc
            doc = []
    if doc:
        yield doc


def sentences(text: str) -> list[str]:
    """Cut a line at sentence-final punctuation (kept with its sentence, closing quotes too)."""
    return [s for s in _SENTENCE.findall(text) if s.strip()]


# --------------------------------------------------------------------------- words to tokens

class SentenceEncoder:
    """Tokens and word ids of sentences, from a segmenter and a tokenizer."""

    def __init__(self, tokdir: str, segmenter: Segmenter) -> None:
        from zhnlp.vocab import load_tokenizer

        self.tokenizer = load_tokenizer(tokdir)
        self.segmenter = segmenter
        self.unaligned = 0  # tokens whose span crosses a word boundary

    def encode(self, sentence: str) -> tuple[list[int], list[int]]:
        """Token ids and, per token, the index of its word within the sentence."""
        text = unicodedata.normalize("NFKC", sentence)
        words = self.segmenter.cut(text)
        # word boundaries as character offsets into ``text`` (the segmenter drops spaces)
        starts, ends, pos = [], [], 0
        for word in words:
            at = text.find(word, pos)
            if at < 0:  # a backend that rewrote the text: no alignment for this sentence
                starts, ends = [], []
                break
            starts.append(at)
            ends.append(at + len(word))
            pos = at + len(word)
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        word_ids: list[int] = []
        next_id = len(starts)
        w = 0
        for start, end in enc.offsets:
            while w < len(ends) and ends[w] <= start:
                w += 1
            if w < len(starts) and starts[w] <= start and end <= ends[w]:
                word_ids.append(w)
            else:  # the token crosses a word edge: it becomes a word of its own
                self.unaligned += 1
                word_ids.append(next_id)
                next_id += 1
        return list(enc.ids), word_ids


# --------------------------------------------------------------------------- packing

class SequenceBuilder:
    """Packs the sentences of documents into A/B sequences, as ELECTRA's builder does."""

    def __init__(self, config: PrepareConfig, cls_id: int, sep_id: int,
                 rng: random.Random) -> None:
        self.config = config
        self.cls_id, self.sep_id = cls_id, sep_id
        self.rng = rng
        self._sentences: list[tuple[list[int], list[int]]] = []
        self._length = 0
        self._target = config.max_len
        self.cut_tokens = 0  # the overflow cut off sequences (ELECTRA's builder cuts it too)

    def add_document(self, encoded: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        """Feed a document's encoded sentences; returns the sequences completed meanwhile."""
        out = []
        for ids, words in encoded:
            if not ids:
                continue
            # full packing closes a sequence before a sentence that would overflow it (ELECTRA
            # truncates the overflow: some tokens per sequence, many when sequences are many)
            if (self.config.pack == "full" and self._sentences
                    and self._length + len(ids) > self._target - 3):
                out.append(self._make())
            self._sentences.append((ids, words))
            self._length += len(ids)
            if self._length >= self._target:
                out.append(self._make())
        if self.config.pack == "document":
            out += self.finish()
        return out

    def finish(self) -> list[np.ndarray]:
        """The sequence of the sentences still waiting, if any (the end of a shard)."""
        return [self._make()] if self._sentences else []

    def _make(self) -> np.ndarray:
        cfg, rng = self.config, self.rng
        if rng.random() < cfg.single_segment_prob:
            first_target = 1 << 30
        else:
            first_target = (self._target - 3) // 2
        first: list[tuple[list[int], list[int]]] = []
        second: list[tuple[list[int], list[int]]] = []
        first_len = 0
        for ids, words in self._sentences:
            if (not first or first_len + len(ids) < first_target
                    or (not second and first_len < first_target and rng.random() < 0.5)):
                first.append((ids, words))
                first_len += len(ids)
            else:
                second.append((ids, words))
        self._sentences, self._length = [], 0
        self._target = (rng.randint(5, cfg.max_len) if rng.random() < cfg.short_seq_prob
                        else cfg.max_len)
        a_ids, a_words = _join(first)
        b_ids, b_words = _join(second)
        whole = len(a_ids) + len(b_ids)
        a_ids, a_words = a_ids[:cfg.max_len - 2], a_words[:cfg.max_len - 2]
        room = max(0, cfg.max_len - len(a_ids) - 3)
        b_ids, b_words = b_ids[:room], b_words[:room]
        self.cut_tokens += whole - len(a_ids) - len(b_ids)
        return self._row(a_ids, a_words, b_ids, b_words)

    def _row(self, a_ids: list[int], a_words: list[int], b_ids: list[int],
             b_words: list[int]) -> np.ndarray:
        n = self.config.max_len
        row = np.zeros((3, n), dtype=np.int32)
        row[1] = -1
        ids = [self.cls_id, *a_ids, self.sep_id]
        words = [-1, *a_words, -1]
        types = [0] * len(ids)
        if b_ids:
            offset = max(a_words, default=-1) + 1  # B's words follow A's
            ids += [*b_ids, self.sep_id]
            words += [w + offset for w in b_words] + [-1]
            types += [1] * (len(b_ids) + 1)
        row[0, :len(ids)] = ids
        row[1, :len(words)] = words
        row[2, :len(types)] = types
        return row


def _join(parts: list[tuple[list[int], list[int]]]) -> tuple[list[int], list[int]]:
    """Concatenate sentences, renumbering their words so that they stay distinct."""
    ids: list[int] = []
    words: list[int] = []
    offset = 0
    for part_ids, part_words in parts:
        ids += part_ids
        words += [w + offset for w in part_words]
        offset += max(part_words, default=-1) + 1
    return ids, words


# --------------------------------------------------------------------------- one shard

_worker: tuple[SentenceEncoder, PrepareConfig, int, int] | None = None


def _init_worker(tokdir: str, lexicon: dict[str, int] | None, config: PrepareConfig) -> None:
    global _worker
    # load_tokenizer has checked the special tokens: [CLS] and [SEP] are there
    encoder = SentenceEncoder(tokdir, Segmenter(config.backend, lexicon))
    _worker = (encoder, config, encoder.tokenizer.token_to_id("[CLS]"),
               encoder.tokenizer.token_to_id("[SEP]"))


def build_shard(index: int, docs: list[list[str]], out_dir: str) -> dict[str, object]:
    """Build shard ``index`` from its block of documents and write it atomically (and the
    sequences of its held-out documents to ``valid-INDEX.npy``, where there are some)."""
    assert _worker is not None
    encoder, config, _, _ = _worker
    encoder.unaligned = 0
    held: list[list[str]] = []
    if config.valid_share > 0:
        draw = random.Random(f"{config.seed}:{index}:valid")
        chosen = [draw.random() < config.valid_share for _ in docs]
        held = [d for d, c in zip(docs, chosen) if c]
        train = [d for d, c in zip(docs, chosen) if not c]
    else:
        train = docs
    data, cut = _sequences(train, random.Random(f"{config.seed}:{index}"))
    entry = {**_write(data, os.path.join(out_dir, f"shard-{index:05d}.npy")),
             "unaligned_tokens": encoder.unaligned, "cut_tokens": cut,
             "input_sha256": input_hash(docs)}
    if held:
        valid, _ = _sequences(held, random.Random(f"{config.seed}:{index}:v"))
        if len(valid):
            entry["valid"] = _write(valid, os.path.join(out_dir, f"valid-{index:05d}.npy"))
    return entry


def _sequences(docs: list[list[str]], rng: random.Random) -> tuple[np.ndarray, int]:
    """The packed sequences of ``docs`` and how many tokens packing cut."""
    assert _worker is not None
    encoder, config, cls_id, sep_id = _worker
    builder = SequenceBuilder(config, cls_id, sep_id, rng)
    rows: list[np.ndarray] = []
    for doc in docs:
        encoded = [encoder.encode(s) for line in doc for s in sentences(line)]
        rows.extend(builder.add_document(encoded))
    rows.extend(builder.finish())
    data = (np.stack(rows) if rows else np.zeros((0, 3, config.max_len), dtype=np.int32))
    return data, builder.cut_tokens


def _write(data: np.ndarray, path: str) -> dict[str, object]:
    """Save a shard atomically; its manifest entry (name, counts, checksum)."""
    with atomic_write(path, "wb") as handle:
        np.save(handle, data)
    real = data[:, 1] >= 0
    words = sum(len(np.unique(r[m])) for r, m in zip(data[:, 1], real))
    return {"name": os.path.basename(path), "sequences": int(data.shape[0]),
            "tokens": int((data[:, 0] != 0).sum()), "word_tokens": int(real.sum()),
            "words": int(words), "sha256": sha256_file(path)}


def input_hash(docs: list[list[str]]) -> str:
    """The sha256 of a block of documents: what a shard was made from."""
    digest = hashlib.sha256()
    for doc in docs:
        for line in doc:
            digest.update(line.encode("utf-8", "surrogatepass") + b"\n")
        digest.update(b"\f")
    return digest.hexdigest()


# --------------------------------------------------------------------------- the whole corpus

def prepare(lines: Iterable[str], tokdir: str, out_dir: str, *,
            lexicon: dict[str, int] | None = None, lexicon_hash: str | None = None,
            config: PrepareConfig = PrepareConfig(), workers: int = 1,
            quiet: bool = True) -> dict[str, object]:
    """Build (or finish building) the shards of ``lines`` in ``out_dir``; returns the manifest.

    A manifest already in ``out_dir`` must have the same settings, tokenizer and lexicon;
    its shards that are intact are kept, the others (and the missing ones) are built.
    """
    from zhnlp.vocab import load_tokenizer

    load_tokenizer(tokdir)  # a broken tokenizer, or the start of a bad corpus, fails
    lines = iter(lines)     # before anything is written
    first = next(lines, None)
    if first is None:
        raise ZhnlpError("the corpus holds no text")
    lines = itertools.chain([first], lines)
    os.makedirs(out_dir, exist_ok=True)
    settings = {"format": FORMAT, "config": asdict(config),
                "tokenizer_sha256": tokenizer_hash(tokdir), "lexicon_sha256": lexicon_hash}
    manifest_path = os.path.join(out_dir, MANIFEST)
    done: dict[str, dict[str, object]] = {}
    old_inputs: dict[str, str] = {}  # shard name -> the sha256 of the text it was made from
    if os.path.exists(manifest_path):
        old = _read_manifest(manifest_path)
        if {k: old.get(k) for k in settings} != settings:
            raise ZhnlpError(f"{out_dir}: holds shards made with other settings, tokenizer or "
                             "lexicon; use another --out or delete it")
        old_inputs = {s["name"]: s.get("input_sha256") for s in old["shards"]}
        done = {s["name"]: s for s in old["shards"]
                if _intact(out_dir, s) and ("valid" not in s or _intact(out_dir, s["valid"]))}
    _keep_tokenizer(tokdir, out_dir, settings["tokenizer_sha256"])
    shards: list[dict[str, object]] = []
    blocks = enumerate(chunked(documents(lines, config.docs), config.docs_per_shard))

    def todo() -> Iterator[tuple[int, list[list[str]], str]]:
        for index, docs in blocks:
            name = f"shard-{index:05d}.npy"
            if old_inputs.get(name) not in (None, input_hash(docs)):
                raise _other_corpus(out_dir, name)
            if name in done:
                shards.append(done[name])
            else:
                yield index, docs, out_dir

    def save() -> dict[str, object]:
        totals = {k: sum(int(s.get(k, 0)) for s in shards) for k in  # type: ignore[call-overload]
                  ("sequences", "tokens", "word_tokens", "words", "unaligned_tokens",
                   "cut_tokens")}
        totals["valid_sequences"] = sum(int(s["valid"]["sequences"])  # type: ignore[index]
                                        for s in shards if "valid" in s)
        manifest = {**settings, **totals, "shards": sorted(shards, key=lambda s: s["name"])}
        with atomic_write(manifest_path, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1)
        return manifest

    bar = progress_bar(desc="preparing shards", unit="shard", quiet=quiet)
    initargs = (tokdir, lexicon, config)
    with bar:
        if workers > 1:
            pool = make_pool(workers, _init_worker, initargs)
            try:
                for result in bounded_imap(pool, build_shard, todo(), 2 * workers):
                    shards.append(result)  # type: ignore[arg-type]
                    save()  # each finished shard is on record: a kill loses no more than one
                    bar.update(1)
            finally:
                pool.terminate()
        else:
            _init_worker(*initargs)
            for args in todo():
                shards.append(build_shard(*args))
                save()
                bar.update(1)
    if set(old_inputs) - {s["name"] for s in shards}:
        raise _other_corpus(out_dir, max(set(old_inputs) - {s["name"] for s in shards}))
    manifest = save()
    if manifest["sequences"] == 0:
        raise ZhnlpError("the corpus gave no sequences (is it empty?)")
    return manifest


def _other_corpus(out_dir: str, shard: str) -> ZhnlpError:
    return ZhnlpError(f"{out_dir}: holds shards of another corpus ({shard} was made from other "
                      "text); use another --out or delete it")


def _keep_tokenizer(tokdir: str, out_dir: str, sha256: str) -> None:
    """A copy of the tokenizer (whose tokenizer.json has ``sha256``) beside the shards, so that
    they travel with what reads them."""
    target = os.path.join(out_dir, "tokenizer")
    if os.path.exists(os.path.join(target, "tokenizer.json")) and \
            tokenizer_hash(target) == sha256:
        return
    with atomic_dir(target) as tmp:
        for name in os.listdir(tokdir):
            if os.path.isfile(os.path.join(tokdir, name)):
                shutil.copyfile(os.path.join(tokdir, name), os.path.join(tmp, name))


def _read_manifest(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(path, f"unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(path, f"not a zhnlp shard manifest (expected {FORMAT})")
    return manifest


def _intact(out_dir: str, entry: dict[str, object]) -> bool:
    path = os.path.join(out_dir, str(entry["name"]))
    return os.path.exists(path) and sha256_file(path) == entry.get("sha256")


# --------------------------------------------------------------------------- reading shards

class PretrainingShards:
    """The sequences of a shard directory (``split`` "valid": its held-out ones), checked
    against its manifest.

    Indexing gives a ``(3, max_len)`` array (token ids, word ids, segment ids); the shards
    are memory-mapped, so random access across shards is cheap and memory stays small.
    Every shard's shape is checked against the manifest (a half-written one is refused);
    ``verify`` also compares each shard's sha256, a full read of the data.
    """

    def __init__(self, directory: str, *, tokenizer: str | None = None,
                 verify: bool = True, split: str = "train") -> None:
        self.directory = directory
        self.split = split
        path = os.path.join(directory, MANIFEST)
        if not os.path.exists(path):
            raise InputError(directory, "no manifest.json: not a shard directory "
                             "(make one with zhnlp prepare)")
        self.manifest = _read_manifest(path)
        if tokenizer is not None and tokenizer_hash(tokenizer) != self.manifest["tokenizer_sha256"]:
            raise ZhnlpError(f"{directory}: the shards were made with another tokenizer "
                             f"than {tokenizer}")
        self.max_len = int(self.manifest["config"]["max_len"])
        self.arrays = []
        if split == "train":
            self.entries = list(self.manifest["shards"])
        else:  # the held-out sequences of prepare --valid-share
            self.entries = [e["valid"] for e in self.manifest["shards"] if "valid" in e]
            if not self.entries:
                raise InputError(directory, "no held-out sequences: prepare the shards with "
                                 "--valid-share")
        for entry in self.entries:
            shard = os.path.join(directory, entry["name"])
            if not os.path.exists(shard):
                raise InputError(shard, "missing shard listed in the manifest")
            if verify and sha256_file(shard) != entry["sha256"]:
                raise InputError(shard, "corrupt shard (checksum differs from the manifest)")
            try:
                array = np.load(shard, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise InputError(shard, f"unreadable or truncated shard ({exc})") from None
            if array.ndim != 3 or array.shape[1:] != (3, self.max_len) or \
                    array.shape[0] != entry["sequences"]:
                raise InputError(shard, f"shard of shape {array.shape} does not fit the manifest")
            self.arrays.append(array)
        self.offsets = np.cumsum([0] + [a.shape[0] for a in self.arrays])

    def fingerprint(self) -> str:
        """A cheap sha256 that tells these shards from others, even of the same shapes: the
        manifest, and each shard's size and first and last MiB (a full checksum would read
        the whole data set)."""
        digest = hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode())
        for entry in self.manifest["shards"]:
            with open(os.path.join(self.directory, entry["name"]), "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest.update(f"{entry['name']}:{size}".encode())
                digest.update(handle.read(1 << 20))
                handle.seek(max(size - (1 << 20), 0))
                digest.update(handle.read(1 << 20))
        return digest.hexdigest()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(index)
        shard = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return np.asarray(self.arrays[shard][index - self.offsets[shard]])
