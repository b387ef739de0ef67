"""The pretraining loop: one readable loop, nanoGPT style, over the shards of `zhnlp prepare`.

One process, or several under ``torchrun`` (DDP: gloo on CPU, NCCL on GPU; one node or
many).  An optimizer step sees ``batch_size`` sequences in all: ``micro_batch`` per rank per
forward pass, accumulated; every loss is divided by the token counts of the whole step (all
micro-batches, all ranks), so accumulation and the number of processes do not change the
result, and DDP's gradient sync is skipped on the accumulation passes.

Checkpoints (``RUNDIR/checkpoint.pt``, written atomically every ``save_every`` steps and at
the end) hold the model, the optimizer, the step, the data position and every random state
(each rank's in ``rng-RANK-stepN.pt``), so ``resume`` continues exactly: its losses match an
uninterrupted run step for step.  ``RUNDIR/discriminator`` and ``RUNDIR/generator`` are
Hugging Face checkpoints with the tokenizer; the curves go to ``metrics.csv`` and to
TensorBoard (``RUNDIR/tensorboard``).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from zhnlp.devices import autocast, pick_device
from zhnlp.errors import ZhnlpError
from zhnlp.io import atomic_dir, atomic_write
from zhnlp.optim import adamw, lr_scale, param_groups, set_lr
from zhnlp.pretraining.init import (
    as_bert,
    check_vocabulary,
    find_released,
    load_released,
    model_config,
)
from zhnlp.pretraining.loader import Batches, MaskingCollator
from zhnlp.pretraining.model import ElectraPretrainingModel, ModelConfig
from zhnlp.pretraining.shards import PretrainingShards
from zhnlp.progress import progress_bar
from zhnlp.representation import effective_rank
from zhnlp.vocab import load_tokenizer

METRICS = ("step", "lr", "loss", "mlm_loss", "mlm_accuracy", "rtd_loss", "rtd_accuracy",
           "rtd_precision", "rtd_recall", "replaced_fraction", "main_mlm_loss",
           "main_mlm_accuracy", "sop_loss", "tokens_per_s", "valid_mlm_loss",
           "valid_mlm_accuracy", "valid_rtd_loss", "valid_rtd_accuracy", "valid_rtd_auc",
           "valid_rtd_auc_masked", "valid_rank_embeddings", "valid_rank_last")
AUC_BINS = 4096  # the discriminator's held-out probabilities, histogrammed for its AUC
# held-out tokens whose vectors measure the encoder's spread (rank 0's first batches): enough
# for a stable effective rank of a base-width network, a fraction of an evaluation's time
RANK_TOKENS = 8192
DEFAULT_LR = {"tiny": 1e-3, "small": 5e-4, "base": 2e-4}
CONTINUED_LR = 1e-4  # --init's default peak


@dataclass
class TrainConfig:
    """The training settings (the model's are in :class:`ModelConfig`)."""

    data: str
    out: str
    model: str = "small"
    model_overrides: dict[str, object] = field(default_factory=dict)
    batch_size: int = 32
    micro_batch: int | None = None
    max_steps: int = 1000
    lr: float | None = None
    weight_decay: float = 0.01
    adam_eps: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.999)
    clip: float = 1.0
    warmup_steps: int | None = None
    mask_strategy: str = "wwm"
    mask_policy: str = "electra"
    mask_rate: float = 0.15
    save_every: int = 500
    log_every: int = 10
    stop_after: int | None = None  # leave after this step (checkpointed), as for a time slot
    two_stage_switch: int | None = None  # two-stage: the step phase two starts (max_steps / 2)
    seed: int = 0
    device: str = "auto"
    eval_every: int | None = None  # held-out losses every N steps (prepare --valid-share)
    loader_workers: int = 0  # processes that mask and collate (0: the training process)
    compile: bool = False  # torch.compile the model
    # continued pretraining: the released checkpoint(s) the model starts from (see init.py)
    init: str | None = None
    init_generator: str | None = None

    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        # continuing a trained model wants a gentler peak than training one from scratch
        return CONTINUED_LR if self.init else DEFAULT_LR.get(self.model, 5e-4)

    def switch(self) -> int:
        return self.two_stage_switch if self.two_stage_switch is not None else \
            self.max_steps // 2

    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else \
            min(10000, max(1, self.max_steps // 10))


def _distributed() -> tuple[int, int, int]:
    if "RANK" not in os.environ:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))


def _all_sum(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def train(cfg: TrainConfig, *, resume: bool = False, quiet: bool = True) -> list[dict[str, float]]:
    """Pretrain; returns the logged metrics (rank 0's view, also in ``metrics.csv``)."""
    rank, world, local_rank = _distributed()
    device = pick_device(cfg.device, local_rank)
    # shapes only: a sha256 of every shard at each start (and on every rank) would read the
    # whole data set again; `zhnlp prepare` run again verifies and rebuilds damaged shards
    shards = PretrainingShards(cfg.data, verify=False)
    tokdir = os.path.join(cfg.data, "tokenizer")
    tokenizer = load_tokenizer(tokdir)
    released = find_released(cfg.init, cfg.init_generator) if cfg.init else None
    if released is not None:
        rows = check_vocabulary(released, tokenizer.get_vocab(), cfg.data)
        mcfg = model_config(released, max(rows, tokenizer.get_vocab_size()),
                            **cfg.model_overrides)
    else:
        mcfg = ModelConfig.named(cfg.model, tokenizer.get_vocab_size(), **cfg.model_overrides)
    mcfg.check()
    if shards.max_len > mcfg.max_position_embeddings:
        raise ZhnlpError(f"sequences of {shards.max_len} tokens do not fit "
                         f"{mcfg.max_position_embeddings} positions")
    micro = cfg.micro_batch or cfg.batch_size // world
    if cfg.batch_size % (micro * world):
        raise ZhnlpError(f"batch size {cfg.batch_size} is not a multiple of micro-batch "
                         f"{micro} x {world} rank(s)")
    accum = cfg.batch_size // (micro * world)
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    if resume and not ckpt_path.exists():
        raise ZhnlpError(f"{out}: nothing to resume (no checkpoint.pt)")
    if not resume and ckpt_path.exists():
        raise ZhnlpError(f"{out}: holds a run already; add --resume or use another --out")

    torch.manual_seed(cfg.seed)
    model = ElectraPretrainingModel(mcfg)
    if released is not None and not resume:
        load_released(model, released)
    model = model.to(device)
    raw = model
    if cfg.compile:
        # in place: the parameter names (state dicts, checkpoints, exports) stay as they are
        raw.compile()
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None,
            # two-stage leaves the discriminator idle, then freezes the generator
            find_unused_parameters=mcfg.spec.two_stage)
    opt = adamw(param_groups(raw, cfg.learning_rate(), cfg.weight_decay), device,
                betas=cfg.betas, eps=cfg.adam_eps)
    peaks = [g["lr"] for g in opt.param_groups]
    collator = MaskingCollator(mask_id=tokenizer.token_to_id("[MASK]"),
                               vocab_size=tokenizer.get_vocab_size(),
                               strategy=cfg.mask_strategy, policy=cfg.mask_policy,
                               rate=cfg.mask_rate, sop=mcfg.sop_weight > 0, seed=cfg.seed)
    batches = Batches(shards, collator, micro, rank=rank, world=world, seed=cfg.seed,
                      workers=cfg.loader_workers, pin=device.type == "cuda")
    valid = PretrainingShards(cfg.data, verify=False, split="valid") if cfg.eval_every else None
    step = 0
    fingerprint = shards.fingerprint()
    if resume:
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        _check_resumable(state, mcfg, cfg, fingerprint, out)
        raw.load_state_dict(state["model"])
        raw.tie()
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        if mcfg.spec.two_stage and step >= cfg.switch():
            raw.start_phase_two(copy=False)
        rng_path = out / f"rng-{rank}-step{step}.pt"
        if not rng_path.exists():
            raise ZhnlpError(f"{out}: {rng_path.name} is missing (a run with another number "
                             "of processes?)")
        if rank == 0:
            _trim_csv(out / "metrics.csv", step)
        mine = torch.load(rng_path, weights_only=False)
        batches.restore(mine["batches"])
        torch.set_rng_state(mine["torch"])
        if device.type == "cuda" and "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"], device)
        elif device.type == "cuda":  # a run moved from a CPU: a fresh stream, still seeded
            torch.cuda.manual_seed(cfg.seed + step)
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.csv").unlink(missing_ok=True)
    logged: list[dict[str, float]] = []
    board = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops the events a killed run logged past its last checkpoint
        board = SummaryWriter(str(out / "tensorboard"), purge_step=step + 1 if resume else None)
    window: dict[str, float | torch.Tensor] = {}
    started = time.perf_counter()
    bar = progress_bar(cfg.max_steps, desc="pretraining", unit="step",
                       quiet=quiet or rank != 0)
    bar.update(step)
    model.train()
    while step < cfg.max_steps:
        if mcfg.spec.two_stage and step == cfg.switch() and raw.phase == 1:
            raw.start_phase_two()
        scale = lr_scale(step, cfg.warmup(), cfg.max_steps)
        set_lr(opt, peaks, scale)
        lr = cfg.learning_rate() * scale
        micro_batches = [batches.next() for _ in range(accum)]
        # counted on the CPU, before the batches go to the device: no device sync for them
        local = [sum(float((b["labels"] != -100).sum()) for b in micro_batches),
                 sum(float(b["attention_mask"].sum()) for b in micro_batches),
                 float(sum(b["input_ids"].shape[0] for b in micro_batches))]
        # pinned on a GPU machine (see Batches), so the copies need not hold up the host
        micro_batches = [{k: v.to(device, non_blocking=True) for k, v in b.items()}
                         for b in micro_batches]
        masked, real, seqs = _all_sum(local, device)
        counts = {"masked": masked, "real": real, "sequences": seqs}
        for i, batch in enumerate(micro_batches):
            sync = contextlib.nullcontext() if world == 1 or i == accum - 1 else model.no_sync()
            with sync:
                with autocast(device):
                    sums = model(batch)
                    # DDP averages gradients over ranks; the counts are global already
                    loss = raw.loss(sums, counts) * world
                loss.backward()
            # kept on the device (float64, as Python floats would add) until the next log line:
            # a float() per sum would make the host wait for the device at every micro-batch
            for key, value in sums.items():
                window[key] = window.get(key, 0.0) + value.detach().double()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        for key, value in counts.items():
            window["n_" + key] = window.get("n_" + key, 0.0) + value
        bar.update(1)
        evaluating = valid is not None and (step % cfg.eval_every == 0  # type: ignore[operator]
                                            or step == cfg.max_steps)
        if step % cfg.log_every == 0 or step == cfg.max_steps or evaluating:
            row = _metrics(window, device, step, lr, raw, time.perf_counter() - started)
            if evaluating:
                assert valid is not None
                row.update(evaluate(raw, valid, collator, micro, rank, world, device))
                model.train()
            window, started = {}, time.perf_counter()
            if board is not None:
                logged.append(row)
                _append_csv(out / "metrics.csv", row)
                for key, value in row.items():
                    if key != "step" and not math.isnan(value):
                        board.add_scalar(key, value, step)
                bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
        stopping = cfg.stop_after is not None and step >= cfg.stop_after
        if step % cfg.save_every == 0 or step == cfg.max_steps or stopping:
            _save(out, raw, opt, step, rank, batches, mcfg, cfg, tokdir, fingerprint)
        if stopping:
            break
    bar.close()
    if board is not None:
        board.close()
    if dist.is_initialized():
        dist.barrier()
    return logged


def _metrics(window: dict[str, float | torch.Tensor], device: torch.device, step: int,
             lr: float, raw: ElectraPretrainingModel, seconds: float) -> dict[str, float]:
    window = {k: float(v) for k, v in window.items()}
    keys = sorted(window)
    # the counts n_* are global already; the sums are this rank's
    values = dict(zip(keys, _all_sum([window[k] for k in keys], device)))
    for k in keys:
        if k.startswith("n_"):
            values[k] = window[k]
    masked, real = max(values["n_masked"], 1), max(values["n_real"], 1)
    row = {k: math.nan for k in METRICS}
    row.update(step=step, lr=lr, mlm_loss=values["mlm"] / masked,
               mlm_accuracy=values["mlm_correct"] / masked, tokens_per_s=real / max(seconds, 1e-9))
    counts = {"masked": masked, "real": real, "sequences": values["n_sequences"]}
    sums = {k: torch.tensor(v) for k, v in values.items()
            if k in ("mlm", "rtd", "sop", "main_mlm")}
    row["loss"] = float(raw.loss(sums, counts))
    if "replaced_masked" in values:
        row["replaced_fraction"] = values["replaced_masked"] / masked
    over = counts[raw.config.spec.main_on]  # the main network's positions
    if "rtd" in values:
        row.update(rtd_loss=values["rtd"] / over, rtd_accuracy=values["rtd_correct"] / over,
                   rtd_precision=values["rtd_tp"] / max(values["rtd_predicted"], 1),
                   rtd_recall=values["rtd_tp"] / max(values["rtd_replaced"], 1))
    if "main_mlm" in values:
        row.update(main_mlm_loss=values["main_mlm"] / over,
                   main_mlm_accuracy=values["main_mlm_correct"] / over)
    if "sop" in values:
        row["sop_loss"] = values["sop"] / max(values["n_sequences"], 1)
    return row


def _trim_csv(path: Path, step: int) -> None:
    """On resume: the rows logged after the checkpoint's step go (and with them a row that a
    kill cut short, which is always one of those: a step logs before it saves)."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if None not in r.values() and r["step"].isdigit() and int(r["step"]) <= step]
    with atomic_write(str(path), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(METRICS))
        writer.writeheader()
        writer.writerows(rows)


def evaluate(raw: ElectraPretrainingModel, valid: PretrainingShards, collator: MaskingCollator,
             micro: int, rank: int, world: int, device: torch.device) -> dict[str, float]:
    """The held-out metrics: the generator's MLM loss and accuracy, the discriminator's loss,
    accuracy and AUC, its AUC on the masked positions alone (where ELECTRA-15 is scored: the
    one to compare across objectives; the unmasked positions, all original, are easy), and
    (rank 0) the effective rank of the exported encoder's vectors of the unmasked text, at
    its embeddings and its last layer: a collapsing encoder shows there first.  The masks are
    those of each sequence's index, the same at every evaluation; the ranks take turns over
    the batches and add up what they saw."""
    raw.eval()
    keys = ("mlm", "mlm_correct", "rtd", "rtd_correct", "masked", "positions")
    sums = dict.fromkeys(keys, 0.0)
    # [all positions, masked ones] x [negatives, positives] x bins
    hist = torch.zeros(2, 2, AUC_BINS, dtype=torch.float64)
    vectors: dict[int, list[np.ndarray]] = {0: [], -1: []}  # embeddings, last layer
    kept = 0
    with torch.no_grad(), autocast(device):
        for start in range(rank * micro, len(valid), micro * world):
            rows = range(start, min(start + micro, len(valid)))
            batch = collator([(i, valid[i]) for i in rows])
            sums["masked"] += float((batch["labels"] != -100).sum())
            if rank == 0 and kept < RANK_TOKENS:
                keep = batch["attention_mask"].bool()
                keep[:, 0] = False  # [CLS], a sentence vector rather than a token's
                states = raw.hidden_states(*(batch[k].to(device) for k in (
                    "original_ids", "attention_mask", "token_type_ids")))
                for layer, parts in vectors.items():
                    parts.append(states[layer][keep.to(device)].float().cpu().numpy())
                kept += int(keep.sum())
            out = raw({k: v.to(device) for k, v in batch.items()}, scores=True)
            for key in ("mlm", "mlm_correct", "rtd", "rtd_correct"):
                if key in out:
                    sums[key] += float(out[key])
            if "rtd_scores" in out:
                sums["positions"] += out["rtd_truth"].numel()
                bins = (torch.sigmoid(out["rtd_scores"]) * AUC_BINS).long().clamp(
                    max=AUC_BINS - 1).cpu()
                truth = out["rtd_truth"].long().cpu()
                ones = torch.ones(len(bins), dtype=torch.float64)
                hist[0].index_put_((truth, bins), ones, accumulate=True)
                on = out["rtd_masked"].cpu()
                hist[1].index_put_((truth[on], bins[on]), ones[on], accumulate=True)
    totals = dict(zip(keys, _all_sum([sums[k] for k in keys], device)))
    hist = torch.tensor(_all_sum(hist.flatten().tolist(), device)).view(2, 2, AUC_BINS)
    masked = max(totals["masked"], 1)
    row = {"valid_mlm_loss": totals["mlm"] / masked,
           "valid_mlm_accuracy": totals["mlm_correct"] / masked}
    if totals["positions"]:
        row.update(valid_rtd_loss=totals["rtd"] / totals["positions"],
                   valid_rtd_accuracy=totals["rtd_correct"] / totals["positions"],
                   valid_rtd_auc=auc_of(*hist[0].numpy()),
                   valid_rtd_auc_masked=auc_of(*hist[1].numpy()))
    if kept:
        row.update(valid_rank_embeddings=effective_rank(np.concatenate(vectors[0])),
                   valid_rank_last=effective_rank(np.concatenate(vectors[-1])))
    return row


def auc_of(negatives: np.ndarray, positives: np.ndarray) -> float:
    """The ROC AUC of scores histogrammed in ascending bins: the chance that a positive scores
    above a negative, a tie (one bin) counting half; NaN without both kinds."""
    n, p = negatives.sum(), positives.sum()
    if not n or not p:
        return math.nan
    below = np.cumsum(negatives) - negatives  # negatives in lower bins
    return float((positives * (below + negatives / 2)).sum() / (n * p))


def _append_csv(path: Path, row: dict[str, float]) -> None:
    """One row more: appended, so a long run's log costs a line a step, not the file."""
    fresh = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(METRICS))
        if fresh:
            writer.writeheader()
        writer.writerow({k: row[k] for k in METRICS})


def _save(out: Path, raw: ElectraPretrainingModel, opt: torch.optim.Optimizer, step: int,
          rank: int, batches: Batches, mcfg: ModelConfig, cfg: TrainConfig,
          tokdir: str, fingerprint: str) -> None:
    """Each rank's data position and random state (dropout), then (rank 0) the checkpoint:
    the commit point.  The random states are kept per step until the checkpoint that names
    them is on disk, so a kill at any moment leaves a consistent pair to resume from."""
    rng = {"step": step, "batches": batches.state(), "torch": torch.get_rng_state()}
    device = next(raw.parameters()).device
    if device.type == "cuda":  # dropout on a GPU draws from the device's own generator
        rng["cuda"] = torch.cuda.get_rng_state(device)
    with atomic_write(str(out / f"rng-{rank}-step{step}.pt"), "wb") as handle:
        torch.save(rng, handle)
    if dist.is_initialized():
        dist.barrier()
    if rank == 0:
        _save_checkpoint(out, raw, opt, step, mcfg, cfg, tokdir, fingerprint)
    if dist.is_initialized():
        dist.barrier()
    for old in out.glob(f"rng-{rank}-step*.pt"):
        if old.name != f"rng-{rank}-step{step}.pt":
            old.unlink(missing_ok=True)


# settings a resumed run may change without changing what it computes (or, for max_steps,
# only the schedule's end); any other difference is refused
FREE_ON_RESUME = {"data", "out", "micro_batch", "max_steps", "save_every", "log_every",
                  "stop_after", "device", "eval_every", "loader_workers", "compile"}


def _check_resumable(state: dict, mcfg: ModelConfig, cfg: TrainConfig, fingerprint: str,
                     out: Path) -> None:
    """Refuse to resume a checkpoint with another model, other settings or other data."""
    differ = [f"{k} {state['model_config'].get(k)!r} -> {v!r}"
              for k, v in asdict(mcfg).items() if state["model_config"].get(k) != v]
    saved = state["train_config"]
    differ += [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in asdict(cfg).items()
               if k not in FREE_ON_RESUME and k in saved and saved[k] != v]
    if differ:
        raise ZhnlpError(f"{out}: was started with other settings ({'; '.join(differ[:4])}); "
                         "resume with the same ones or use another --out")
    if state.get("data_fingerprint", fingerprint) != fingerprint:
        raise ZhnlpError(f"{out}: was trained on other shards than {cfg.data} (another corpus, "
                         "or a shard replaced); resume with the same --data")


def _save_checkpoint(out: Path, raw: ElectraPretrainingModel, opt: torch.optim.Optimizer,
                     step: int, mcfg: ModelConfig, cfg: TrainConfig, tokdir: str,
                     fingerprint: str) -> None:
    state = {"model": raw.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "model_config": asdict(mcfg), "train_config": asdict(cfg),
             "data_fingerprint": fingerprint}
    with atomic_write(str(out / "checkpoint.pt"), "wb") as handle:
        torch.save(state, handle)
    with atomic_write(str(out / "pretraining_config.json"), "w", encoding="utf-8") as handle:
        handle.write(mcfg.to_json())
    export(raw, out, tokdir)


def export(model: ElectraPretrainingModel, out: Path, tokdir: str) -> None:
    """``out/discriminator`` and ``out/generator`` as Hugging Face checkpoints + tokenizer."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    parts = {"generator": as_bert(model.generator) if model.config.architecture == "bert"
             else model.generator}
    if model.discriminator is not None:
        parts["discriminator"] = model.discriminator
    with model.merged_embeddings():  # gdes: the discriminator saved with the table it reads
        for name, part in parts.items():
            with atomic_dir(str(out / name)) as tmp:
                part.save_pretrained(tmp)
                for f in os.listdir(tokdir):
                    shutil.copyfile(os.path.join(tokdir, f), os.path.join(tmp, f))

