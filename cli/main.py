"""Entry point of the ``zhnlp`` command: the group, and one-line errors instead of tracebacks."""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from zhnlp import __version__
from zhnlp.errors import ZhnlpError, ZhnlpWarning


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    """Our warnings as one ``warning: ...`` line; others as Python shows them."""
    if issubclass(category, ZhnlpWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is asked for:
    ``discover-words`` need not load the fine-tuning stack (a tenth of its CPU time on
    the reviews corpus)."""

    def __init__(self, *args, commands: dict[str, str], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.lazy = commands  # name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy:
            return None
        module, attribute = self.lazy[name].split(":")
        return getattr(importlib.import_module(module), attribute)


COMMANDS = {
    "discover-words": "zhnlp.cli.discover:discover_words",
    "corpus": "zhnlp.cli.corpus:corpus",
    "segment": "zhnlp.cli.segment:segment",
    "build-vocab": "zhnlp.cli.vocab:build_vocab",
    "prepare": "zhnlp.cli.prepare:prepare_cmd",
    "pretrain": "zhnlp.cli.pretrain:pretrain",
    "plot-run": "zhnlp.cli.pretrain:plot_run",
    "finetune": "zhnlp.cli.clue:finetune_cmd",
    "evaluate": "zhnlp.cli.clue:evaluate_cmd",
    "predict": "zhnlp.cli.clue:predict_cmd",
}


@click.group(cls=LazyGroup, commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zhnlp")
def cli() -> None:
    """zhnlp: Chinese NLP from a raw corpus to new words, pretraining and CLUE fine-tuning.

    \b
    Example:
      zhnlp corpus get reviews -o reviews.txt
      zhnlp discover-words reviews.txt --top 50
    """


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
