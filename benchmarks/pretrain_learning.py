"""A learning check: ELECTRA pretraining on ~10 MB of real news for a fixed budget.

Prepares the first --mb MB of the `news` corpus (Chinese BERT vocabulary, the words
discovered in the same text as lexicon, whole-word masking), trains --config for
--steps steps, and plots the curves (generator MLM accuracy, discriminator accuracy,
precision and recall on replaced tokens) to benchmarks/out/pretrain_learning.png.

    .venv/bin/python benchmarks/pretrain_learning.py [--mb 10] [--config small] [--steps 300]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from zhnlp.discovery import NewWordMiner
from zhnlp.pretraining.loop import TrainConfig, train
from zhnlp.pretraining.shards import PrepareConfig, prepare
from zhnlp.vocab import save_tokenizer, tokenizer_from_vocab

HERE = Path(__file__).resolve().parent
VOCAB = HERE.parents[1] / "shared" / "data" / "vocab" / "bert-chinese-vocab.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--config", default="small")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--work", default=str(HERE / "out" / "learning"))
    args = ap.parse_args()
    zhnlp = str(Path(sys.executable).parent / "zhnlp")
    news = Path(subprocess.run([zhnlp, "corpus", "get", "news"], check=True, text=True,
                               capture_output=True).stdout.strip())
    raw = news.read_bytes()[:int(args.mb * 1e6)]
    lines = raw[:raw.rfind(b"\n") + 1].decode("utf-8").split("\n")
    work = Path(args.work)
    shards = work / "shards"
    if not (shards / "manifest.json").exists():
        save_tokenizer(tokenizer_from_vocab(str(VOCAB)), str(work / "tok"))
        lexicon = {w.word: w.count for w in NewWordMiner().fit(lines).words_}
        prepare(lines, str(work / "tok"), str(shards), lexicon=lexicon,
                config=PrepareConfig(docs="blank", backend="rjieba"), workers=2)
    run = work / f"run-{args.config}"
    shutil.rmtree(run, ignore_errors=True)
    train(TrainConfig(data=str(shards), out=str(run), model=args.config,
                             batch_size=args.batch_size, max_steps=args.steps, log_every=10,
                             save_every=args.steps), quiet=False)
    subprocess.run([zhnlp, "plot-run", str(run), "-o", str(HERE / "out" /
                                                              "pretrain_learning.png")],
                   check=True)
    with open(run / "metrics.csv", newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    summary = {"config": args.config, "steps": args.steps, "batch_size": args.batch_size,
               "corpus_mb": args.mb, **{k: float(v) for k, v in last.items() if v}}
    print(json.dumps(summary, indent=1))
    (HERE / "out" / "pretrain_learning.json").write_text(json.dumps(summary, indent=1))



if __name__ == "__main__":
    main()
