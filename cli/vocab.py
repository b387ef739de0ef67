"""``zhnlp build-vocab``."""

from __future__ import annotations

import itertools
import os

import click

from zhnlp.errors import ZhnlpError
from zhnlp.io import check_encoding, iter_text
from zhnlp.outputs import claim
from zhnlp.vocab import (
    BERT_CHINESE_SIZE,
    extend_tokenizer,
    save_tokenizer,
    tokenizer_from_vocab,
    tokenizer_of,
    train_tokenizer,
    unk_share,
)


@click.command("build-vocab")
@click.argument("corpus", nargs=-1, required=True, metavar="CORPUS...")
@click.option("-o", "--out", required=True, help="The tokenizer directory to write (atomically).")
@click.option("--vocab", "vocab_file", default=None, metavar="FILE",
              help="Adopt an existing vocab.txt (e.g. Chinese BERT's) instead of learning one.")
@click.option("--extend", "extend_dir", default=None, metavar="DIR",
              help="Keep the vocabulary of DIR (a checkpoint or tokenizer folder, or a "
              "vocab.txt), ids and all, and add what CORPUS needs and it lacks (characters, "
              "then Latin pieces): what pretrain --init DIR grows its embeddings for.")
@click.option("--most", default=5000, show_default=True, type=click.IntRange(0),
              help="With --extend: the most tokens to add.")
@click.option("--size", default=BERT_CHINESE_SIZE, show_default=True, type=click.IntRange(100),
              help="Vocabulary size to learn (every character seen is kept besides).")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of CORPUS.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no coverage report.")
def build_vocab(corpus: tuple[str, ...], out: str, vocab_file: str | None,
                extend_dir: str | None, most: int, size: int, encoding: str,
                quiet: bool) -> None:
    """Build a Chinese BERT-layout WordPiece tokenizer from CORPUS and save it to --out.

    Han characters are single tokens, Latin letters and digits WordPiece pieces (##),
    lower-cased, NFKC-normalised. Prints the share of the corpus that maps to [UNK].

    \b
    Examples:
      zhnlp build-vocab reviews.txt -o tok/
      zhnlp build-vocab reviews.txt -o tok/ --vocab ../shared/data/vocab/bert-chinese-vocab.txt
      zhnlp build-vocab domain.txt --extend chinese-electra-small/ -o tok/
    """
    if vocab_file and extend_dir:
        raise click.UsageError("--vocab adopts a vocabulary as it is, --extend adds to one: "
                               "give one of them")
    encoding = check_encoding(encoding)
    _refuse_other_folder(out)
    with claim(out, [*corpus, vocab_file, extend_dir], folder=True):
        _build(corpus, out, vocab_file, extend_dir, most, size, encoding, quiet)


# what save_tokenizer writes: a folder holding only these may be replaced by a new tokenizer
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt"}


def _refuse_other_folder(out: str) -> None:
    """--out is replaced whole: refuse a folder that holds anything but a tokenizer."""
    if not os.path.isdir(out):
        return
    other = sorted(set(os.listdir(out)) - TOKENIZER_FILES)
    if other:
        raise ZhnlpError(f"{out}: holds other files than a tokenizer ({', '.join(other[:5])}"
                         f"{', ...' if len(other) > 5 else ''}); choose an empty or new folder")


def _build(corpus: tuple[str, ...], out: str, vocab_file: str | None, extend_dir: str | None,
           most: int, size: int, encoding: str, quiet: bool) -> None:
    def lines() -> itertools.chain[str]:
        return itertools.chain.from_iterable(
            chunk.splitlines() for p in corpus
            for chunk in iter_text(p, encoding, quiet=quiet, whole_lines=True))

    before = ""
    if extend_dir:
        base = tokenizer_of(extend_dir)
        tok, added = extend_tokenizer(base, lines(), most=most)
        if not quiet:
            before = (f"; {len(added):,} added to {extend_dir}'s {base.get_vocab_size():,} "
                      f"({', '.join(added[:8])}{', ...' if len(added) > 8 else ''}), its [UNK] "
                      f"share was {unk_share(base, lines())[0]:.4%}")
    else:
        tok = tokenizer_from_vocab(vocab_file) if vocab_file else train_tokenizer(lines(), size)
    share, total = unk_share(tok, lines())
    save_tokenizer(tok, out)
    if not quiet:
        click.echo(f"{out}: {tok.get_vocab_size():,} tokens; [UNK] is {share:.4%} of the "
                   f"corpus's {total:,} tokens{before}", err=True)
