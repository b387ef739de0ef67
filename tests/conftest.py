"""Shared fixtures: the real data sets of ../shared/data (tests skip with a reason without them)."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIGHAN = DATA / "sighan2005"


def zhnlp(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    """Run the ``zhnlp`` command as a user would (output captured)."""
    cmd = [sys.executable, "-c", "from zhnlp.cli.main import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, **kwargs)


def zhnlp_here(*args: str, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``zhnlp`` run through its entry point in this process, as :func:`zhnlp` would run it
    (exit code, stdout, stderr), without a new interpreter's imports (torch: seconds)."""
    import contextlib
    import io
    import os

    from zhnlp.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    code = 0
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = ["zhnlp", *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(["zhnlp", *args], code, out.getvalue().encode(),
                                       err.getvalue().encode())


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found: {path} (the shared data folder is absent)")
    return path


@pytest.fixture(scope="session")
def pku_lines() -> list[str]:
    """The raw text of the SIGHAN 2005 PKU test set, one line per sentence group."""
    return need(SIGHAN / "pku_test.utf8").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def pku_words() -> Path:
    """The PKU training word list (the bakeoff's known words)."""
    return need(SIGHAN / "pku_training_words.utf8")


@pytest.fixture(scope="session")
def pku_gold() -> set[str]:
    text = need(SIGHAN / "pku_test_gold.utf8").read_text(encoding="utf-8")
    return {unicodedata.normalize("NFKC", w) for w in text.split()}


@pytest.fixture(scope="session")
def eprstmt_sentences() -> list[str]:
    """The raw review sentences of FewCLUE EPRSTMT's unlabeled split (real, with Latin)."""
    import json

    path = need(DATA / "fewclue" / "eprstmt" / "unlabeled.json")
    return [json.loads(line)["sentence"] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def bert_vocab() -> Path:
    return need(DATA / "vocab" / "bert-chinese-vocab.txt")


@pytest.fixture(scope="session")
def tokdir(bert_vocab: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Chinese BERT's real vocabulary as a tokenizer directory (what build-vocab --vocab makes)."""
    from zhnlp.vocab import save_tokenizer, tokenizer_from_vocab

    path = tmp_path_factory.mktemp("tok") / "tok"
    save_tokenizer(tokenizer_from_vocab(str(bert_vocab)), str(path))
    return str(path)
