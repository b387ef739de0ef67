"""``zhnlp finetune``, ``zhnlp evaluate``, ``zhnlp predict`` for the CLUE classification tasks."""

from __future__ import annotations

import click

from zhnlp.clue.classification import TASKS

TASK = click.option("--task", type=click.Choice(sorted(TASKS)), required=True,
                    help="The CLUE / FewCLUE task.")
DATA = click.option("--data", required=True, metavar="DIR",
                    help="The task's files under CLUE's names (train.json, dev.json, test.json; "
                    "FewCLUE's train_few_all.json, dev_few_all.json).")


@click.command("finetune")
@TASK
@DATA
@click.option("--model", required=True, help="A checkpoint directory, or tiny / small for a "
              "randomly initialised ELECTRA with a tokenizer learned from the training text.")
@click.option("--out", "-o", required=True, metavar="DIR",
              help="Run directory: best/ (the best dev checkpoint), results.json, curve.png.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-4, show_default=True, type=float)
@click.option("--layer-decay", default=0.8, show_default=True, type=float,
              help="Layer-wise learning-rate decay (1: none).")
@click.option("--max-len", default=128, show_default=True, type=click.IntRange(8, 512))
@click.option("--patience", default=2, show_default=True, type=click.IntRange(1),
              help="Epochs without a better dev score before stopping.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated, e.g. 1,2,3.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def finetune_cmd(task: str, data: str, model: str, out: str, epochs: int, batch_size: int,
                 lr: float, layer_decay: float, max_len: int, patience: int, seeds: str,
                 quiet: bool) -> None:
    """Fine-tune MODEL on TASK; keep the best dev checkpoint in OUT/best.

    \b
    Example:
      zhnlp finetune --task eprstmt --data ../shared/data/fewclue/eprstmt \\
          --model run/discriminator --out ft/ --epochs 5 --seeds 1,2,3
    """
    from zhnlp.clue.finetune import FinetuneConfig, finetune

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        raise click.BadParameter(f"{seeds!r} is not a comma-separated list of integers",
                                 param_hint="--seeds") from None
    results = finetune(FinetuneConfig(task=task, data=data, model=model, out=out,
                                      epochs=epochs, batch_size=batch_size, lr=lr,
                                      layer_decay=layer_decay, max_len=max_len,
                                      patience=patience, seeds=seed_list), quiet=quiet)
    if not quiet:
        click.echo(f"{task} dev accuracy: mean {results['mean']:.4f}, median "
                   f"{results['median']:.4f}, max {results['max']:.4f} over {len(seed_list)} "
                   f"seed(s); majority baseline {results['majority_baseline']:.4f}", err=True)


@click.command("evaluate")
@TASK
@DATA
@click.option("--model", required=True, help="A fine-tuned checkpoint (finetune's OUT/best).")
@click.option("-q", "--quiet", is_flag=True, help="Print the number alone.")
def evaluate_cmd(task: str, data: str, model: str, quiet: bool) -> None:
    """Print the dev accuracy of a fine-tuned MODEL.

    \b
    Example:
      zhnlp evaluate --task eprstmt --data ../shared/data/fewclue/eprstmt --model ft/best
    """
    from zhnlp.clue.finetune import evaluate

    acc = evaluate(task, data, model)
    click.echo(f"{acc:.4f}" if quiet else f"{task} dev accuracy {acc:.4f}")


@click.command("predict")
@TASK
@DATA
@click.option("--model", required=True, help="A fine-tuned checkpoint (finetune's OUT/best).")
@click.option("--split", type=click.Choice(["test", "dev", "train"]), default="test",
              show_default=True)
@click.option("--out", "-o", default=".", show_default=True, metavar="DIR",
              help="Where the submission file (its official name) goes.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the file's path.")
def predict_cmd(task: str, data: str, model: str, split: str, out: str, quiet: bool) -> None:
    """Write TASK's CLUE submission file ({"id": ..., "label": "..."} per line).

    \b
    Example:
      zhnlp predict --task eprstmt --data ../shared/data/fewclue/eprstmt --model ft/best -o sub/
    """
    from zhnlp.clue.finetune import predict

    path = predict(task, data, model, out, split)
    if not quiet:
        click.echo(path)
