"""What a fine-tuning run starts from and what it leaves: the starting model and tokenizer,
the fine-tuned checkpoint (a Hugging Face folder with ``zhnlp_task.json`` beside it: the task
and the settings it was trained with) and how it loads again.

``--model`` is a checkpoint directory (ours from ``zhnlp pretrain``, or any Hugging Face
BERT/RoBERTa/ELECTRA directory with its tokenizer), a ``zhnlp finetune`` output folder (its
best checkpoint), or a config name (``tiny``, ``small``) for a randomly initialised ELECTRA
whose tokenizer is learned from the task's training text.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import torch

from zhnlp.devices import pick_device
from zhnlp.errors import InputError, ZhnlpError, ZhnlpWarning
from zhnlp.finetuning.tasks import Task, get_task
from zhnlp.io import atomic_dir
from zhnlp.pretraining.sizes import SIZES

TASK_FILE = "zhnlp_task.json"  # beside a fine-tuned checkpoint: its task and settings


def checkpoint_in(folder: str) -> str | None:
    """The checkpoint a folder stands for: itself when it holds one (``config.json``), the
    best checkpoint of a ``zhnlp finetune`` output folder (``best/``), or None."""
    for path in (folder, os.path.join(folder, "best")):
        if os.path.exists(os.path.join(path, "config.json")):
            return path
    return None


def resolve_model(model: str) -> str:
    """A config name as it is; a ``zhnlp finetune`` output folder as its best checkpoint; a
    ``zhnlp pretrain`` run directory as its discriminator (what ELECTRA fine-tunes); any other
    directory must be a checkpoint."""
    if model in SIZES:
        return model
    if not os.path.isdir(model):
        raise ZhnlpError(f"--model {model!r} is neither a checkpoint directory nor one of "
                         f"{', '.join(SIZES)}")
    found = checkpoint_in(model)
    if found is None and os.path.exists(os.path.join(model, "discriminator", "config.json")):
        found = os.path.join(model, "discriminator")
    if found is None:
        raise InputError(model, "not a checkpoint directory (no config.json)")
    return found


def load_tokenizer(path: str) -> Any:
    """The transformers tokenizer of a checkpoint, or a one-line error naming the folder."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # malformed files raise anything from ValueError to a Rust error
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(path, f"no readable tokenizer here ({reason[:200]})") from None


def start_tokenizer(model: str, out: str, task: Task, train: list[Any]) -> Any:
    """The tokenizer of checkpoint ``model``; for a config name, one learned from the
    training text (kept in ``out/tokenizer`` so a resumed run uses the same)."""
    if model in SIZES:
        from zhnlp.vocab import save_tokenizer, train_tokenizer

        tokdir = os.path.join(out, "tokenizer")
        if not os.path.exists(os.path.join(tokdir, "tokenizer.json")):
            save_tokenizer(train_tokenizer(task.texts(train), 8000), tokdir)
        return load_tokenizer(tokdir)
    return load_tokenizer(model)


def _label_args(task: Task, labels: list[str]) -> dict[str, Any]:
    if task.head not in ("SequenceClassification", "TokenClassification"):
        return {}
    args: dict[str, Any] = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                            "label2id": {label: i for i, label in enumerate(labels)}}
    if getattr(task, "multi_label", None):  # a sigmoid per label, for transformers too
        args["problem_type"] = "multi_label_classification"
    return args


def start_model(model: str, task: Task, labels: list[str], vocab_size: int,
                seed: int, *, random_init: bool = False,
                reinit_layers: int = 0, reinit_projection: bool = False,
                ) -> torch.nn.Module:
    """The model a run starts from: checkpoint ``model`` with a fresh head for the task's
    labels, or a random ELECTRA of size ``model``; seeded, so each seed gets its own head.

    ``random_init``: the checkpoint's architecture (and, for the caller, its tokenizer) with
    random weights, the no-pretraining baseline of a comparison.  Encoder tensors that the
    checkpoint lacks or holds in another shape start random with a :class:`ZhnlpWarning`
    naming them; a checkpoint that gives the encoder nothing is an error.

    ``reinit_layers``: the checkpoint's top encoder layers, this many, start random again
    (see :func:`reinit_top_layers`); ``reinit_projection``: so does the projection from the
    embeddings into the hidden size (see :func:`reinit_embedding_projection`).
    """
    import transformers

    for option, given in (("--reinit-layers", reinit_layers),
                          ("--reinit-projection", reinit_projection)):
        if given and (random_init or model in SIZES):
            raise ZhnlpError(f"{option} re-initialises part of a pretrained checkpoint: "
                             "it has no meaning for a random model")
    torch.manual_seed(seed)
    head = getattr(transformers, f"AutoModelFor{task.head}")
    if model in SIZES:
        config = transformers.ElectraConfig(vocab_size=vocab_size, **SIZES[model],
                                            **_label_args(task, labels))
        return getattr(transformers, f"ElectraFor{task.head}")(config)
    if random_init:
        return head.from_config(transformers.AutoConfig.from_pretrained(
            model, **_label_args(task, labels)))
    from transformers.utils import logging as hf_logging

    # a new task head on a pretrained body is the point here: transformers' load report,
    # which lists its tensors as missing, is noise; what the body lacks is checked below
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        loaded, info = head.from_pretrained(model, ignore_mismatched_sizes=True,
                                            output_loading_info=True,
                                            **_label_args(task, labels))
    finally:
        hf_logging.set_verbosity(verbosity)
    body = loaded.base_model_prefix + "."
    fresh = sorted(k for k in {*info["missing_keys"],
                               *(k[0] for k in info["mismatched_keys"])} if k.startswith(body))
    total = sum(1 for k in loaded.state_dict() if k.startswith(body))
    if fresh and len(fresh) >= total:
        raise InputError(model, f"none of the {total} encoder tensors of a "
                         f"{type(loaded).__name__} is in this checkpoint (another model "
                         "type?)")
    if fresh:
        warnings.warn(f"{model}: {len(fresh)} of {total} encoder tensors are not in the "
                      f"checkpoint (or have another shape) and start random: "
                      f"{', '.join(fresh[:4])}{' ...' if len(fresh) > 4 else ''}",
                      ZhnlpWarning, stacklevel=2)
    if reinit_layers:
        reinit_top_layers(loaded, reinit_layers)
    if reinit_projection:
        reinit_embedding_projection(loaded)
    return loaded


def reinit_top_layers(model: torch.nn.Module, n: int) -> None:
    """Draw the top ``n`` encoder layers of ``model`` afresh, as transformers initialises a
    new model (weights normal with the config's ``initializer_range``, zero biases,
    LayerNorms at one and zero), from the global random state.

    The top layers of a pretrained encoder are the most specific to its pretraining task (an
    ELECTRA discriminator's map most tokens to one direction, ``benchmarks/study.py
    representation``); starting them random keeps the lower layers' features and spares the
    task the top's (Zhang et al. 2021, *Revisiting few-sample BERT fine-tuning*).
    """
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ZhnlpError(f"--reinit-layers: a {type(model).__name__} has no encoder.layer "
                         "list to re-initialise")
    if not 1 <= n <= len(layers):
        raise ZhnlpError(f"--reinit-layers {n}: the encoder has {len(layers)} layers")
    _draw_afresh(model, layers[len(layers) - n:], "--reinit-layers")


def reinit_embedding_projection(model: torch.nn.Module) -> None:
    """Draw afresh the projection from a factorised embedding into the hidden size
    (ELECTRA's ``embeddings_project``, there where ``embedding_size`` is below
    ``hidden_size``), as :func:`reinit_top_layers` draws a layer.

    The pretraining task trains it with the layers: an ELECTRA discriminator's can narrow
    the token vectors before the first layer (``benchmarks/study.py representation``), so
    ``--reinit-layers`` over every layer still leaves a pretrained map between the
    embedding tables and the encoder."""
    project = getattr(model.base_model, "embeddings_project", None)
    if not isinstance(project, torch.nn.Linear):
        raise ZhnlpError(f"--reinit-projection: a {type(model).__name__} has no embedding "
                         "projection (its embeddings are as wide as its layers)")
    _draw_afresh(model, project, "--reinit-projection")


def _draw_afresh(model: torch.nn.Module, part: torch.nn.Module, option: str) -> None:
    """``part`` of ``model`` as transformers initialises a new model, from the global
    random state."""
    std = getattr(model.config, "initializer_range", 0.02)
    with torch.no_grad():
        for module in part.modules():
            if isinstance(module, torch.nn.Linear):
                torch.nn.init.normal_(module.weight, 0.0, std)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, torch.nn.LayerNorm):
                torch.nn.init.ones_(module.weight)
                torch.nn.init.zeros_(module.bias)
            elif any(True for _ in module.parameters(recurse=False)):
                # a layer of another kind would keep these tensors pretrained, silently
                raise ZhnlpError(f"{option}: no rule to re-initialise a "
                                 f"{type(module).__name__} in {type(model).__name__}")


def hidden_size(model: str) -> int:
    """The hidden size of a config name or a checkpoint directory's config.json."""
    if model in SIZES:
        return SIZES[model]["hidden_size"]
    with open(os.path.join(model, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    return int(config.get("hidden_size") or config.get("d_model") or 768)


def default_lr(model: str) -> float:
    """A fine-tuning peak learning rate that fits the model's width: 1e-4 at BERT-base's 768,
    growing as the width shrinks (the ELECTRA paper's 3e-4 for small's 256), to two
    significant digits: tiny (64) 1.2e-3."""
    return float(f"{1e-4 * 768 / hidden_size(model):.2g}")


def save_checkpoint(model: torch.nn.Module, tokenizer: Any, task: Task,
                    settings: dict[str, Any], path: str) -> None:
    """The fine-tuned model, its tokenizer, the task's extra state and ``settings`` (task
    name, max_len, options) in ``path``, replaced atomically."""
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        task.save_extra(tmp)
        with open(os.path.join(tmp, TASK_FILE), "w", encoding="utf-8") as handle:
            json.dump(settings, handle, indent=1)


def finetuned_settings(model_dir: str) -> tuple[str, dict[str, Any]]:
    """(the checkpoint a folder stands for, its ``zhnlp_task.json`` settings or {} for a
    checkpoint that zhnlp did not fine-tune)."""
    found = checkpoint_in(model_dir)
    if found is None:
        raise InputError(model_dir, "not a fine-tuned checkpoint (no config.json, nor a "
                         "finetune output folder with best/config.json)")
    path = os.path.join(found, TASK_FILE)
    if not os.path.exists(path):
        return found, {}
    with open(path, encoding="utf-8") as handle:
        return found, json.load(handle)


def trained_task(model_dir: str) -> str:
    """The task a fine-tuned checkpoint (or finetune output folder) was trained for."""
    _, saved = finetuned_settings(model_dir)
    if "task" not in saved:
        raise InputError(model_dir, f"not a zhnlp fine-tuned checkpoint (no {TASK_FILE})")
    return str(saved["task"])


def load_finetuned(task: str | Task, data: str | None, model_dir: str, split: str, *,
                   labelled: bool, options: dict[str, Any] | None = None, read: bool = True,
                   ) -> tuple[Task, list[str], list[Any], torch.nn.Module, Any, int]:
    """(task, labels, examples of ``split``, model, tokenizer, max_len) of a fine-tuned
    checkpoint, with the task settings it was trained with (``zhnlp_task.json``) where it
    has them; the data is read before the weights, so bad input fails fast."""
    import transformers
    from transformers.utils import logging as hf_logging

    model_dir, saved = finetuned_settings(model_dir)
    name = task.name if isinstance(task, Task) else task
    if saved and saved.get("task") != name:
        raise ZhnlpError(f"{model_dir}: fine-tuned for {saved.get('task')}, not {name}")
    if not isinstance(task, Task):
        # the files and fields given now take the place of those the model was trained with
        task = get_task(task, **{**saved.get("options", {}),
                                 **{k: v for k, v in (options or {}).items() if v is not None}})
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as handle:
        id2label = json.load(handle).get("id2label", {})
    trained = [id2label.get(str(i)) for i in range(len(id2label))]
    labels = trained if task.labels_in_model else task.labels(data)
    if labels:
        if set(trained) != set(labels):
            raise ZhnlpError(f"{model_dir}: fine-tuned for labels {trained[:5]}..., not "
                             f"{name}'s")
        labels = trained
    examples = task.load(data, split, labels, labelled=labelled) if read else []
    hf_logging.disable_progress_bar()
    model = getattr(transformers, f"AutoModelFor{task.head}").from_pretrained(model_dir)
    model.to(pick_device())
    tokenizer = load_tokenizer(model_dir)
    task.load_extra(model_dir)
    return task, labels, examples, model, tokenizer, int(saved.get("max_len", 128))
