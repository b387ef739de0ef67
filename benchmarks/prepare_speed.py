"""The pretraining-data stage: prepare throughput, loader speed, whole-word masking share.

1. `prepare` throughput (MB of raw text per second, one process) with the jieba and the
   rjieba backend, on the first --mb MB of the `news` corpus (real modern news).
2. Loader + masking speed (sequences/s, whole-word masking) against what one training step
   of ELECTRA-small (batch 32 x 128: a plain loop over transformers' ElectraForMaskedLM and
   ElectraForPreTraining, generator 1/4 size, AdamW) consumes on this machine, measured in
   the same run. Target: the data side at least 10x faster than the step.
3. The share of the masked words (whole-word masking) that span several tokens, with and
   without the words discovered in the same corpus.

    .venv/bin/python benchmarks/prepare_speed.py [--mb 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from pretrain_speed import plain_step

from zhnlp.discovery import NewWordMiner
from zhnlp.pretraining.loader import MaskingCollator, make_loader
from zhnlp.pretraining.shards import PrepareConfig, PretrainingShards, prepare
from zhnlp.vocab import save_tokenizer, tokenizer_from_vocab

HERE = Path(__file__).resolve().parent
VOCAB = HERE.parents[1] / "shared" / "data" / "vocab" / "bert-chinese-vocab.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--out", default=str(HERE / "out"))
    args = ap.parse_args()
    zhnlp = str(Path(sys.executable).parent / "zhnlp")
    news = Path(subprocess.run([zhnlp, "corpus", "get", "news"], check=True, text=True,
                               capture_output=True).stdout.strip())
    raw = news.read_bytes()[:int(args.mb * 1e6)]
    text = raw[:raw.rfind(b"\n") + 1].decode("utf-8")
    lines = text.split("\n")
    mb = len(text.encode("utf-8")) / 1e6
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"corpus_mb": mb}
    with tempfile.TemporaryDirectory() as tmp:
        tokdir = f"{tmp}/tok"
        save_tokenizer(tokenizer_from_vocab(str(VOCAB)), tokdir)
        miner = NewWordMiner().fit(lines)
        lexicon = {w.word: w.count for w in miner.words_}
        for backend in ("jieba", "rjieba"):
            start = time.perf_counter()
            prepare(lines, tokdir, f"{tmp}/{backend}", lexicon=lexicon,
                    config=PrepareConfig(docs="blank", backend=backend))
            seconds = time.perf_counter() - start
            report[f"prepare_{backend}_mb_per_s"] = mb / seconds
            print(f"prepare with {backend}: {seconds:.1f} s, {mb / seconds:.2f} MB/s", flush=True)
        prepare(lines, tokdir, f"{tmp}/plain", config=PrepareConfig(docs="blank",
                                                                    backend="rjieba"))
        shards = PretrainingShards(f"{tmp}/rjieba")
        collator = MaskingCollator(mask_id=103, vocab_size=21128, strategy="wwm")
        loader = make_loader(shards, collator, 32)
        start, seqs = time.perf_counter(), 0
        for batch in loader:
            seqs += batch["input_ids"].shape[0]
            if seqs >= 3200:
                break
        loader_rate = seqs / (time.perf_counter() - start)
        step = plain_step(3)  # the plain transformers loop of benchmarks/pretrain_speed.py
        consumed = 32 / step
        report.update(loader_seq_per_s=loader_rate, electra_small_step_s=step,
                      step_consumes_seq_per_s=consumed, data_over_step=loader_rate / consumed)
        print(f"loader + wwm masking: {loader_rate:.0f} seq/s; ELECTRA-small step {step:.2f} s "
              f"= {consumed:.1f} seq/s; ratio {loader_rate / consumed:.0f}x", flush=True)
        for name in ("rjieba", "plain"):
            data = PretrainingShards(f"{tmp}/{name}")
            loader = make_loader(data, MaskingCollator(mask_id=103, vocab_size=21128), 64)
            multi = words = 0
            for i, batch in enumerate(loader):
                for row_words, row_mask in zip(batch["word_ids"], batch["labels"] != -100):
                    masked = row_words[row_mask]
                    ids, sizes = torch.unique(masked, return_counts=True)
                    words += len(ids)
                    multi += int((sizes > 1).sum())
                if i == 50:
                    break
            key = "with_lexicon" if name == "rjieba" else "without_lexicon"
            report[f"multi_token_share_{key}"] = multi / words
            print(f"masked words spanning several tokens, {key}: {multi / words:.1%}")
    (out / "prepare_speed.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
