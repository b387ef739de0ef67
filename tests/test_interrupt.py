"""Interruption and concurrency, on slices of the real data sets.

Each long-running command is killed with SIGKILL (its whole process group, pool workers
included) at a random moment of an uninterrupted run's duration; the output must then be
absent or the previous complete one, and the same command run again (``--resume`` where a
checkpoint exists) must end with what an uninterrupted run gives, byte for byte (or, for
training, the same losses and scores), leaving no temporary file, lock or scratch folder.
``ZHNLP_KILL_SEED`` picks other moments.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA, SIGHAN, need
from conftest import zhnlp_here as zhnlp

SEED = int(os.environ.get("ZHNLP_KILL_SEED", "0"))
ENTRY = [sys.executable, "-c", "from zhnlp.cli.main import main; main()"]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*ENTRY, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def timed(args: list[str], cwd: Path) -> float:
    began = time.monotonic()
    proc = start(args, cwd)
    _, err = proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return time.monotonic() - began


def kill_at_random(args: list[str], cwd: Path, duration: float, name: str) -> float:
    """Start the command and SIGKILL its process group at a random moment of ``duration``."""
    moment = random.Random(f"{SEED}:{name}").uniform(0.1, 0.95) * duration
    proc = start(args, cwd)
    try:
        proc.wait(timeout=moment)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return moment


def run_then_kill(args: list[str], tmp_path: Path, name: str,
                  earlier: dict[str, str] | None = None) -> tuple[Path, Path, float]:
    """Run ``args`` uninterrupted in ``tmp_path/ref``, then in ``tmp_path/work`` (holding the
    files of ``earlier`` first) killed at a random moment; returns (ref, work, moment)."""
    ref, work = tmp_path / "ref", tmp_path / "work"
    ref.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    duration = timed(args, ref)
    for name_, text in (earlier or {}).items():
        (work / name_).parent.mkdir(parents=True, exist_ok=True)
        (work / name_).write_text(text, encoding="utf-8")
    return ref, work, kill_at_random(args, work, duration, name)


def debris(*roots: Path) -> list[Path]:
    """Temporary files, locks and scratch folders of zhnlp under ``roots``."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.name.endswith((".tmp", ".lock")) or path.name.startswith("zhnlp-"):
                found.append(path)
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    lines = need(SIGHAN / "pku_test.utf8").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("kill") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_discover_words_killed_then_run_again(corpus, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = ["discover-words", str(corpus), "--workers", "2", "--tmp-dir", str(scratch),
            "--save-counts", "counts.npz", "-o", "words.tsv", "-q"]
    ref, work, moment = run_then_kill(args, tmp_path, "discover",
                                      {"words.tsv": "an earlier result\n"})
    assert (work / "words.tsv").read_text(encoding="utf-8") in (
        "an earlier result\n", (ref / "words.tsv").read_text(encoding="utf-8")), moment
    timed(args, work)
    assert (work / "words.tsv").read_bytes() == (ref / "words.tsv").read_bytes(), moment
    assert (work / "counts.npz").read_bytes() == (ref / "counts.npz").read_bytes(), moment
    assert not debris(work, scratch), moment


def test_prepare_killed_then_run_again(corpus, tokdir, tmp_path):
    args = ["prepare", str(corpus), "--tokenizer", tokdir, "-o", "shards",
            "--docs-per-shard", "300", "-q"]
    ref, work, moment = run_then_kill(args, tmp_path, "prepare")
    manifest = work / "shards" / "manifest.json"
    if manifest.exists():  # what is on record is complete: each listed shard is intact
        from zhnlp.io import sha256_file

        for entry in json.loads(manifest.read_text())["shards"]:
            assert sha256_file(work / "shards" / entry["name"]) == entry["sha256"], moment
    timed(args, work)
    ref = ref / "shards"
    assert sorted(p.name for p in ref.rglob("*")) == \
        sorted(p.name for p in (work / "shards").rglob("*")), moment
    for path in ref.rglob("*"):
        if path.is_file():
            assert (work / "shards" / path.relative_to(ref)).read_bytes() == \
                path.read_bytes(), (moment, path.name)
    assert not debris(work), moment


def _losses(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "tokens_per_s"}
                for row in csv.DictReader(handle)]


def test_pretrain_killed_then_resumed(corpus, tokdir, tmp_path):
    shards = tmp_path / "shards"
    zhnlp("prepare", str(corpus), "--tokenizer", tokdir, "-o", str(shards), "-q")
    args = ["pretrain", "--data", str(shards), "--config", "tiny", "--out", "run",
            "--max-steps", "12", "--batch-size", "8", "--log-every", "1", "--save-every", "3",
            "--dropout", "0", "-q"]
    ref, work, moment = run_then_kill(args, tmp_path, "pretrain")
    again = args + (["--resume"] if (work / "run" / "checkpoint.pt").exists() else [])
    timed(again, work)
    assert _losses(work / "run") == _losses(ref / "run"), moment
    assert not debris(work), moment


def _scores(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    return {"seeds": results["seeds"], "mean": results["mean"]}


def test_finetune_killed_then_run_again_and_predict(tmp_path):
    need(DATA / "fewclue" / "eprstmt")
    data = tmp_path / "eprstmt"
    data.mkdir()
    for name, n in (("train_few_all.json", 64), ("dev_few_all.json", 32), ("test.json", 200)):
        src = (DATA / "fewclue" / "eprstmt" / name).read_text(encoding="utf-8").splitlines()
        (data / name).write_text("\n".join(src[:n]) + "\n", encoding="utf-8")
    args = ["finetune", "--task", "eprstmt", "--data", str(data), "--model", "tiny",
            "--out", "ft", "--epochs", "4", "--seeds", "1,2", "-q"]
    ref, work, moment = run_then_kill(args, tmp_path, "finetune")
    timed(args, work)
    assert _scores(work / "ft") == _scores(ref / "ft"), moment
    # prediction: killed, the earlier file stays; run again, the same file
    predict = ["predict", "--task", "eprstmt", "--data", str(data), "--model", "ft/best",
               "-o", "sub", "-q"]
    _, _, moment = run_then_kill(predict, tmp_path, "predict",
                                 {"sub/eprstmt_predict.json": "earlier\n"})
    done = (ref / "sub" / "eprstmt_predict.json").read_bytes()
    assert (work / "sub" / "eprstmt_predict.json").read_bytes() in (b"earlier\n", done), moment
    timed(predict, work)
    assert (work / "sub" / "eprstmt_predict.json").read_bytes() == done, moment
    assert not debris(work), moment


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
        time.sleep(0.02)


@pytest.mark.parametrize("command", ["discover-words", "prepare"])
def test_a_second_writer_of_the_same_output_is_refused(corpus, tokdir, tmp_path, command):
    args = {"discover-words": ["discover-words", str(corpus), "-o", "out", "-q"],
            "prepare": ["prepare", str(corpus), "--tokenizer", tokdir, "-o", "out", "-q"]}
    first = start(args[command], tmp_path)
    _wait_for(tmp_path / ".out.lock", first)
    second = zhnlp(*args[command], cwd=tmp_path)
    err = second.stderr.decode()
    assert second.returncode == 1 and f"(pid {first.pid})" in err and \
        "is writing it" in err, err
    assert first.wait() == 0, first.stderr.read().decode(errors="replace")
    ref = tmp_path / "ref"
    ref.mkdir()
    assert zhnlp(*args[command], cwd=ref).returncode == 0
    if command == "prepare":
        assert (tmp_path / "out" / "manifest.json").read_bytes() == \
            (ref / "out" / "manifest.json").read_bytes()
    else:
        assert (tmp_path / "out").read_bytes() == (ref / "out").read_bytes()
    assert not debris(tmp_path)
    shutil.rmtree(ref)
