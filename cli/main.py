"""Entry point of the ``zhnlp`` command: the group, and one-line errors instead of tracebacks."""

from __future__ import annotations

import sys
import warnings

import click
from zhnlp.cli.clue import evaluate_cmd, finetune_cmd, predict_cmd
from zhnlp.cli.corpus import corpus
from zhnlp.cli.discover import discover_words
from zhnlp.cli.prepare import prepare_cmd
from zhnlp.cli.pretrain import plot_run, pretrain
from zhnlp.cli.segment import segment
from zhnlp.cli.vocab import build_vocab

from zhnlp import __version__
from zhnlp.errors import ZhnlpError, ZhnlpWarning


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    """Our warnings as one ``warning: ...`` line; others as Python shows them."""
    if issubclass(category, ZhnlpWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zhnlp")
def cli() -> None:
    """zhnlp: Chinese NLP from a raw corpus to new words, pretraining and CLUE fine-tuning.

    \b
    Example:
      zhnlp corpus get reviews -o reviews.txt
      zhnlp discover-words reviews.txt --top 50
    """


cli.add_command(discover_words)
cli.add_command(corpus)
cli.add_command(segment)
cli.add_command(build_vocab)
cli.add_command(prepare_cmd)
cli.add_command(pretrain)
cli.add_command(plot_run)
cli.add_command(finetune_cmd)
cli.add_command(evaluate_cmd)
cli.add_command(predict_cmd)


def main() -> None:
    """Run the command; a :class:`ZhnlpError` becomes ``error: ...`` on stderr and exit 1."""
    warnings.showwarning = _show_warning
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(1)
    except click.ClickException as exc:  # usage errors: click's own message, exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except ZhnlpError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:  # `zhnlp ... | head`
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(1)
    except MemoryError:
        click.echo("error: out of memory (try --workers 1 or a larger --min-count)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # torchrun -m zhnlp.cli.main pretrain ...
    main()
