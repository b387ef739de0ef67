"""``zhnlp pretrain`` and ``zhnlp plot-run``."""

from __future__ import annotations

import csv
import math
import os
import tempfile
from pathlib import Path

import click

from zhnlp.io import atomic_write
from zhnlp.outputs import claim
from zhnlp.pretraining.sizes import EMBEDDING_SHARING, OBJECTIVES, SHARING


@click.command("pretrain")
@click.option("--data", default=None, metavar="SHARDDIR",
              help="Shards from zhnlp prepare. Without it: a few-minute demo of the tiny "
              "config on the `reviews` corpus, prepared on the way.")
@click.option("--config", "model", default="small", show_default=True,
              help="tiny, mini (4 of small's layers), small (ELECTRA-Small), base, or a JSON file "
              "of model settings.")
@click.option("--out", "-o", required=True, metavar="RUNDIR", help="Run directory.")
@click.option("--max-steps", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1),
              help="Sequences per optimizer step, all ranks together.")
@click.option("--micro-batch", default=None, type=click.IntRange(1),
              help="Sequences per forward pass per rank (accumulation makes up the rest).")
@click.option("--lr", default=None, type=click.FloatRange(0, min_open=True),
              help="Peak learning rate (small: 5e-4).")
@click.option("--warmup-steps", default=None, type=click.IntRange(0))
@click.option("--objective", type=click.Choice(OBJECTIVES), default="electra", show_default=True)
@click.option("--rtd-weight", default=50.0, show_default=True, type=click.FloatRange(0))
@click.option("--generator-fraction", default=0.25, show_default=True,
              type=click.FloatRange(0, 1, min_open=True))
@click.option("--sampling", type=click.Choice(["multinomial", "gumbel"]), default="multinomial",
              show_default=True, help="How the generator's samples are drawn: inverse CDF, "
              "one uniform per masked position, or ELECTRA's Gumbel-max (the same "
              "distribution; slow on CPU).")
@click.option("--layer-sharing", type=click.Choice(SHARING), default="none", show_default=True,
              help="ALBERT's cross-layer parameter sharing.")
@click.option("--embedding-sharing", type=click.Choice(EMBEDDING_SHARING), default="shared",
              show_default=True,
              help="shared: one embedding module for generator and discriminator (ELECTRA); "
              "gdes: DeBERTa-v3's gradient-disentangled sharing, the discriminator's loss "
              "kept out of the shared vectors (a residual table of its own).")
@click.option("--sop-weight", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Weight of ALBERT's sentence-order prediction loss (0: off).")
@click.option("--dropout", default=0.1, show_default=True, type=click.FloatRange(0, 1))
@click.option("--masking", type=click.Choice(["wwm", "char", "span"]), default="wwm",
              show_default=True)
@click.option("--save-every", default=500, show_default=True, type=click.IntRange(1))
@click.option("--log-every", default=10, show_default=True, type=click.IntRange(1))
@click.option("--loader-workers", default=0, show_default=True, type=click.IntRange(0),
              help="Processes that mask and collate batches ahead of the step (0: the "
              "training process); the batches are the same either way.")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the model (start-up takes a minute or more; pays on GPUs, "
              "not on CPUs).")
@click.option("--eval-every", default=None, type=click.IntRange(1),
              help="Held-out generator MLM loss/accuracy and discriminator loss/accuracy/AUC "
              "every N steps and at the end (shards from prepare --valid-share).")
@click.option("--stop-after", default=None, type=click.IntRange(1),
              help="Leave after this step, checkpointed (resume later with --resume).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly.")
@click.option("--init", default=None, metavar="DIR",
              help="Continue pretraining a released ELECTRA: DIR/discriminator + "
              "DIR/generator (a pretrain run, or Hugging Face's pair), or a discriminator "
              "alone (a fresh generator at --generator-fraction); or a BERT-style masked LM "
              "(Chinese-BERT-wwm, RoBERTa-wwm-ext, MacBERT) with --objective mlm, exported "
              "back as one. Its size replaces --config; the shards must use its vocabulary "
              "or an extension of it [lr default: 1e-4].")
@click.option("--init-generator", default=None, metavar="DIR",
              help="With --init DISC: the generator's own checkpoint folder.")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1...")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def pretrain(data: str | None, model: str, out: str, max_steps: int, batch_size: int,
             micro_batch: int | None, lr: float | None, warmup_steps: int | None,
             objective: str, rtd_weight: float, generator_fraction: float, sampling: str,
             layer_sharing: str, embedding_sharing: str,
             sop_weight: float, dropout: float, masking: str, save_every: int, log_every: int,
             loader_workers: int, compile_: bool, eval_every: int | None,
             stop_after: int | None,
             resume: bool, init: str | None, init_generator: str | None, seed: int,
             device: str, quiet: bool) -> None:
    """Pretrain a Chinese ELECTRA (generator + discriminator) on SHARDDIR.

    Several processes: torchrun --nproc_per_node=N -m zhnlp.cli.main pretrain ...
    (gloo on CPU, NCCL on GPU; add --nnodes, --node_rank, --master_addr for several nodes).

    \b
    Examples:
      zhnlp pretrain --data shards/ --config small --out run/ --max-steps 10000
      zhnlp pretrain --out demo/                      # the embedded demo (tiny, CPU)
      zhnlp pretrain --data shards/ --init chinese-electra-small/ --out run2/
      zhnlp pretrain --data shards/ --init chinese-macbert-base/ --objective mlm --out run3/
      zhnlp plot-run run/
    """
    from zhnlp.pretraining.loop import TrainConfig, train  # torch: only when pretraining

    overrides = {"objective": objective, "rtd_weight": rtd_weight,
                 "generator_fraction": generator_fraction, "sampling": sampling,
                 "layer_sharing": layer_sharing, "embedding_sharing": embedding_sharing,
                 "sop_weight": sop_weight, "dropout": dropout}
    if init is not None:
        _check_init(init, init_generator)
    elif init_generator is not None:
        raise click.UsageError("--init-generator goes with --init DISC")
    if data is None:
        if init is not None:
            raise click.UsageError("--init needs --data: shards prepared with its vocabulary")
        data, model = _demo_data(quiet), "tiny"
        max_steps = min(max_steps, 300)
    cfg = TrainConfig(data=data, out=out, model=model, model_overrides=overrides,
                      batch_size=batch_size, micro_batch=micro_batch, max_steps=max_steps,
                      lr=lr, warmup_steps=warmup_steps, mask_strategy=masking,
                      save_every=save_every, log_every=log_every, eval_every=eval_every,
                      loader_workers=loader_workers, compile=compile_,
                      stop_after=stop_after, seed=seed, device=device, init=init,
                      init_generator=init_generator)
    first = int(os.environ.get("RANK", 0)) == 0  # the rank that locks and reports
    # every rank checks the paths; rank 0 alone holds the lock of the run directory
    with claim(out, [data], folder=True, lock=first):
        rows = train(cfg, resume=resume, quiet=quiet)
    if rows and not quiet and first:
        click.echo(_closing_line(rows[-1], out), err=True)


def _closing_line(last: dict, out: str) -> str:
    """The last step's accuracies that the objective has (an MLM run has no discriminator:
    no "nan" for it) and the encoder to fine-tune: the discriminator where one was trained,
    else the generator, the masked LM."""
    shown = [f"{label} accuracy {last[key]:.3f}" for key, label in
             (("mlm_accuracy", "generator"), ("rtd_accuracy", "discriminator"),
              ("main_mlm_accuracy", "main MLM")) if not math.isnan(last.get(key, math.nan))]
    encoder = "discriminator" if os.path.isdir(os.path.join(out, "discriminator")) else "generator"
    return (f"step {int(last['step'])}: loss {last['loss']:.3f}, {', '.join(shown)}; "
            f"{out}/{encoder} is ready")


def _check_init(init: str, generator: str | None) -> None:
    """Options that --init makes meaningless are usage errors, not silently dropped."""
    from zhnlp.pretraining.init import find_released

    given = click.get_current_context().get_parameter_source
    if given("model") == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--config: with --init the model's size is the checkpoint's")
    if given("generator_fraction") == click.core.ParameterSource.COMMANDLINE and \
            find_released(init, generator).generator is not None:
        raise click.UsageError("--generator-fraction: --init has a generator, whose size it "
                               "keeps")


def _demo_data(quiet: bool) -> str:
    """Shards of the `reviews` corpus with its own tokenizer and discovered words (cached)."""
    from zhnlp.corpus import cache_dir, get
    from zhnlp.discovery import NewWordMiner
    from zhnlp.pretraining.shards import PrepareConfig, prepare
    from zhnlp.vocab import save_tokenizer, train_tokenizer

    root = cache_dir().parent / "demo"
    shards = root / "shards"
    if (shards / "manifest.json").exists():
        return str(shards)
    lines = Path(get("reviews", quiet=quiet)).read_text(encoding="utf-8").splitlines()[:20000]
    with tempfile.TemporaryDirectory() as tmp:
        save_tokenizer(train_tokenizer(lines, 8000), f"{tmp}/tok")
        lexicon = {w.word: w.count for w in NewWordMiner().fit(lines).words_}
        prepare(lines, f"{tmp}/tok", str(shards), lexicon=lexicon,
                config=PrepareConfig(max_len=64, backend="rjieba"), quiet=quiet)
    return str(shards)


@click.command("plot-run")
@click.argument("rundir")
@click.option("-o", "--out", default=None, help="PNG to write (default RUNDIR/curves.png).")
@click.option("-q", "--quiet", is_flag=True)
def plot_run(rundir: str, out: str | None, quiet: bool) -> None:
    """Draw the curves of a pretraining run (metrics.csv) to a PNG.

    \b
    Example:
      zhnlp plot-run run/ -o run.png
    """
    path = Path(rundir) / "metrics.csv"
    target = out or str(Path(rundir) / "curves.png")
    rows = _read_metrics(path)
    with claim(target, [str(path)]):
        _plot(rows, target)
    if not quiet:
        click.echo(target, err=True)


def _read_metrics(path: Path) -> list[dict[str, float]]:
    """The rows of a run's metrics.csv as numbers; a damaged row is an error naming its line."""
    from zhnlp.errors import InputError

    if not path.is_file():
        raise InputError(str(path), "no such file: is this a run directory?")
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        for lineno, row in enumerate(reader, 2):
            try:
                rows.append({k: float(v) if v != "" else math.nan for k, v in row.items()})
            except (TypeError, ValueError):
                raise InputError(str(path), "a truncated or malformed row", line=lineno) from None
        if "step" not in (reader.fieldnames or []):
            raise InputError(str(path), "not a metrics file (no step column)", line=1)
    if not rows:
        raise InputError(str(path), "no metrics yet")
    return rows


def _plot(rows: list[dict[str, float]], target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(r["step"]) for r in rows]
    panels = [("loss", ["loss"]), ("generator MLM loss", ["mlm_loss", "valid_mlm_loss"]),
              ("accuracy", ["mlm_accuracy", "rtd_accuracy", "valid_mlm_accuracy",
                            "valid_rtd_accuracy"]),
              ("replaced tokens", ["rtd_precision", "rtd_recall", "replaced_fraction",
                                   "valid_rtd_auc", "valid_rtd_auc_masked"]),
              ("encoder's effective rank (held out)", ["valid_rank_embeddings",
                                                       "valid_rank_last"]),
              ("learning rate", ["lr"]), ("throughput (tokens/s)", ["tokens_per_s"])]
    fig, axes = plt.subplots(2, 4, figsize=(17, 7))
    axes.flat[-1].axis("off")
    for ax, (title, keys) in zip(axes.flat, panels):
        for key in keys:
            # held-out values exist at evaluation steps only: points joined across the gaps
            points = [(s, r[key]) for s, r in zip(steps, rows)
                      if not math.isnan(r.get(key, math.nan))]
            if points:
                ax.plot(*zip(*points), label=key, marker="o" if key.startswith("valid")
                        else None, markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        if len(keys) > 1 and ax.lines:  # held-out panels are empty in a run without them
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(target, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
