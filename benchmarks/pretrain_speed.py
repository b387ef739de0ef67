"""Throughput of one ELECTRA-small training step: zhnlp's model against a plain loop.

Both train ELECTRA-small (embedding 128, hidden 256, 12 layers, 4 heads; generator 1/4)
on the same batch of 32 x 128 real tokens with 15% masked, AdamW, side by side in one run
on this machine. The plain loop is transformers' ElectraForMaskedLM + ElectraForPreTraining
with tied embeddings, the generator's head on every position, as one writes it first. Model
FLOPs utilisation is against the fp32 matmul peak measured here in the same run.

    .venv/bin/python benchmarks/pretrain_speed.py [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from zhnlp.pretraining.model import ElectraPretrainingModel, ModelConfig

HERE = Path(__file__).resolve().parent


def matmul_peak(n: int = 2048, repeat: int = 10) -> float:
    """Measured fp32 GFLOP/s of a square matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n ** 3 * repeat / (time.perf_counter() - start) / 1e9


def batch(vocab: int = 21128) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (32, 128), generator=g)
    masked = torch.rand(32, 128, generator=g) < 0.15
    return {"input_ids": torch.where(masked, 4, ids), "labels": torch.where(masked, ids, -100),
            "original_ids": ids, "attention_mask": torch.ones_like(ids),
            "token_type_ids": torch.zeros_like(ids),
            "sample_seed": torch.arange(32)}


def zhnlp_step(steps: int) -> float:
    torch.manual_seed(0)
    model = ElectraPretrainingModel(ModelConfig.named("small", 21128))
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, eps=1e-6)
    b = batch()
    counts = {"masked": float((b["labels"] != -100).sum()), "real": 4096.0, "sequences": 32.0}
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        model.loss(model(b), counts).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[steps // 2]


def plain_step(steps: int) -> float:
    from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    torch.manual_seed(0)
    disc = ElectraConfig(vocab_size=21128, embedding_size=128, hidden_size=256,
                         num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024)
    gen = ElectraConfig(vocab_size=21128, embedding_size=128, hidden_size=64,
                        num_hidden_layers=12, num_attention_heads=1, intermediate_size=256)
    generator, discriminator = ElectraForMaskedLM(gen), ElectraForPreTraining(disc)
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    params = list({id(p): p for p in [*generator.parameters(), *discriminator.parameters()]
                   }.values())
    opt = torch.optim.AdamW(params, lr=5e-4, eps=1e-6)
    b = batch()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        out = generator(input_ids=b["input_ids"], labels=b["labels"])
        masked = b["labels"] != -100
        u = torch.rand(out.logits.shape).clamp(1e-9, 1 - 1e-9)
        sample = (out.logits.detach() - torch.log(-torch.log(u))).argmax(-1)
        fake = torch.where(masked, sample, b["original_ids"])
        d = discriminator(input_ids=fake, labels=(fake != b["original_ids"]).long())
        (out.loss + 50 * d.loss).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[steps // 2]


def step_flops(masked: int, tokens: int = 4096) -> float:
    """Training FLOPs (forward + backward = 3x forward) of one ELECTRA-small step."""
    def encoder(hidden: int, ffn: int, layers: int = 12, seq: int = 128) -> float:
        per_token = layers * (2 * 4 * hidden * hidden + 2 * 2 * hidden * ffn + 2 * 2 * seq * hidden)
        return per_token * tokens
    gen = encoder(64, 256) + tokens * 2 * 128 * 64  # + embedding projection
    head = masked * (2 * 64 * 128 + 2 * 128 * 21128)
    disc = encoder(256, 1024) + tokens * (2 * 128 * 256 + 2 * 256 * 256 + 2 * 256)
    return 3 * (gen + head + disc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "out"))
    args = ap.parse_args()
    peak = matmul_peak()
    ours, plain = zhnlp_step(args.steps), plain_step(args.steps)
    masked = int((batch()["labels"] != -100).sum())
    flops = step_flops(masked)
    rows = {"fp32_matmul_peak_gflops": peak,
            "zhnlp": {"step_s": ours, "tokens_per_s": 4096 / ours,
                      "mfu": flops / ours / (peak * 1e9)},
            "plain_transformers_loop": {"step_s": plain, "tokens_per_s": 4096 / plain,
                                        "mfu": flops / plain / (peak * 1e9)},
            "speedup": plain / ours}
    print(json.dumps(rows, indent=1))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "pretrain_speed.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
