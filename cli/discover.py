"""``zhnlp discover-words``."""

from __future__ import annotations

import contextlib
import itertools

import click
from zhnlp.cli.output import output

from zhnlp.discovery import FORMATS, NewWordMiner, NgramCounts, Rules, write_words
from zhnlp.discovery.formats import SEGMENTER_KINDS
from zhnlp.discovery.miner import KINDS
from zhnlp.errors import ZhnlpError
from zhnlp.io import check_encoding, iter_text
from zhnlp.outputs import claim, need_folder, same_path


@click.command("discover-words")
@click.argument("corpus", nargs=-1, metavar="CORPUS...")
@click.option("--encoding", default="utf-8", show_default=True,
              help="Encoding of the corpus files (utf-8, gb18030, gbk, big5...).")
@click.option("--min-count", default=None, type=click.IntRange(1),
              help="Candidates seen fewer times are ignored [default: from the corpus size: "
              "3 up to 100k characters, 5 at 2.5M, 9 at 1 GB; printed in the summary].")
@click.option("--base-script", type=click.Choice(["simplified", "traditional", "as-is"]),
              default="simplified", show_default=True,
              help="The script of the base lexicon: candidates are looked up converted to it "
              "(OpenCC), so traditional text mines against jieba's simplified dictionary.")
@click.option("--word-model", is_flag=True,
              help="Keep only candidates that a unigram word model fitted by EM uses as words "
              "in at least half their occurrences (experimental; see README).")
@click.option("--keep-case", is_flag=True,
              help="Count Latin runs that differ in case only (VISTA系统, vista系统) apart; by "
              "default they are one word, shown in the form seen most often.")
@click.option("--keep-duplicates", is_flag=True,
              help="Count lines repeated verbatim each time (by default a repeated line, a "
              "template or footer, is counted once).")
@click.option("--max-len", default=6, show_default=True, type=click.IntRange(2, 16),
              help="Longest candidate, in units (a character, or a run of Latin letters/digits).")
@click.option("--base", default="jieba", show_default=True,
              help="Base lexicon: jieba, none, or a word list (word [count] per line).")
@click.option("--all", "all_words", is_flag=True, help="Include words the base lexicon knows.")
@click.option("--scorer", type=click.Choice(["formula", "classifier"]), default="formula",
              show_default=True, help="Rank by the score formula or by the hybrid classifier.")
@click.option("--min-cohesion", default=2.0, show_default=True, type=float,
              help="Least cohesion (minimum PMI over cut points, natural log).")
@click.option("--min-entropy", default=1.0, show_default=True, type=float,
              help="Least branching entropy on each side (natural log).")
@click.option("--no-rules", is_flag=True, help="Statistics only: no pattern, stop-character, "
              "affix, compound or boundary rules.")
@click.option("--term-share", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="A candidate made of known words is a term (锂离子|电池) if at every cut it "
              "holds at least this share of the rarer side's occurrences, else a free "
              "collocation (目前|北京), dropped.")
@click.option("--keep-compounds", is_flag=True,
              help="Keep every candidate made of known words, free collocations too.")
@click.option("--fragment-share", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Drop a candidate whose edges fall inside base-lexicon tokens in more than "
              "this share of its sampled occurrences (1 turns the check off).")
@click.option("--rules-dir", type=click.Path(file_okay=False), default=None,
              help="A directory of rule files to use instead of the installed lexicon/.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="tsv", show_default=True,
              help="tsv (with header), jsonl, jieba (user dictionary), pkuseg (word list).")
@click.option("--top", type=click.IntRange(1), default=None, help="Only the K best words.")
@click.option("--kinds", default=None, metavar="KIND,...",
              help="Which kinds to write: word (new to the base), term (made of known words, "
              "held together here), known (with --all) [default: all in tsv/jsonl; word,known "
              "in the jieba and pkuseg dictionaries, where terms cost segmentation F1].")
@click.option("-o", "--out", default=None, help="Output file (written atomically); default stdout.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Processes for encoding and counting.")
@click.option("--save-counts", default=None, metavar="FILE",
              help="Also save the complete n-gram counts (.npz) to merge with later corpora.")
@click.option("--counts", "count_files", multiple=True, metavar="FILE",
              help="Counts saved by --save-counts to add to the corpus (repeatable).")
@click.option("--tmp-dir", default=None, help="Where the encoded corpus is kept while counting.")
@click.option("--seed", default=0, show_default=True, help="Seed of the classifier scorer.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def discover_words(corpus: tuple[str, ...], encoding: str, min_count: int | None,
                   word_model: bool, base_script: str, keep_case: bool,
                   keep_duplicates: bool, max_len: int,
                   base: str, all_words: bool, scorer: str, min_cohesion: float,
                   min_entropy: float, fragment_share: float, no_rules: bool, term_share: float,
                   keep_compounds: bool, rules_dir: str | None, fmt: str, top: int | None,
                   kinds: str | None, out: str | None,
                   workers: int, save_counts: str | None, count_files: tuple[str, ...],
                   tmp_dir: str | None, seed: int, quiet: bool) -> None:
    """Find new words in CORPUS files (plain, .gz or .bz2; - for stdin).

    Candidates of 2 to --max-len units seen at least --min-count times are ranked by
    score = ln(count) x min(cohesion, 10) x min(left entropy, right entropy); numerals,
    dates, stop characters at an edge, derived forms, free collocations of known words and
    fragments of longer words are removed by the rules in lexicon/.  Each result is a word
    (new to the base lexicon) or a term (made of known words held together: 锂离子电池).

    \b
    Examples:
      zhnlp discover-words corpus.txt --top 100
      zhnlp discover-words news.txt.gz --format jieba -o userdict.txt
      zhnlp discover-words part1.txt --save-counts part1.npz
      zhnlp discover-words part2.txt --counts part1.npz -o words.tsv
      zhnlp discover-words forum_tw.txt --base tw_words.txt --base-script traditional
    """
    if not corpus and not count_files:
        raise click.UsageError("give at least one CORPUS file or --counts FILE")
    encoding = check_encoding(encoding)
    need_folder(rules_dir, "--rules-dir")
    need_folder(tmp_dir, "--tmp-dir")
    if out and save_counts and same_path(out, save_counts):
        raise ZhnlpError(f"{out}: given as both -o and --save-counts")
    inputs = [*corpus, *count_files, base if base not in ("jieba", "none") else None]
    with contextlib.ExitStack() as held:
        held.enter_context(claim(out, inputs))
        held.enter_context(claim(save_counts, inputs))
        _discover(corpus, encoding, min_count, word_model, base_script, keep_case,
                  keep_duplicates, max_len, base, all_words, scorer, min_cohesion, min_entropy,
                  fragment_share, no_rules, term_share, keep_compounds, rules_dir, fmt, top,
                  _kinds(kinds), out, workers,
                  save_counts, count_files, tmp_dir, seed, quiet)


def _kinds(kinds: str | None) -> tuple[str, ...] | None:
    """--kinds as a tuple; an unknown kind is a usage error."""
    if kinds is None:
        return None
    given = tuple(k.strip() for k in kinds.split(",") if k.strip())
    wrong = [k for k in given if k not in KINDS]
    if wrong or not given:
        raise click.UsageError(f"--kinds: {', '.join(wrong) or 'none given'} (kinds: "
                               f"{', '.join(KINDS)})")
    return given


def _discover(corpus: tuple[str, ...], encoding: str, min_count: int | None,
              word_model: bool, base_script: str, keep_case: bool, keep_duplicates: bool,
              max_len: int,
              base: str,
              all_words: bool, scorer: str, min_cohesion: float, min_entropy: float,
              fragment_share: float, no_rules: bool, term_share: float, keep_compounds: bool,
              rules_dir: str | None, fmt: str, top: int | None, kinds: tuple[str, ...] | None,
              out: str | None, workers: int,
              save_counts: str | None, count_files: tuple[str, ...], tmp_dir: str | None,
              seed: int, quiet: bool) -> None:
    counts = [NgramCounts.load(path) for path in count_files]
    for path, c in zip(count_files, counts):
        if c.max_n < max_len + 1:
            raise ZhnlpError(f"{path}: counts go up to {c.max_n} units, --max-len {max_len} "
                             f"needs {max_len + 1}")
    texts = (itertools.chain.from_iterable(iter_text(p, encoding, quiet=quiet) for p in corpus)
             if corpus else None)
    miner = NewWordMiner(min_count=min_count, word_model=word_model, base_script=base_script,
                         keep_case=keep_case,
                         keep_duplicates=keep_duplicates, max_len=max_len,
                         base=base, all_words=all_words,
                         scorer=scorer, min_cohesion=min_cohesion, min_entropy=min_entropy,
                         fragment_share=fragment_share,
                         term_share=term_share, keep_compounds=keep_compounds,
                         complete_counts=save_counts is not None,
                         use_rules=not no_rules,
                         rules=Rules.load(rules_dir) if rules_dir else None, workers=workers,
                         tmp_dir=tmp_dir, seed=seed, quiet=quiet)
    miner.fit(texts, counts=counts)
    kinds = kinds or (SEGMENTER_KINDS if fmt in ("jieba", "pkuseg") else KINDS)
    words = [w for w in miner.words_ if w.kind in kinds]
    words = words[:top] if top else words
    if save_counts:
        miner.counts_.save(save_counts)
    with output(out) as handle:
        write_words(words, handle, fmt, corpus_units=miner.counts_.total, kinds=kinds)
    if not quiet:
        source = "given" if min_count else "from the corpus size"
        repeated = (f"; {miner.duplicates_:,} of {miner.lines_:,} lines were repeats, counted "
                    "once (--keep-duplicates)" if miner.duplicates_ else "")
        found = {k: sum(w.kind == k for w in miner.words_) for k in KINDS}
        click.echo(f"{found['word']} words and {found['term']} terms"
                   + (f" and {found['known']} known" if found["known"] else "")
                   + f" from {miner.counts_.total:,} units "
                   f"({len(miner.candidates_):,} candidates; min count {miner.min_count_}, "
                   f"{source}{repeated})", err=True)
        steps = ", ".join(f"{name} {n:,}" for name, n in miner.rejected_.items() if n)
        click.echo(f"rejected: {steps}", err=True)
