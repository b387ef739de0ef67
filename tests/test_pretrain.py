"""ELECTRA pretraining on real shards: tying, losses, accumulation, resume, export, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATA, need, zhnlp, zhnlp_here

from zhnlp.errors import ZhnlpError
from zhnlp.pretraining.loader import MaskingCollator
from zhnlp.pretraining.loop import TrainConfig, train
from zhnlp.pretraining.model import ElectraPretrainingModel, ModelConfig
from zhnlp.pretraining.shards import PrepareConfig, PretrainingShards, prepare


@pytest.fixture(scope="module")
def shards(tokdir, eprstmt_sentences, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pt")
    prepare(eprstmt_sentences[:1200], tokdir, str(tmp / "shards"),
            config=PrepareConfig(backend="rjieba", max_len=64))
    return str(tmp / "shards")


@pytest.fixture(scope="module")
def batch(shards):
    data = PretrainingShards(shards)
    collator = MaskingCollator(mask_id=103, vocab_size=21128, seed=0)
    return collator([(i, data[i]) for i in range(8)])


def tiny(**kw) -> ElectraPretrainingModel:
    """A tiny model without dropout, so that two passes over the same batch agree."""
    torch.manual_seed(0)
    return ElectraPretrainingModel(ModelConfig.named("tiny", 21128, **kw)).eval()


def counts_of(batch) -> dict[str, float]:
    return {"masked": float((batch["labels"] != -100).sum()),
            "real": float(batch["attention_mask"].sum()),
            "sequences": float(batch["input_ids"].shape[0])}


def shared(model: ElectraPretrainingModel) -> bool:
    emb = model.discriminator.electra.embeddings
    return (model.generator.electra.embeddings is emb
            and model.generator.generator_lm_head.weight is emb.word_embeddings.weight)


def test_embeddings_are_shared_and_tied_through_a_step_and_a_reload(batch, tmp_path):
    model = tiny()
    assert shared(model)
    assert model.generator.config.hidden_size == 16  # a quarter of tiny's 64
    assert model.generator.config.num_hidden_layers == model.discriminator.config.num_hidden_layers
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sums = model(batch)
    model.loss(sums, counts_of(batch)).backward()
    opt.step()
    assert shared(model)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    again = tiny()
    again.load_state_dict(torch.load(tmp_path / "m.pt"))
    assert shared(again)
    assert torch.equal(again.generator.generator_lm_head.weight,
                       model.discriminator.electra.embeddings.word_embeddings.weight)


def test_a_generator_that_copies_gives_only_original_labels(batch):
    model = tiny()
    masked = batch["labels"] != -100
    model.sample = lambda logits, positions, seeds, **_: batch["original_ids"][masked]
    sums = model(batch)
    assert sums["rtd_replaced"] == 0 and sums["replaced_masked"] == 0
    # all labels "original": the loss is the discriminator's log(1 + e^logit) summed
    d = model.discriminator(input_ids=batch["original_ids"],
                            attention_mask=batch["attention_mask"],
                            token_type_ids=batch["token_type_ids"]).logits
    want = torch.nn.functional.softplus(d[batch["attention_mask"] > 0]).sum()
    assert sums["rtd"].item() == pytest.approx(want.item(), rel=1e-5)


def test_gradient_accumulation_equals_one_big_batch(batch):
    counts = counts_of(batch)
    grads = []
    for parts in (1, 2, 4):
        model = tiny()
        size = 8 // parts
        for p in range(parts):
            # rows sliced; the flat masked positions are the collator's for the whole batch
            # only (parts > 1 leaves the model to find them)
            micro = {k: v if parts == 1 else v[p * size:(p + 1) * size]
                     for k, v in batch.items() if parts == 1 or k != "masked_positions"}
            model.loss(model(micro), counts).backward()
        grads.append(torch.cat([q.grad.flatten() for q in model.parameters()
                                if q.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)
    assert torch.allclose(grads[0], grads[2], atol=1e-6, rtol=1e-4)


def test_resume_equals_an_uninterrupted_run_and_export_loads(shards, tmp_path):
    base = {"data": shards, "model": "tiny", "batch_size": 8, "micro_batch": 4,
            "max_steps": 8, "log_every": 1, "save_every": 100}
    whole = train(TrainConfig(out=str(tmp_path / "a"), **base))
    first = train(TrainConfig(out=str(tmp_path / "b"), stop_after=3, **base))
    # what a run killed after its checkpoint leaves: a later step's row, one cut short
    with open(tmp_path / "b" / "metrics.csv", "a") as handle:
        handle.write("4," + ",".join(["0.5"] * 13) + "\n5,0.001,3.2")
    rest = train(TrainConfig(out=str(tmp_path / "b"), **base), resume=True)
    assert [r["loss"] for r in whole] == [r["loss"] for r in first + rest]
    with open(tmp_path / "b" / "metrics.csv", newline="") as handle:
        import csv

        assert [float(r["loss"]) for r in csv.DictReader(handle)] == \
            pytest.approx([r["loss"] for r in whole])
    assert whole[-1]["loss"] < whole[0]["loss"]
    lines = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 9 and lines[0].startswith("step,lr,loss,mlm_loss")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "b" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == list(range(1, 9))
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

    clf = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "a" /
                                                                 "discriminator"), num_labels=2)
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "a" / "discriminator"))
    out = clf(**tok("质量非常好", return_tensors="pt"))
    assert out.logits.shape == (1, 2)
    gen = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "a" / "generator"))
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    assert torch.equal(gen.generator_lm_head.weight,
                       state["discriminator.electra.embeddings.word_embeddings.weight"])


def test_mlm_baseline_and_layer_sharing(batch):
    mlm = tiny(objective="mlm")
    assert mlm.discriminator is None and mlm.generator.config.hidden_size == 64
    sums = mlm(batch)
    assert "rtd" not in sums and torch.isfinite(sums["mlm"])
    shared_layers = tiny(layer_sharing="all")
    layers = shared_layers.discriminator.electra.encoder.layer
    assert layers[0].attention is layers[1].attention and layers[0].output is layers[1].output
    n_shared = sum(p.numel() for p in shared_layers.parameters())
    assert n_shared < sum(p.numel() for p in tiny().parameters())


def test_gdes_keeps_the_discriminator_loss_out_of_the_shared_embeddings(batch):
    gdes, plain = tiny(embedding_sharing="gdes"), tiny()
    gen_table = gdes.embeddings.word_embeddings.weight
    assert gdes.discriminator.electra.embeddings is not gdes.embeddings
    ids = batch["input_ids"]
    # at the start the discriminator reads the generator's vectors (the residual is 0)
    assert torch.equal(gdes.discriminator_inputs(ids)["inputs_embeds"], gen_table[ids])
    gdes(batch)["rtd"].backward()
    assert gen_table.grad is None or not gen_table.grad.any()
    assert gdes.residual_embeddings.weight.grad.abs().sum() > 0
    gdes(batch)["mlm"].backward()
    assert gen_table.grad.abs().sum() > 0
    # the same loss in the shared model does reach the token vectors
    plain(batch)["rtd"].backward()
    assert plain.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    for wrong in ("mlm", "two-stage"):
        with pytest.raises(ZhnlpError, match="gdes"):
            ModelConfig.named("tiny", 21128, objective=wrong, embedding_sharing="gdes").check()


def test_gdes_exports_the_discriminator_it_trained(shards, batch, tmp_path):
    from transformers import ElectraForPreTraining

    from zhnlp.pretraining.init import find_released, load_released, model_config

    out = tmp_path / "gdes"
    overrides = {"dropout": 0.0, "embedding_sharing": "gdes"}
    train(TrainConfig(data=shards, out=str(out), model="tiny", batch_size=8, max_steps=6,
                      lr=2e-3, log_every=1, save_every=100, model_overrides=overrides))
    model = ElectraPretrainingModel(ModelConfig.named("tiny", 21128, **overrides)).eval()
    state = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    model.load_state_dict(state)
    residual = model.residual_embeddings.weight
    assert residual.abs().max() > 0  # trained, and not left merged by the export
    exported = ElectraForPreTraining.from_pretrained(out / "discriminator").eval()
    args = {"attention_mask": batch["attention_mask"], "token_type_ids": batch["token_type_ids"]}
    with torch.no_grad():
        want = model.discriminator(**model.discriminator_inputs(batch["input_ids"]), **args)
        got = exported(input_ids=batch["input_ids"], **args)
    assert torch.allclose(got.logits, want.logits, atol=1e-5)
    # continued under gdes: the generator starts from the table the discriminator read
    released = find_released(str(out))
    again = ElectraPretrainingModel(model_config(released, 21128, **overrides)).eval()
    load_released(again, released)
    assert not again.residual_embeddings.weight.any()
    assert torch.equal(again.embeddings.word_embeddings.weight,
                       exported.electra.embeddings.word_embeddings.weight)
    with torch.no_grad():
        cont = again.discriminator(**again.discriminator_inputs(batch["input_ids"]), **args)
    assert torch.allclose(cont.logits, want.logits, atol=1e-5)


def test_bad_input_is_refused_before_training(shards, tmp_path):
    with pytest.raises(ZhnlpError, match="multiple of num_attention_heads"):
        ModelConfig.named("tiny", 100, size={"embedding_size": 8, "hidden_size": 30,
                                             "num_hidden_layers": 1, "num_attention_heads": 4,
                                             "intermediate_size": 8}).check()
    with pytest.raises(ZhnlpError, match="do not fit 32 positions"):
        train(TrainConfig(data=shards, out=str(tmp_path / "x"), model="tiny",
                          model_overrides={"max_position_embeddings": 32}, max_steps=1))
    res = zhnlp("pretrain", "--data", str(tmp_path / "nothing"), "--config", "tiny", "--out",
                str(tmp_path / "r"), "--max-steps", "1", "-q", text=True)
    assert res.returncode == 1 and "no manifest.json" in res.stderr
    assert not (tmp_path / "r").exists()
    res = zhnlp("pretrain", "--data", shards, "--config", "huge", "--out", str(tmp_path / "r"),
                "--max-steps", "1", "-q", text=True)
    assert res.returncode == 1 and "unknown config 'huge'" in res.stderr


@pytest.mark.parametrize("objective, encoder, absent",
                         [("mlm", "generator", "discriminator"), ("electra", "discriminator", "")])
def test_closing_line_names_the_encoder_the_run_exported(shards, tmp_path, objective, encoder,
                                                         absent):
    out = tmp_path / "run"
    res = zhnlp_here("pretrain", "--data", shards, "--config", "tiny", "--objective", objective,
                     "--max-steps", "2", "--out", str(out))
    last = res.stderr.decode().strip().splitlines()[-1]
    assert res.returncode == 0, last
    assert last.endswith(f"{out / encoder} is ready") and (out / encoder).is_dir(), last
    # an MLM run trains no discriminator: no accuracy of it, no folder of it (the
    # accuracies before the ";": pytest's folder name may hold any letters)
    accuracies = last.split(";")[0]
    assert "nan" not in accuracies and "generator accuracy" in accuracies
    assert not absent or (absent not in last and not (out / absent).exists())


def test_two_ddp_processes_equal_one_with_the_same_global_batch(shards, tmp_path):
    import csv
    import os
    import subprocess
    import sys

    common = ["pretrain", "--data", shards, "--config", "tiny", "--max-steps", "4",
              "--batch-size", "8", "--micro-batch", "4", "--dropout", "0", "--log-every", "1",
              "-q"]
    one = zhnlp(*common, "--out", str(tmp_path / "one"), text=True)
    assert one.returncode == 0, one.stderr
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    two = subprocess.run([torchrun, "--nproc_per_node=2", "--master_port=29531", "-m",
                          "zhnlp.cli.main", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stderr[-2000:]

    def losses(run: str) -> list[float]:
        with open(tmp_path / run / "metrics.csv", newline="") as handle:
            return [float(r["loss"]) for r in csv.DictReader(handle)]

    assert len(losses("one")) == 4
    assert losses("two") == pytest.approx(losses("one"), rel=1e-5)
    assert (tmp_path / "two" / "rng-1-step4.pt").exists()


@pytest.mark.parametrize("objective", ["replace-mlm", "all-tokens-mlm"])
def test_mlm_objectives_on_generator_replaced_inputs(batch, objective):
    model = tiny(objective=objective)
    sums = model(batch)
    assert "rtd" not in sums and torch.isfinite(sums["main_mlm"])
    counts = counts_of(batch)
    over = counts["masked"] if objective == "replace-mlm" else counts["real"]
    want = sums["mlm"] / counts["masked"] + sums["main_mlm"] / over
    assert model.loss(sums, counts).item() == pytest.approx(want.item())
    emb = model.embeddings.word_embeddings.weight
    assert model.discriminator.generator_lm_head.weight is emb  # tied, shared


def test_two_stage_copies_the_generator_and_freezes_it(batch, shards, tmp_path):
    model = tiny(objective="two-stage")
    assert model.generator.config.hidden_size == model.discriminator.config.hidden_size
    assert "rtd" not in model(batch)  # phase one: the generator alone
    model.start_phase_two()
    g, d = model.generator.electra.encoder, model.discriminator.electra.encoder
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(),
                                                 d.state_dict().values()))
    frozen = [p for p in model.generator.parameters() if not p.requires_grad]
    assert frozen and all(p.requires_grad for p in model.embeddings.parameters())
    sums = model(batch)
    loss = model.loss(sums, counts_of(batch))
    assert loss.item() == pytest.approx(50 * sums["rtd"].item() / counts_of(batch)["real"])
    base = {"data": shards, "model": "tiny", "batch_size": 8, "max_steps": 6, "log_every": 1,
            "save_every": 100, "model_overrides": {"objective": "two-stage"}}
    whole = train(TrainConfig(out=str(tmp_path / "a"), **base))
    part = train(TrainConfig(out=str(tmp_path / "b"), stop_after=4, **base))
    part += train(TrainConfig(out=str(tmp_path / "b"), **base), resume=True)
    assert [r["loss"] for r in whole] == [r["loss"] for r in part]
    assert np.isnan(whole[1]["rtd_loss"]) and not np.isnan(whole[4]["rtd_loss"])


@pytest.mark.parametrize("objective", ["replace-mlm", "all-tokens-mlm"])
def test_main_mlm_objectives_predict_their_positions(batch, objective):
    """replace-mlm: the main network predicts the masked positions (its loss over the masked
    count); all-tokens-mlm: every real token (over the real count)."""
    model = tiny(objective=objective)
    masked = batch["labels"] != -100
    model.sample = lambda logits, positions, seeds, **_: batch["original_ids"][masked]  # copies
    sums = model(batch)
    logits = model.discriminator(input_ids=batch["original_ids"],
                                 attention_mask=batch["attention_mask"],
                                 token_type_ids=batch["token_type_ids"]).logits
    where = masked if objective == "replace-mlm" else batch["attention_mask"] > 0
    want = torch.nn.functional.cross_entropy(logits[where], batch["original_ids"][where],
                                             reduction="sum")
    assert sums["main_mlm"].item() == pytest.approx(want.item(), rel=1e-5)
    counts = counts_of(batch)
    over = counts["masked"] if objective == "replace-mlm" else counts["real"]
    assert model.loss(sums, counts).item() == pytest.approx(
        (sums["mlm"] / counts["masked"] + sums["main_mlm"] / over).item(), rel=1e-6)


def test_sentence_order_prediction_loss(shards):
    data = PretrainingShards(shards)
    collator = MaskingCollator(mask_id=103, vocab_size=21128, sop=True, seed=0)
    b = collator([(i, data[i]) for i in range(32)])
    assert 0 < b["sentence_order_label"].sum() < 32
    from zhnlp.pretraining.loader import swap_segments

    # label 1 is a swapped pair: B before A, as the shard does not have it
    for i, label in enumerate(b["sentence_order_label"].tolist()):
        row = swap_segments(data[i]) if label else data[i]
        assert torch.equal(b["original_ids"][i], torch.from_numpy(row[0].astype(np.int64)))
        if label:
            assert not np.array_equal(row[0], data[i][0])
    model = tiny(sop_weight=1.0)
    sums = model(b)
    assert torch.isfinite(sums["sop"]) and sums["sop"] > 0


def test_a_kill_while_saving_leaves_a_run_that_resumes_exactly(shards, tmp_path, monkeypatch):
    import zhnlp.pretraining.loop as pretrain_module

    base = {"data": shards, "model": "tiny", "batch_size": 8, "max_steps": 8, "log_every": 1,
            "save_every": 3}
    whole = train(TrainConfig(out=str(tmp_path / "a"), **base))
    real_save = pretrain_module._save_checkpoint

    def dies_at_six(out, raw, opt, step, *args):
        if step == 6:  # the random states of step 6 are written, its checkpoint never is
            raise KeyboardInterrupt
        real_save(out, raw, opt, step, *args)

    monkeypatch.setattr(pretrain_module, "_save_checkpoint", dies_at_six)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "b"), **base))
    monkeypatch.setattr(pretrain_module, "_save_checkpoint", real_save)
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["step"] == 3
    rest = train(TrainConfig(out=str(tmp_path / "b"), **base), resume=True)
    assert [r["loss"] for r in rest] == [r["loss"] for r in whole[3:]]
    assert [p.name for p in (tmp_path / "b").glob("rng-*")] == ["rng-0-step8.pt"]


# ----------------------------------------------------------------- continued pretraining

@pytest.fixture(scope="module")
def first_run(shards, tmp_path_factory):
    """A tiny run of 80 steps on real shards: its export is what --init continues."""
    out = tmp_path_factory.mktemp("first") / "run"
    rows = train(TrainConfig(data=shards, out=str(out), model="tiny", batch_size=16,
                             max_steps=80, lr=2e-3, log_every=10, save_every=80,
                             model_overrides={"dropout": 0.0}))
    return out, rows


def test_init_loads_every_tensor_of_a_released_pair_and_of_a_discriminator(first_run):
    from transformers import ElectraForMaskedLM, ElectraForPreTraining

    from zhnlp.pretraining.init import find_released, load_released, model_config

    out, _ = first_run
    disc = ElectraForPreTraining.from_pretrained(out / "discriminator").state_dict()
    gen = ElectraForMaskedLM.from_pretrained(out / "generator").state_dict()
    released = find_released(str(out))
    assert released.generator == str(out / "generator")
    torch.manual_seed(1)
    model = ElectraPretrainingModel(model_config(released, 21128))
    assert model.generator.config.hidden_size == 16 and model.config.size["hidden_size"] == 64
    load_released(model, released)
    assert shared(model)
    for name, value in model.discriminator.state_dict().items():
        assert torch.equal(value, disc[name]), name
    for name, value in model.generator.state_dict().items():
        # the embeddings are the discriminator's (a zhnlp pair shares them: equal anyway)
        assert torch.equal(value, gen[name]), name
    # a discriminator alone: a fresh generator at the fraction, on the loaded embeddings
    alone = find_released(str(out / "discriminator"))
    assert alone.generator is None
    model = ElectraPretrainingModel(model_config(alone, 21128, generator_fraction=0.5))
    fresh = model.generator.electra.encoder.layer[0].attention.self.query.weight.clone()
    load_released(model, alone)
    assert shared(model) and model.generator.config.hidden_size == 32
    assert torch.equal(model.generator.electra.embeddings.word_embeddings.weight,
                       disc["electra.embeddings.word_embeddings.weight"])
    assert torch.equal(model.generator.electra.encoder.layer[0].attention.self.query.weight,
                       fresh)


def test_init_continues_where_the_first_run_stopped(first_run, shards, tmp_path):
    out, rows = first_run
    cont = train(TrainConfig(data=shards, out=str(tmp_path / "cont"), batch_size=16,
                             max_steps=5, log_every=1, init=str(out), seed=3,
                             warmup_steps=4, model_overrides={"dropout": 0.0}))
    fresh = train(TrainConfig(data=shards, out=str(tmp_path / "fresh"), model="tiny",
                              batch_size=16, max_steps=5, log_every=1, seed=3,
                              model_overrides={"dropout": 0.0}))
    last = rows[-1]
    # the generator's MLM loss goes on from the first run's last, far below a fresh start's
    assert abs(cont[0]["mlm_loss"] - last["mlm_loss"]) < 0.15 * last["mlm_loss"]
    assert cont[0]["mlm_loss"] < 0.8 * fresh[0]["mlm_loss"]
    assert cont[0]["rtd_accuracy"] > fresh[0]["rtd_accuracy"]
    # a fresh optimizer warms up to --init's gentler peak
    assert [r["lr"] for r in cont[:4]] == pytest.approx([2.5e-5, 5e-5, 7.5e-5, 1e-4])
    from transformers import ElectraForPreTraining

    assert ElectraForPreTraining.from_pretrained(tmp_path / "cont" / "discriminator")


def test_finetuning_starts_from_every_trained_encoder_tensor(first_run, tmp_path):
    """The path pretrain -> export -> fine-tune loses nothing: the fine-tuning model's
    encoder is the trained discriminator tensor for tensor, with no warning; a checkpoint
    lacking a tensor warns naming it, one giving the encoder nothing is refused, and
    --random-init keeps the shapes but not the values."""
    import warnings

    from safetensors.torch import load_file, save_file

    from zhnlp.errors import ZhnlpWarning
    from zhnlp.finetuning.checkpoints import start_model
    from zhnlp.finetuning.tasks import get_task

    out, _ = first_run
    trained = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    task, labels = get_task("eprstmt"), ["Negative", "Positive"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = start_model(str(out / "discriminator"), task, labels, 21128, 0)
    body = model.electra.state_dict()
    assert len(body) > 30
    for name, value in body.items():
        assert torch.equal(value, trained[f"discriminator.electra.{name}"]), name
    random = start_model(str(out / "discriminator"), task, labels, 21128, 0,
                         random_init=True).electra.state_dict()
    assert {k: v.shape for k, v in random.items()} == {k: v.shape for k, v in body.items()}
    assert not torch.equal(random["encoder.layer.1.output.dense.weight"],
                           body["encoder.layer.1.output.dense.weight"])

    def copy_with(tensors: dict) -> str:
        folder = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(out / "discriminator", folder)
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return str(folder)

    tensors = load_file(str(out / "discriminator" / "model.safetensors"))
    lacking = copy_with({k: v for k, v in tensors.items() if "layer.1.output.dense" not in k})
    with pytest.warns(ZhnlpWarning, match=r"2 of \d+ encoder tensors .*layer\.1\.output"):
        start_model(lacking, task, labels, 21128, 0)
    renamed = copy_with({f"other.{k}": v for k, v in tensors.items()})
    with pytest.raises(ZhnlpError, match="none of the .* encoder tensors"):
        start_model(renamed, task, labels, 21128, 0)


def assert_drawn_afresh(name: str, value: torch.Tensor, std: float) -> None:
    """``value`` is what a new model's initialisation gives the tensor ``name``: unit
    LayerNorm weights, zero biases, other weights normal of ``std``."""
    if "LayerNorm.weight" in name:
        assert torch.all(value == 1), name
    elif name.endswith("bias"):
        assert torch.all(value == 0), name
    else:
        assert value.mean().abs() < 0.2 * std and abs(value.std() - std) < 0.1 * std, name


def test_reinit_layers_draws_only_the_top_layers_afresh(first_run):
    """--reinit-layers N: the top N encoder layers start as a new model's would (normal
    weights of the config's std, zero biases, unit LayerNorms), seeded; every other encoder
    tensor is the trained one; more layers than the encoder has, or a random model, is an
    error."""
    from zhnlp.finetuning.checkpoints import start_model
    from zhnlp.finetuning.tasks import get_task

    out, _ = first_run
    disc = str(out / "discriminator")
    trained = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    task, labels = get_task("eprstmt"), ["Negative", "Positive"]
    model = start_model(disc, task, labels, 21128, 0, reinit_layers=1)
    depth = model.config.num_hidden_layers
    top = f"encoder.layer.{depth - 1}."
    body = model.electra.state_dict()
    for name, value in body.items():
        if not name.startswith(top):
            assert torch.equal(value, trained[f"discriminator.electra.{name}"]), name
            continue
        assert not torch.equal(value, trained[f"discriminator.electra.{name}"]), name
        assert_drawn_afresh(name, value, model.config.initializer_range)
    again = start_model(disc, task, labels, 21128, 0, reinit_layers=1).electra.state_dict()
    other = start_model(disc, task, labels, 21128, 1, reinit_layers=1).electra.state_dict()
    weight = top + "output.dense.weight"
    assert torch.equal(again[weight], body[weight])
    assert not torch.equal(other[weight], body[weight])
    with pytest.raises(ZhnlpError, match=f"encoder has {depth} layers"):
        start_model(disc, task, labels, 21128, 0, reinit_layers=depth + 1)
    with pytest.raises(ZhnlpError, match="random model"):
        start_model(disc, task, labels, 21128, 0, random_init=True, reinit_layers=1)


def test_reinit_projection_draws_only_the_embeddings_projection_afresh(first_run, tmp_path):
    """--reinit-projection: a factorised embedding's projection into the hidden size starts
    as a new model's would, every other tensor as saved; a checkpoint without one (tiny's
    embeddings are as wide as its layers) is an error."""
    from transformers import ElectraConfig, ElectraForPreTraining

    from zhnlp.finetuning.checkpoints import start_model
    from zhnlp.finetuning.tasks import get_task

    out, _ = first_run
    disc = out / "discriminator"
    task, labels = get_task("eprstmt"), ["Negative", "Positive"]
    with pytest.raises(ZhnlpError, match="no embedding projection"):
        start_model(str(disc), task, labels, 21128, 0, reinit_projection=True)
    config = ElectraConfig.from_pretrained(disc)
    config.embedding_size = config.hidden_size // 2
    torch.manual_seed(3)
    factorised = tmp_path / "factorised"
    made = ElectraForPreTraining(config)
    with torch.no_grad():  # as if trained: no tensor where a fresh draw puts it
        for tensor in made.parameters():
            tensor.add_(torch.randn_like(tensor))
    made.save_pretrained(factorised)
    for name in disc.iterdir():
        if "token" in name.name or name.name == "vocab.txt":
            shutil.copy(name, factorised / name.name)
    saved = ElectraForPreTraining.from_pretrained(factorised).electra.state_dict()
    body = start_model(str(factorised), task, labels, 21128, 0, reinit_projection=True,
                       reinit_layers=1).electra.state_dict()
    top = f"encoder.layer.{config.num_hidden_layers - 1}."
    for name, value in body.items():
        fresh = name.startswith(("embeddings_project.", top))
        assert torch.equal(value, saved[name]) != fresh, name
    for name in ("embeddings_project.weight", "embeddings_project.bias"):
        assert_drawn_afresh(name, body[name], config.initializer_range)
    with pytest.raises(ZhnlpError, match="random model"):
        start_model(str(factorised), task, labels, 21128, 0, random_init=True,
                    reinit_projection=True)


def test_init_grows_an_extended_vocabulary_and_refuses_another(first_run, tmp_path):
    """New tokens get rows at the mean of the old ones, old rows are unchanged and the export
    loads in transformers; shards of another vocabulary are a one-line error."""
    import json
    import shutil

    from transformers import AutoModel

    from zhnlp.pretraining.init import check_vocabulary, find_released, load_released, model_config
    from zhnlp.pretraining.loop import export
    from zhnlp.vocab import extend_tokenizer, load_tokenizer

    out, _ = first_run
    released = find_released(str(out))
    # what build-vocab --extend adds for CLUENER's news (curly quotes, rare characters)
    texts = [json.loads(x)["text"] for x in need(DATA / "cluener" / "dev.json")
             .read_text("utf-8").splitlines()]
    tok, added = extend_tokenizer(load_tokenizer(out / "discriminator"), texts, most=40)
    vocab = tok.get_vocab()
    assert check_vocabulary(released, vocab, "shards") == 21128 and len(added) == 40
    assert len(vocab) == 21168
    model = ElectraPretrainingModel(model_config(released, len(vocab)))
    load_released(model, released)
    emb = model.discriminator.electra.embeddings.word_embeddings.weight
    old = AutoModel.from_pretrained(out / "discriminator").embeddings.word_embeddings.weight
    assert emb.shape == (21168, 64) and torch.equal(emb[:21128], old)
    assert torch.allclose(emb[21128:], old.mean(0).expand(40, -1))
    from transformers import ElectraForMaskedLM

    bias = ElectraForMaskedLM.from_pretrained(out / "generator").generator_lm_head.bias
    grown = model.generator.generator_lm_head.bias
    assert torch.equal(grown[:21128], bias) and torch.allclose(grown[21128:], bias.mean())
    tokdir = tmp_path / "tok"
    tokdir.mkdir()
    tok.save(str(tokdir / "tokenizer.json"))
    export(model, tmp_path / "grown", str(tokdir))
    assert AutoModel.from_pretrained(tmp_path / "grown" / "discriminator").config.vocab_size \
        == 21168
    # a vocabulary whose ids moved: refused, naming a token
    other = tmp_path / "other"
    shutil.copytree(out / "discriminator", other)
    spec = json.loads((other / "tokenizer.json").read_text("utf-8"))
    words = spec["model"]["vocab"]
    words["的"], words["了"] = words["了"], words["的"]
    (other / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), "utf-8")
    with pytest.raises(ZhnlpError, match=r"prepared with another vocabulary .* \(2 tokens "
                       r"differ; '(的|了)' is id \d+ there, \d+ in the shards\)"):
        check_vocabulary(find_released(str(other)), vocab, "shards")


def test_init_errors_are_one_line(first_run, shards, tmp_path):
    out, _ = first_run
    cases = [
        (["--init", str(tmp_path)], 1, "no checkpoint here"),
        (["--init", str(out), "--config", "small"], 2, "--config: with --init"),
        (["--init", str(out), "--generator-fraction", "0.5"], 2, "--generator-fraction"),
        (["--init", str(out), "--objective", "mlm"], 1, "cannot start from an ELECTRA"),
        (["--init-generator", str(out / "generator")], 2, "--init-generator goes with"),
        (["--init", str(out / "generator")], 1, "not an ElectraForPreTraining"),
    ]
    for args, code, message in cases:
        res = zhnlp_here("pretrain", "--data", shards, "--out", str(tmp_path / "x"), "--max-steps",
                    "2", "-q", *args)
        err = res.stderr.decode()
        assert res.returncode == code and message in err, (args, err)
        if code == 1:
            assert err.count("\n") == 1 and err.startswith("error: ")


@pytest.fixture(scope="module")
def bert_dir(tokdir, tmp_path_factory):
    """A BERT-style masked LM as Chinese-BERT-wwm and MacBERT ship (BertForMaskedLM, the
    Chinese BERT vocabulary), small and freshly initialised."""
    import shutil

    from transformers import BertConfig, BertForMaskedLM

    out = tmp_path_factory.mktemp("bert") / "bert"
    torch.manual_seed(5)
    BertForMaskedLM(BertConfig(vocab_size=21128, hidden_size=64, num_hidden_layers=2,
                               num_attention_heads=2, intermediate_size=256,
                               max_position_embeddings=128)).save_pretrained(out)
    for path in Path(tokdir).iterdir():  # the tokenizer files, as a release has them
        shutil.copyfile(path, out / path.name)
    return out


def test_init_continues_a_bert_masked_lm_and_exports_one(bert_dir, shards, tmp_path):
    from transformers import BertForMaskedLM

    from zhnlp.pretraining.init import bert_name, find_released, load_released, model_config

    released = find_released(str(bert_dir))
    assert released.masked_lm == str(bert_dir) and released.discriminator is None
    model = ElectraPretrainingModel(model_config(released, 21128, objective="mlm"))
    load_released(model, released)
    theirs = BertForMaskedLM.from_pretrained(bert_dir).state_dict()
    for name, value in model.generator.state_dict().items():  # tensor for tensor
        assert torch.equal(value, theirs[bert_name(name)]), name
    common = dict(data=shards, batch_size=16, log_every=1, lr=2e-3, warmup_steps=2,
                  model_overrides={"objective": "mlm", "dropout": 0.0})
    first = train(TrainConfig(out=str(tmp_path / "a"), max_steps=40, save_every=40,
                              init=str(bert_dir), **common))
    export = tmp_path / "a" / "generator"
    bert = BertForMaskedLM.from_pretrained(export).eval()  # a BERT again
    assert bert.config.model_type == "bert" and (export / "vocab.txt").exists()
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    trained = ElectraPretrainingModel(ModelConfig(**state["model_config"])).eval()
    trained.load_state_dict(state["model"])
    data = PretrainingShards(shards)
    ids = torch.from_numpy(np.stack([data[i][0] for i in range(4)]).astype(np.int64))
    with torch.no_grad():
        assert torch.allclose(bert(input_ids=ids, attention_mask=(ids > 0).long()).logits,
                              trained.generator(input_ids=ids,
                                                attention_mask=(ids > 0).long()).logits,
                              atol=1e-4)
    again = train(TrainConfig(out=str(tmp_path / "b"), max_steps=3, init=str(export), **common))
    fresh = train(TrainConfig(out=str(tmp_path / "c"), max_steps=3, init=str(bert_dir),
                              **common))
    last = first[-1]["mlm_loss"]
    assert abs(again[0]["mlm_loss"] - last) < 0.15 * last
    assert again[0]["mlm_loss"] < 0.8 * fresh[0]["mlm_loss"]
    with pytest.raises(ZhnlpError, match="add --objective mlm"):
        train(TrainConfig(data=shards, out=str(tmp_path / "d"), init=str(bert_dir),
                          max_steps=1))


# ----------------------------------------------------------------- held-out validation

@pytest.fixture(scope="module")
def held_out(tokdir, eprstmt_sentences, tmp_path_factory):
    """The shards of the module's corpus again, a fifth of the documents held out."""
    out = tmp_path_factory.mktemp("valid") / "shards"
    manifest = prepare(eprstmt_sentences[:1200], tokdir, str(out),
                       config=PrepareConfig(backend="rjieba", max_len=64, valid_share=0.2))
    return str(out), manifest


def test_prepare_holds_out_a_share_of_the_documents(held_out, shards):
    out, manifest = held_out
    whole = PretrainingShards(shards)
    train, valid = PretrainingShards(out), PretrainingShards(out, split="valid")
    assert manifest["valid_sequences"] == len(valid) > 0
    assert "valid" not in whole.manifest["shards"][0]  # no share, no held-out files
    # a fifth of the text, within the draw's noise; no token lost or doubled
    tokens = [sum(int((s.arrays[k][:, 0] != 0).sum()) for k in range(len(s.arrays)))
              for s in (whole, train, valid)]
    assert 0.12 < tokens[2] / tokens[0] < 0.28, tokens
    assert abs(tokens[1] + tokens[2] - tokens[0]) < 0.02 * tokens[0]
    # a held-out sequence is a training one only where the corpus repeats a review word for
    # word (EPRSTMT's unlabeled split does)
    seen = {train[i][0].tobytes() for i in range(len(train))}
    shared = sum(valid[i][0].tobytes() in seen for i in range(len(valid)))
    assert shared < 0.05 * len(valid), (shared, len(valid))
    with pytest.raises(ZhnlpError, match="no held-out sequences"):
        PretrainingShards(shards, split="valid")


def test_auc_from_histograms_equals_sklearn():
    from sklearn.metrics import roc_auc_score

    from zhnlp.pretraining.loop import auc_of

    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.3
    bins = rng.integers(0, 50, 2000) + 10 * truth  # positives score higher, with ties
    hist = np.zeros((2, 64))
    np.add.at(hist, (truth.astype(int), bins), 1)
    assert auc_of(hist[0], hist[1]) == pytest.approx(roc_auc_score(truth, bins))
    assert np.isnan(auc_of(hist[0], np.zeros(64)))


def test_held_out_metrics_leave_training_as_it_was(held_out, tmp_path):
    out, _ = held_out
    base = {"data": out, "model": "tiny", "batch_size": 16, "max_steps": 40, "log_every": 10,
            "lr": 2e-3}
    plain = train(TrainConfig(out=str(tmp_path / "a"), **base))
    # evaluated, and its batches made by two worker processes: the same training
    checked = train(TrainConfig(out=str(tmp_path / "b"), eval_every=20, loader_workers=2,
                                **base))
    assert [r["loss"] for r in plain] == [r["loss"] for r in checked]
    assert all(np.isnan(r["valid_mlm_loss"]) for r in plain)
    evals = [r for r in checked if not np.isnan(r["valid_mlm_loss"])]
    assert [int(r["step"]) for r in evals] == [20, 40]
    assert evals[1]["valid_mlm_loss"] < evals[0]["valid_mlm_loss"] < 10.5
    assert 0.5 < evals[1]["valid_rtd_auc"] <= 1 and 0 < evals[1]["valid_rtd_accuracy"] < 1
    res = zhnlp_here("plot-run", str(tmp_path / "b"), "-q")
    assert res.returncode == 0 and (tmp_path / "b" / "curves.png").stat().st_size > 10_000


def test_held_out_auc_on_the_masked_positions_leaves_the_easy_ones_out(held_out,
                                                                        monkeypatch):
    """valid_rtd_auc_masked is the ROC AUC over the masked positions alone (where
    ELECTRA-15 is scored), valid_rtd_auc over every real token."""
    from sklearn.metrics import roc_auc_score

    from zhnlp.pretraining.loop import evaluate

    out, _ = held_out
    valid = PretrainingShards(out, split="valid")
    collator = MaskingCollator(mask_id=103, vocab_size=21128, seed=0)
    model = tiny()
    # every masked token becomes 的: a masked 的 stays itself, so both kinds are there
    monkeypatch.setattr(model, "sample", lambda logits, *_, **__: torch.full(
        (logits.shape[0],), 4638, dtype=torch.long))
    row = evaluate(model, valid, collator, 16, 0, 1, torch.device("cpu"))
    scores, truth, masked = [], [], []
    with torch.no_grad():
        for start in range(0, len(valid), 16):
            got = model(collator([(i, valid[i]) for i in
                                  range(start, min(start + 16, len(valid)))]), scores=True)
            scores.append(got["rtd_scores"])
            truth.append(got["rtd_truth"])
            masked.append(got["rtd_masked"])
    scores, truth, masked = (torch.cat(t).numpy() for t in (scores, truth, masked))
    assert 0 < (masked & ~truth).sum() < 0.2 * masked.sum()  # masked 的, not replaced
    assert not (truth & ~masked).any()
    want_all = roc_auc_score(truth, scores)
    want_masked = roc_auc_score(truth[masked], scores[masked])
    assert abs(want_all - want_masked) > 0.02, (want_all, want_masked)
    # the histogram's bins tie the close scores of an untrained model: near, not equal
    assert row["valid_rtd_auc"] == pytest.approx(want_all, abs=5e-3)
    assert row["valid_rtd_auc_masked"] == pytest.approx(want_masked, abs=5e-3)


@pytest.mark.parametrize("sharing", ["shared", "gdes"])
def test_held_out_rank_is_that_of_the_exported_encoder_on_the_text(held_out, tmp_path,
                                                                    monkeypatch, sharing):
    from transformers import ElectraModel

    from zhnlp.pretraining import loop
    from zhnlp.representation import effective_rank

    out, _ = held_out
    monkeypatch.setattr(loop, "RANK_TOKENS", 10**9)  # every held-out token
    rows = train(TrainConfig(data=out, out=str(tmp_path / "r"), model="tiny", batch_size=16,
                             max_steps=20, eval_every=20, lr=2e-3,
                             model_overrides={"embedding_sharing": sharing}))
    encoder = ElectraModel.from_pretrained(tmp_path / "r" / "discriminator").eval()
    valid = PretrainingShards(out, split="valid")
    data = torch.from_numpy(np.stack([valid[i] for i in range(len(valid))]).astype(np.int64))
    ids, types = data[:, 0], data[:, 2]
    keep = ids != 0
    with torch.no_grad():
        states = encoder(input_ids=ids, attention_mask=keep.long(), token_type_ids=types,
                         output_hidden_states=True).hidden_states
    keep[:, 0] = False
    width = encoder.config.hidden_size
    for column, layer in (("valid_rank_embeddings", 0), ("valid_rank_last", -1)):
        want = effective_rank(states[layer][keep].numpy())
        assert rows[-1][column] == pytest.approx(want, rel=1e-3), column
        assert 1 < want < width


def test_effective_rank_counts_the_directions_the_vectors_spread_over():
    from zhnlp.representation import effective_rank, mean_cosine

    rng = np.random.default_rng(0)
    spread = rng.standard_normal((4000, 64))
    assert 60 < effective_rank(spread) <= 64
    assert abs(mean_cosine(spread)) < 0.02
    # eight equal directions, a common offset: rank 8 whatever the offset
    eight = np.repeat(np.eye(64)[:8], 500, axis=0) * rng.choice([-1, 1], (4000, 1)) + 5
    assert effective_rank(eight) == pytest.approx(8, rel=0.02)
    assert mean_cosine(eight) > 0.9  # the offset makes them alike, not fewer
    one = np.outer(rng.standard_normal(4000), rng.standard_normal(64))
    assert effective_rank(one) == pytest.approx(1, abs=0.01)


# ----------------------------------------------------------------- keyed sampling

def test_keyed_uniforms_are_uniform_and_depend_on_their_key_alone():
    from zhnlp.pretraining.sampling import keyed_uniform

    seeds = torch.randint(0, 2**62, (4000,), generator=torch.Generator().manual_seed(0))
    places = torch.arange(4000) % 128
    u = keyed_uniform(seeds, places, 50)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.002 and abs(u.var().item() - 1 / 12) < 0.001
    counts = torch.histc(u, 20, 0, 1)
    assert (counts - u.numel() / 20).abs().max() < 5 * (u.numel() / 20) ** 0.5
    pairs = torch.stack([u[:, :-1].flatten(), u[:, 1:].flatten()])
    assert abs(torch.corrcoef(pairs)[0, 1].item()) < 0.01
    # a key's numbers are the same whatever else is drawn beside them
    assert torch.equal(keyed_uniform(seeds[7:9], places[7:9], 50), u[7:9])
    assert not torch.equal(keyed_uniform(seeds[7:8], places[7:8] + 1, 50), u[7:8])


@pytest.mark.parametrize("sampling", ["multinomial", "gumbel"])
def test_samples_follow_the_generator_distribution_and_not_the_batch(sampling):
    model = tiny(sampling=sampling, temperature=1.0)
    probs = torch.tensor([0.5, 0.25, 0.15, 0.1])
    n = 40000
    logits = probs.log().expand(n, 4)
    positions = torch.stack([torch.arange(n) // 100, torch.arange(n) % 100], 1)
    seeds = torch.randint(0, 2**62, (n // 100,), generator=torch.Generator().manual_seed(1))
    drawn = model.sample(logits, positions, seeds)
    share = torch.bincount(drawn, minlength=4) / n
    assert ((share - probs).abs() < 4 * (probs * (1 - probs) / n) ** 0.5).all(), share
    # sequence 3's draws alone equal its draws among all the others
    mine = positions[:, 0] == 3
    alone = model.sample(logits[mine], torch.stack([torch.zeros(100, dtype=torch.long),
                                                    positions[mine, 1]], 1), seeds[3:4])
    assert torch.equal(alone, drawn[mine])
