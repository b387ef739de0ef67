"""End-to-end pretraining throughput: the `zhnlp pretrain` command against a lean plain loop.

Both train the same ELECTRA (``tiny`` and ``small`` sizes, generator 1/4) on the same shards
(the `news` corpus prepared with the Chinese BERT vocabulary, whole-word ids from rjieba),
batch 32 x 128, AdamW with clipping, side by side in one run on this machine.

- zhnlp: the command itself (`zhnlp pretrain`), data loading, masking and sampling included;
  tokens/s from its ``metrics.csv`` (real tokens per second of wall time, the first logging
  window, which holds the start-up, left out).
- lean loop: what one writes with transformers alone, done well: ``ElectraForMaskedLM`` +
  ``ElectraForPreTraining`` with shared embeddings and tied output layer, the generator's
  head and Gumbel-max sampling on the masked positions only, whole-word masking of the batch
  in the loop (zhnlp's `mask_batch`, vectorised over the batch), default ``torch.optim.AdamW``.
- outside share: zhnlp's training loop run in this process with timers around the model's
  forward, the backward and the optimizer (clipping included); the rest of the step's wall
  time (data, masking, sampling's host side, logging, Python) over the whole.

    .venv/bin/python benchmarks/pretrain_e2e.py [--steps 60] [--sizes tiny,small]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from zhnlp.pretraining.masking import mask_batch
from zhnlp.pretraining.model import ModelConfig
from zhnlp.pretraining.shards import PretrainingShards
from zhnlp.vocab import load_tokenizer

HERE = Path(__file__).resolve().parent
VOCAB = HERE.parents[1] / "shared" / "data" / "vocab" / "bert-chinese-vocab.txt"
BATCH = 32


def zhnlp_bin() -> str:
    return str(Path(sys.executable).parent / "zhnlp")


def make_shards(work: Path) -> Path:
    """The whole `news` corpus as shards (prepared once, kept under ``work``)."""
    shards = work / "shards"
    if (shards / "manifest.json").exists():
        return shards
    news = subprocess.run([zhnlp_bin(), "corpus", "get", "news"], check=True, text=True,
                          capture_output=True).stdout.strip()
    subprocess.run([zhnlp_bin(), "build-vocab", news, "--vocab", str(VOCAB), "-o",
                    str(work / "tok"), "-q"], check=True)
    subprocess.run([zhnlp_bin(), "prepare", news, "--tokenizer", str(work / "tok"), "--docs",
                    "blank", "--backend", "rjieba", "--workers", "2", "-o", str(shards), "-q"],
                   check=True)
    return shards


def command_tokens_per_s(shards: Path, size: str, steps: int, window: int, work: Path,
                         extra: list[str]) -> float:
    """Median tokens/s of `zhnlp pretrain`'s logging windows after the first."""
    run = work / f"run-{size}"
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run([zhnlp_bin(), "pretrain", "--data", str(shards), "--config", size,
                    "--batch-size", str(BATCH), "--max-steps", str(steps), "--log-every",
                    str(window), "--save-every", str(10 * steps), "-o", str(run), "-q",
                    *extra], check=True)
    with open(run / "metrics.csv", newline="") as handle:
        rates = [float(r["tokens_per_s"]) for r in csv.DictReader(handle)]
    shutil.rmtree(run, ignore_errors=True)
    return statistics.median(rates[1:])


def lean_tokens_per_s(shards_dir: Path, size: str, steps: int, skip: int) -> float:
    """The lean plain loop's real tokens/s over ``steps`` steps after ``skip`` warm-up ones."""
    from transformers import ElectraForMaskedLM, ElectraForPreTraining

    tok = load_tokenizer(str(shards_dir / "tokenizer"))
    mask_id, vocab = tok.token_to_id("[MASK]"), tok.get_vocab_size()
    cfg = ModelConfig.named(size, vocab)
    torch.manual_seed(0)
    generator = ElectraForMaskedLM(cfg.generator_config())
    discriminator = ElectraForPreTraining(cfg.discriminator_config())
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    params = list({id(p): p for p in [*generator.parameters(), *discriminator.parameters()]
                   }.values())
    opt = torch.optim.AdamW(params, lr=5e-4, eps=1e-6, weight_decay=0.01)
    shards = PretrainingShards(str(shards_dir), verify=False)
    order = np.random.default_rng(0).permutation(len(shards))
    tokens, start = 0, 0.0
    for step in range(skip + steps):
        if step == skip:
            tokens, start = 0, time.perf_counter()
        rows = torch.from_numpy(np.stack([shards[int(i)] for i in
                                          order[step * BATCH:(step + 1) * BATCH]]).astype(np.int64))
        ids, words, types = rows[:, 0], rows[:, 1], rows[:, 2]
        m = mask_batch(ids, words, mask_id=mask_id, vocab_size=vocab,
                       seeds=torch.arange(step * BATCH, (step + 1) * BATCH))
        attention = (ids != 0).long()
        hidden = generator.electra(input_ids=m.input_ids, attention_mask=attention,
                                   token_type_ids=types).last_hidden_state
        logits = generator.generator_lm_head(generator.generator_predictions(hidden[m.mask]))
        mlm = torch.nn.functional.cross_entropy(logits, ids[m.mask])
        u = torch.rand(logits.shape).clamp(1e-9, 1 - 1e-9)
        fake = ids.clone()
        fake[m.mask] = (logits.detach() - torch.log(-torch.log(u))).argmax(-1)
        d = discriminator.electra(input_ids=fake, attention_mask=attention,
                                  token_type_ids=types).last_hidden_state
        scores = discriminator.discriminator_predictions(d)
        real = attention > 0
        rtd = torch.nn.functional.binary_cross_entropy_with_logits(
            scores[real], (fake != ids)[real].float())
        (mlm + 50 * rtd).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(attention.sum())
    return tokens / (time.perf_counter() - start)


class StepClock:
    """Time spent inside wrapped calls, counted from the step after ``skip`` on."""

    def __init__(self, skip: int) -> None:
        self.skip, self.steps, self.inside, self.started = skip, 0, 0.0, None

    def timed(self, fn):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            result = fn(*args, **kwargs)
            if self.started is not None:
                self.inside += time.perf_counter() - began
            return result
        return wrapper

    def counted(self, fn):
        def wrapper(*args, **kwargs):
            self.steps += 1
            if self.steps == self.skip + 1:
                self.started = time.perf_counter()
            return fn(*args, **kwargs)
        return wrapper


def outside_share(shards_dir: Path, size: str, steps: int, skip: int, work: Path) -> float:
    """The share of zhnlp's training step (``train``, as the command runs it, in this
    process) spent outside the model's forward, the backward and the optimizer (clipping
    included): data, masking, logging, Python.  Timers wrap those; on a CPU each call returns
    when its work is done, so the times are exact.  The first ``skip`` steps are left out."""
    from zhnlp.pretraining import loader, loop
    from zhnlp.pretraining.model import ElectraPretrainingModel

    clock = StepClock(skip)
    saved = (ElectraPretrainingModel.forward, torch.Tensor.backward, torch.optim.AdamW.step,
             torch.nn.utils.clip_grad_norm_, loader.Batches.next)
    ElectraPretrainingModel.forward = clock.timed(saved[0])
    torch.Tensor.backward = clock.timed(saved[1])
    torch.optim.AdamW.step = clock.timed(saved[2])
    torch.nn.utils.clip_grad_norm_ = clock.timed(saved[3])
    loader.Batches.next = clock.counted(saved[4])
    run = work / f"share-{size}"
    shutil.rmtree(run, ignore_errors=True)
    try:
        loop.train(loop.TrainConfig(data=str(shards_dir), out=str(run), model=size,
                                    batch_size=BATCH, max_steps=skip + steps,
                                    save_every=10 * (skip + steps), log_every=10))
        total = time.perf_counter() - clock.started
    finally:
        (ElectraPretrainingModel.forward, torch.Tensor.backward, torch.optim.AdamW.step,
         torch.nn.utils.clip_grad_norm_, loader.Batches.next) = saved
        shutil.rmtree(run, ignore_errors=True)
    return 1 - clock.inside / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,small")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps timed per run (default: tiny 200, small 20)")
    ap.add_argument("--extra", default="", help="more `zhnlp pretrain` options, e.g. --compile")
    ap.add_argument("--work", default=str(HERE / "out" / "pretrain_e2e"))
    ap.add_argument("--out", default=str(HERE / "out" / "pretrain_e2e.json"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    shards = make_shards(work)
    results = []
    for size in args.sizes.split(","):
        steps = args.steps or {"tiny": 200, "small": 20}.get(size, 20)
        window = max(1, steps // 5)
        ours = command_tokens_per_s(shards, size, steps + window, window, work,
                                    args.extra.split())
        lean = lean_tokens_per_s(shards, size, steps, skip=max(2, window // 4))
        share = outside_share(shards, size, steps, max(2, window // 4), work)
        row = {"size": size, "steps": steps, "zhnlp_tokens_per_s": round(ours),
               "lean_tokens_per_s": round(lean), "ratio": round(ours / lean, 2),
               "outside_share": round(share, 3),
               "extra": args.extra, "threads": torch.get_num_threads(),
               "cpus": os.cpu_count()}
        print(json.dumps(row), flush=True)
        results.append(row)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
