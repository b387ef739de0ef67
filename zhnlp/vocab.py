"""Tokenizers for pretraining: Chinese BERT's WordPiece layout, learned or adopted.

The layout is that of the Chinese BERT/RoBERTa/ELECTRA checkpoints: every Han character a
token of its own (BERT's pre-tokenizer splits CJK characters), Latin letters and digits in
WordPiece pieces with ``##`` continuations, lower-cased, and ``[PAD] [UNK] [CLS] [SEP]
[MASK]``.  Text is NFKC-normalised first, as everywhere in zhnlp.  A tokenizer is saved as a
Hugging Face directory (``tokenizer.json``, ``tokenizer_config.json``, ``vocab.txt``) that
``AutoTokenizer.from_pretrained`` loads.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterable

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

from zhnlp.errors import InputError
from zhnlp.io import atomic_dir
from zhnlp.parallel import chunked

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_CHINESE_SIZE = 21128  # the size of the Chinese BERT vocabulary


def _pipeline(tok: Tokenizer) -> Tokenizer:
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                   strip_accents=None, lowercase=True),
    ])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def _with_template(tok: Tokenizer) -> Tokenizer:
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def train_tokenizer(texts: Iterable[str], size: int = BERT_CHINESE_SIZE, *,
                    min_frequency: int = 2) -> Tokenizer:
    """Learn a WordPiece vocabulary of at most ``size`` tokens from ``texts``, deterministically.

    Every character seen is a token (a Han character is a word of its own after BERT's
    pre-tokenizer; other characters also as ``##`` continuations); the rest of the budget goes
    to pieces of the words of several characters (Latin, digits), learned by byte-pair merges
    as WordPiece training does, ties broken by the pieces' text.  (tokenizers' own
    WordPieceTrainer breaks ties by hash order, so two runs give two vocabularies:
    huggingface/tokenizers#1794.)
    """
    words, chars = _counts(texts)
    alphabet = sorted(chars, key=lambda t: (-chars[t], t))
    budget = size - len(SPECIAL_TOKENS) - len(alphabet)
    pieces = learn_pieces({w: c for w, c in words.items() if len(w) > 1}, budget, min_frequency)
    return wordpiece([*SPECIAL_TOKENS, *alphabet, *pieces])


def extend_tokenizer(base: Tokenizer, texts: Iterable[str], *, most: int = 5000,
                     min_frequency: int = 2) -> tuple[Tokenizer, list[str]]:
    """``base`` with what ``texts`` need and it lacks: the characters seen at least
    ``min_frequency`` times (as a word's start or, ``##``, inside one), then the pieces of
    several characters that WordPiece merging learns from the texts' words, at most ``most``
    tokens in all.  Every token of ``base`` keeps its id (a checkpoint's embedding rows stay
    valid); the new ones come after.  Returns the tokenizer and the tokens added."""
    words, chars = _counts(texts)
    known = base.get_vocab()
    new_chars = sorted((t for t, n in chars.items() if n >= min_frequency and t not in known),
                       key=lambda t: (-chars[t], t))[:most]
    # pieces the base lacks, learned as train_tokenizer would (the base's own are skipped)
    learned = learn_pieces({w: c for w, c in words.items() if len(w) > 1},
                           most + len(known), min_frequency)
    new_pieces = [p for p in learned if p not in known][:most - len(new_chars)]
    old = sorted(known, key=known.__getitem__)
    return wordpiece([*old, *new_chars, *new_pieces]), [*new_chars, *new_pieces]


def _counts(texts: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """The words of ``texts`` after the pipeline's normalisation and pre-tokenisation, and
    their characters (a word's first as it is, the others as ``##`` continuations)."""
    tok = _pipeline(Tokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]")))
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(
            tok.normalizer.normalize_str(text)))
    chars: Counter[str] = Counter()
    for word, count in words.items():
        chars[word[0]] += count
        for c in word[1:]:
            chars["##" + c] += count
    return words, chars


def wordpiece(tokens: list[str]) -> Tokenizer:
    """The BERT-layout tokenizer over ``tokens``, each one's id its place in the list."""
    vocab = {t: i for i, t in enumerate(tokens)}
    return _with_template(_pipeline(Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))))


def learn_pieces(words: dict[str, int], budget: int, min_frequency: int = 2) -> list[str]:
    """Up to ``budget`` WordPiece pieces (``##`` marks a continuation) merged from ``words``.

    Byte-pair merging over the words' characters: the most frequent adjacent pair (weighted
    by word counts) becomes a piece, until the budget is spent or no pair is seen
    ``min_frequency`` times.  Ties go to the pair whose text sorts first.
    """
    seqs = [[w[0], *("##" + c for c in w[1:])] for w in words]
    counts = list(words.values())
    pair_count: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for i, seq in enumerate(seqs):
        for pair in zip(seq, seq[1:]):
            pair_count[pair] += counts[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-c, a, b) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)
    pieces: list[str] = []
    while heap and len(pieces) < budget:
        neg, a, b = heapq.heappop(heap)
        if pair_count.get((a, b), 0) != -neg:
            continue  # a stale entry: the pair's count changed since it was pushed
        if -neg < min_frequency:
            break
        merged = a + b[2:]
        pieces.append(merged)
        for i in sorted(where.pop((a, b), ())):
            seq, c = seqs[i], counts[i]
            for pair in zip(seq, seq[1:]):
                pair_count[pair] -= c
            out, j = [], 0
            while j < len(seq):
                if j + 1 < len(seq) and seq[j] == a and seq[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(seq[j])
                    j += 1
            seqs[i] = out
            for pair in zip(out, out[1:]):
                pair_count[pair] += c
                where.setdefault(pair, set()).add(i)
                heapq.heappush(heap, (-pair_count[pair], *pair))
        pair_count.pop((a, b), None)
    return pieces


def tokenizer_from_vocab(path: str) -> Tokenizer:
    """A tokenizer over an existing ``vocab.txt`` (one token per line, its id the line)."""
    try:
        with open(path, encoding="utf-8") as handle:
            # split on newlines alone: the Chinese BERT vocabulary holds U+2028 as a token
            tokens = handle.read().rstrip("\n").split("\n")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, "vocabulary is not UTF-8 text", offset=exc.start) from None
    vocab: dict[str, int] = {}
    for lineno, token in enumerate(tokens, 1):
        token = token.rstrip("\r")
        if not token or " " in token or "\t" in token:
            raise InputError(path, "a vocabulary line holds one token, no spaces",
                             line=lineno)
        if token in vocab:
            raise InputError(path, f"token {token!r} repeats line {vocab[token] + 1}",
                             line=lineno)
        vocab[token] = lineno - 1
    check_layout(vocab, path)
    return wordpiece(list(vocab))


def unk_share(tok: Tokenizer, texts: Iterable[str], batch: int = 1000) -> tuple[float, int]:
    """Share of the tokens of ``texts`` that are ``[UNK]``, and how many tokens there were."""
    unk = tok.token_to_id("[UNK]")
    total = unknown = 0
    for lines in chunked(texts, batch):
        for enc in tok.encode_batch(lines, add_special_tokens=False):
            total += len(enc.ids)
            unknown += enc.ids.count(unk)
    return (unknown / total if total else 0.0), total


def load_tokenizer(tokdir: str | os.PathLike[str]) -> Tokenizer:
    """The tokenizer of a tokenizer directory, or a one-line error naming its file."""
    path = os.path.join(tokdir, "tokenizer.json")
    if not os.path.isfile(path):
        raise InputError(str(tokdir), "not a tokenizer directory (no tokenizer.json); make "
                         "one with zhnlp build-vocab")
    try:
        tok = Tokenizer.from_file(path)
    except Exception as exc:  # the Rust side raises bare Exceptions for any malformed file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(path, f"not a readable tokenizer ({reason})") from None
    check_layout(tok.get_vocab(), path)
    return tok


def check_layout(vocab: dict[str, int], path: str) -> None:
    """Refuse a vocabulary unfit for zhnlp's shards and batches, which pad with id 0: BERT's
    special tokens must all be there, ``[PAD]`` first."""
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise InputError(path, f"vocabulary lacks {', '.join(missing)}")
    if vocab["[PAD]"] != 0:
        raise InputError(path, f"[PAD] has id {vocab['[PAD]']}, not 0 (the BERT layout zhnlp "
                         "pads with); put it first")


def tokenizer_of(path: str) -> Tokenizer:
    """The tokenizer of a tokenizer or checkpoint folder (its ``tokenizer.json``, else its
    ``vocab.txt``, as Hugging Face's Chinese checkpoints ship it), or of a ``vocab.txt``."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "tokenizer.json")) \
            and os.path.isfile(os.path.join(path, "vocab.txt")):
        return tokenizer_from_vocab(os.path.join(path, "vocab.txt"))
    return load_tokenizer(path) if os.path.isdir(path) else tokenizer_from_vocab(path)


def save_tokenizer(tok: Tokenizer, out: str) -> None:
    """Write ``tok`` as a Hugging Face tokenizer directory (atomically)."""
    # The generic fast class keeps tokenizer.json as it is; BertTokenizer (transformers 5)
    # would rebuild the pipeline from vocab.txt and lose the NFKC step.
    from transformers import PreTrainedTokenizerFast

    with atomic_dir(out) as tmp:
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                       cls_token="[CLS]", sep_token="[SEP]",
                                       mask_token="[MASK]", model_max_length=512,
                                       model_input_names=["input_ids", "token_type_ids",
                                                          "attention_mask"])
        fast.save_pretrained(tmp)
        vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
        with open(os.path.join(tmp, "vocab.txt"), "w", encoding="utf-8") as handle:
            handle.writelines(token + "\n" for token, _ in vocab)
