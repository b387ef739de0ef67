"""``zhnlp segment``."""

from __future__ import annotations

import itertools

import click
from zhnlp.cli.output import output

from zhnlp.io import check_encoding, iter_text
from zhnlp.outputs import claim
from zhnlp.segment import BACKENDS, Segmenter, read_lexicon


@click.command("segment")
@click.argument("corpus", nargs=-1, required=True, metavar="FILE...")
@click.option("--lexicon", "lexicon_path", default=None, metavar="LEX",
              help="Words to keep whole: any output of discover-words (tsv, jsonl, jieba, "
              "pkuseg) or a word list.")
@click.option("--backend", type=click.Choice(BACKENDS), default="jieba", show_default=True,
              help="jieba, rjieba (Rust, ~20x faster) or pkuseg (extra: zhnlp[pkuseg]).")
@click.option("--no-hmm", is_flag=True, help="jieba/rjieba: no HMM guesses of unknown words.")
@click.option("--sep", default=" ", show_default=True, help="Separator between words.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of FILE.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Processes cutting chunks of lines.")
@click.option("-o", "--out", default=None, help="Output file (written atomically); default stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def segment(corpus: tuple[str, ...], lexicon_path: str | None, backend: str, no_hmm: bool,
            sep: str, encoding: str, workers: int, out: str | None, quiet: bool) -> None:
    """Cut the text of FILE (plain, .gz, .bz2; - for stdin) into words, one line per line.

    Text is NFKC-normalised; the words of --lexicon come out whole.

    \b
    Example:
      zhnlp discover-words reviews.txt -o new.tsv
      zhnlp segment reviews.txt --lexicon new.tsv -o reviews.seg.txt
    """
    encoding = check_encoding(encoding)
    with claim(out, [*corpus, lexicon_path]):
        _segment(corpus, lexicon_path, backend, no_hmm, sep, encoding, workers, out, quiet)


def _segment(corpus: tuple[str, ...], lexicon_path: str | None, backend: str, no_hmm: bool,
             sep: str, encoding: str, workers: int, out: str | None, quiet: bool) -> None:
    lexicon = read_lexicon(lexicon_path) if lexicon_path else None
    segmenter = Segmenter(backend, lexicon, hmm=not no_hmm)
    lines = (line for chunk in itertools.chain.from_iterable(
        iter_text(p, encoding, quiet=quiet, whole_lines=True) for p in corpus)
        for line in chunk.splitlines())
    # Streamed: -o is a temporary file renamed into place only at the end, so a bad byte late
    # in the input leaves no partial output there (stdout gets the lines cut before it).
    with output(out) as handle:
        handle.writelines(sep.join(words) + "\n"
                          for words in segmenter.cut_lines(lines, workers=workers))
