"""``zhnlp prepare``."""

from __future__ import annotations

import itertools

import click

from zhnlp.errors import ZhnlpError
from zhnlp.io import check_encoding, iter_text, sha256_file
from zhnlp.outputs import claim, same_path
from zhnlp.pretraining.shards import PrepareConfig, prepare
from zhnlp.segment import BACKENDS, read_lexicon


@click.command("prepare")
@click.argument("corpus", nargs=-1, required=True, metavar="CORPUS...")
@click.option("--tokenizer", required=True, metavar="TOKDIR",
              help="A tokenizer directory (zhnlp build-vocab).")
@click.option("--lexicon", "lexicon_path", default=None, metavar="LEX",
              help="Discovered words to keep whole (any discover-words format).")
@click.option("--out", "-o", required=True, metavar="SHARDDIR", help="Where the shards go.")
@click.option("--max-len", default=128, show_default=True, type=click.IntRange(8, 4096))
@click.option("--docs", type=click.Choice(["line", "blank"]), default="line", show_default=True,
              help="Documents are lines, or paragraphs separated by blank lines.")
@click.option("--pack", type=click.Choice(["document", "full"]), default="document",
              show_default=True,
              help="document: a document's last sequence ends with it (ELECTRA); full: "
              "sequences run on into the next document, filling them when documents are "
              "short (not for sentence-order prediction).")
@click.option("--docs-per-shard", default=2000, show_default=True, type=click.IntRange(1))
@click.option("--backend", type=click.Choice(BACKENDS), default="jieba", show_default=True,
              help="Segmenter for the word ids.")
@click.option("--encoding", default="utf-8", show_default=True)
@click.option("--valid-share", default=0.0, show_default=True,
              type=click.FloatRange(0, 1, max_open=True),
              help="Hold out this share of the documents for validation (pretrain "
              "--eval-every); drawn per document with --seed.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def prepare_cmd(corpus: tuple[str, ...], tokenizer: str, lexicon_path: str | None, out: str,
                max_len: int, docs: str, pack: str, docs_per_shard: int, backend: str,
                encoding: str, valid_share: float, workers: int, seed: int,
                quiet: bool) -> None:
    """Turn CORPUS into pretraining shards with whole-word ids, in SHARDDIR.

    Run it again after an interruption: intact shards are kept, the rest are built.

    \b
    Example:
      zhnlp build-vocab news.txt -o tok/
      zhnlp prepare news.txt --tokenizer tok/ --lexicon new.tsv --docs blank -o shards/
    """
    encoding = check_encoding(encoding)
    if same_path(tokenizer, out):
        raise ZhnlpError(f"{out}: is the --tokenizer folder; choose another output folder")
    config = PrepareConfig(max_len=max_len, docs=docs, docs_per_shard=docs_per_shard,
                           backend=backend, seed=seed, pack=pack, valid_share=valid_share)
    with claim(out, [*corpus, lexicon_path], folder=True):
        lexicon = read_lexicon(lexicon_path) if lexicon_path else None
        lines = (line for chunk in itertools.chain.from_iterable(
            iter_text(p, encoding, quiet=True, whole_lines=True) for p in corpus)
            for line in chunk.split("\n"))
        manifest = prepare(lines, tokenizer, out, lexicon=lexicon,
                           lexicon_hash=sha256_file(lexicon_path) if lexicon_path else None,
                           config=config, workers=workers, quiet=quiet)
    if not quiet:
        words, tokens = int(manifest["words"]), int(manifest["word_tokens"])
        fill = int(manifest["tokens"]) / max(int(manifest["sequences"]) * max_len, 1)
        click.echo(f"{out}: {len(manifest['shards'])} shards, {manifest['sequences']:,} "
                   f"sequences, {manifest['tokens']:,} tokens ({fill:.0%} of the positions), "
                   f"{tokens / max(words, 1):.2f} "
                   f"tokens per word, {manifest['unaligned_tokens']:,} tokens off word "
                   "boundaries", err=True)
        cut = int(manifest["cut_tokens"])
        if cut:
            share = cut / (cut + int(manifest["tokens"]))
            click.echo(f"{cut:,} tokens ({share:.1%}) did not fit a sequence of --max-len "
                       f"{max_len} and were cut (as ELECTRA's builder does; --pack full cuts only "
                       "sentences longer than a sequence)", err=True)
