"""``zhnlp finetune``, ``zhnlp evaluate``, ``zhnlp predict`` for the CLUE tasks."""

from __future__ import annotations

import json
import os
import zipfile

import click

from zhnlp.clue import TASK_NAMES
from zhnlp.errors import ZhnlpError
from zhnlp.outputs import claim

DATA = click.option("--data", required=True, metavar="DIR",
                    help="The task's files under CLUE's names (train.json, dev.json, test.json; "
                    "FewCLUE's train_few_all.json, dev_few_all.json; cmrc2018_*.json, "
                    "c3's d-/m- halves).")


def _fmt(scores: dict[str, float]) -> str:
    """The overall scores on one line, then a per-type F1 table (CLUENER) where there is one."""
    head = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if not k.startswith("f1_"))
    rows = [f"  {k[3:]:14s} F1 {v:.4f}" for k, v in scores.items() if k.startswith("f1_")]
    return "\n".join([head, *rows])


@click.command("finetune")
@click.option("--task", type=click.Choice(TASK_NAMES), required=True,
              help="The CLUE / FewCLUE task.")
@DATA
@click.option("--model", required=True, help="A checkpoint directory (a pretrain run stands "
              "for its discriminator, a finetune OUT for its best checkpoint), or tiny / small "
              "for a randomly initialised ELECTRA with a tokenizer learned from the training "
              "text.")
@click.option("--out", "-o", required=True, metavar="DIR",
              help="Run directory: best/ (the best dev checkpoint), results.json, curve.png.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-4, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--layer-decay", default=0.8, show_default=True,
              type=click.FloatRange(0, 1, min_open=True),
              help="Layer-wise learning-rate decay (1: none).")
@click.option("--max-len", default=128, show_default=True, type=click.IntRange(16, 512),
              help="Tokens per model input (CMRC: per window).")
@click.option("--patience", default=2, show_default=True, type=click.IntRange(1),
              help="Epochs without a better dev score before stopping.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated, e.g. 1,2,3.")
@click.option("--doc-stride", default=64, show_default=True, type=click.IntRange(1),
              help="CMRC 2018: tokens shared by neighbouring windows of a long context.")
@click.option("--max-answer-len", default=64, show_default=True, type=click.IntRange(1),
              help="CMRC 2018: longest answer decoded, in tokens.")
@click.option("--crf", is_flag=True, help="CLUENER: a CRF over the character tags.")
@click.option("--device", default="auto", show_default=True,
              help="auto (the GPU when there is one, bf16 where it has it), cpu, cuda, cuda:1.")
@click.option("--force", is_flag=True, help="Replace a finished run in OUT (its best/ too).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def finetune_cmd(task: str, data: str, model: str, out: str, epochs: int, batch_size: int,
                 lr: float, layer_decay: float, max_len: int, patience: int, seeds: str,
                 doc_stride: int, max_answer_len: int, crf: bool, device: str, force: bool,
                 quiet: bool) -> None:
    """Fine-tune MODEL on TASK; keep the best dev checkpoint in OUT/best.

    \b
    Example:
      zhnlp finetune --task eprstmt --data ../shared/data/fewclue/eprstmt \\
          --model run/discriminator --out ft/eprstmt --epochs 5 --seeds 1,2,3
    """
    from zhnlp.clue.finetune import FinetuneConfig, finetune

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        raise click.BadParameter(f"{seeds!r} is not a comma-separated list of integers",
                                 param_hint="--seeds") from None
    options = {"doc_stride": doc_stride, "max_answer_len": max_answer_len, "crf": crf}
    with claim(out, [data, model if os.path.isdir(model) else None], folder=True):
        results = finetune(FinetuneConfig(task=task, data=data, model=model, out=out,
                                          epochs=epochs, batch_size=batch_size, lr=lr,
                                          layer_decay=layer_decay, max_len=max_len,
                                          patience=patience, seeds=seed_list, device=device,
                                          options=options),
                           quiet=quiet, force=force)
    if not quiet:
        metric = results["metric"]
        speed = results["throughput"]
        click.echo(f"{task} dev {metric}: mean {results['mean']:.4f}, median "
                   f"{results['median']:.4f}, max {results['max']:.4f} over {len(seed_list)} "
                   f"seed(s); baseline {results['baseline'][metric]:.4f}; "
                   f"{speed['train_examples_per_s']:.1f} train / "
                   f"{speed['predict_examples_per_s']:.1f} predict examples/s", err=True)


@click.command("evaluate")
@click.option("--task", type=click.Choice(TASK_NAMES), required=True,
              help="The CLUE / FewCLUE task.")
@DATA
@click.option("--model", required=True,
              help="finetune's OUT (its best checkpoint), or a fine-tuned checkpoint folder.")
@click.option("--json", "as_json", is_flag=True, help="All scores as one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="Print the main score alone, no progress bar.")
def evaluate_cmd(task: str, data: str, model: str, as_json: bool, quiet: bool) -> None:
    """Print the dev scores of a fine-tuned MODEL (accuracy; CMRC EM/F1; CLUENER P/R/F1).

    \b
    Example:
      zhnlp evaluate --task eprstmt --data ../shared/data/fewclue/eprstmt --model ft/best
    """
    from zhnlp.clue import get_task
    from zhnlp.clue.finetune import evaluate

    scores = evaluate(task, data, model, quiet=quiet)
    if as_json:
        click.echo(json.dumps(scores))
    elif quiet:
        click.echo(f"{scores[get_task(task).metric]:.4f}")
    else:
        click.echo(f"{task} dev: {_fmt(scores)}")


@click.command("predict")
@click.option("--task", type=click.Choice(TASK_NAMES), help="The CLUE / FewCLUE task.")
@click.option("--all-tasks", is_flag=True,
              help="Every task with data in DATA/<task> and a checkpoint in "
              "MODEL/<task>[/best], zipped into OUT (a .zip) for the leaderboard.")
@DATA
@click.option("--model", required=True, help="finetune's OUT (its best checkpoint), or a "
              "fine-tuned checkpoint folder; with --all-tasks, the folder holding one run per "
              "task.")
@click.option("--split", type=click.Choice(["test", "dev", "train"]), default="test",
              show_default=True)
@click.option("--out", "-o", default=None, metavar="PATH",
              help="Folder for the submission file (its official name) [default: .]; "
              "with --all-tasks, the zip [default: submit.zip].")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
def predict_cmd(task: str | None, all_tasks: bool, data: str, model: str, split: str,
                out: str | None, quiet: bool) -> None:
    """Write TASK's CLUE submission file, or every task's files zipped (--all-tasks).

    \b
    Example:
      zhnlp predict --task eprstmt --data ../shared/data/fewclue/eprstmt --model ft/best -o sub/
      zhnlp predict --all-tasks --data ../shared/data/fewclue --model ft/ -o submit.zip
    """
    if all_tasks == (task is not None):
        raise click.UsageError("give either --task or --all-tasks")
    if all_tasks:
        from zhnlp.clue.submission import predict_all

        out = out or "submit.zip"
        if os.path.isfile(out) and not zipfile.is_zipfile(out):
            raise ZhnlpError(f"{out}: exists and is not a zip file; choose another --out")
        with claim(out, [data, model]):
            done = predict_all(data, model, out, split, quiet=quiet)
        if not quiet:
            for name, file, lines in done:
                click.echo(f"{name:10s} {file:26s} {lines} lines", err=True)
            click.echo(out)
        return
    from zhnlp.clue import get_task
    from zhnlp.clue.finetune import predict

    if out is not None and os.path.isfile(out):
        raise ZhnlpError(f"{out}: is a file; --out is the folder for the submission file")
    with claim(os.path.join(out or ".", get_task(task).submission_name(data)), [data, model]):
        path = predict(task, data, model, out or ".", split, quiet=quiet)
    if not quiet:
        click.echo(path)
