"""The fault matrix: every command that writes, against every kind of bad input and every
clash of paths, on slices of the real data sets.

Each row runs the command as a user would and asserts exit 1 with exactly one ``error:`` line
naming the file (and line where there is one), no traceback, and the output path exactly as
it was before (absent, or an earlier result); usage errors exit 2; the rows that must work
(a UTF-8 BOM with CRLF line ends, missing parent folders) give the same result as clean input.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DATA, SIGHAN, need
from conftest import zhnlp_here as zhnlp

FEWCLUE = DATA / "fewclue"


# --------------------------------------------------------------------------- the inputs

def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@dataclass
class World:
    """Good inputs for every command, made once, and a folder per row for its outputs."""

    root: Path
    corpus: Path      # 300 real PKU test lines
    corpus_bytes: bytes
    tok: Path         # the Chinese BERT vocabulary as a tokenizer folder
    shards: Path      # zhnlp prepare of the corpus
    eprstmt: Path     # FewCLUE EPRSTMT slices: train 32, dev 16, test 16 lines
    model: Path       # a tiny model fine-tuned on them (finetune's OUT)
    run: Path         # a 4-step tiny pretraining run
    cmrc: Path        # CMRC 2018 trial: 12 questions as train and dev
    cluener: Path     # CLUENER: 40 train and 20 dev lines


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    res = zhnlp(*args, **kwargs)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res


@pytest.fixture(scope="module")
def world(tmp_path_factory, tokdir) -> World:
    need(SIGHAN / "pku_test.utf8")
    need(FEWCLUE / "eprstmt")
    root = tmp_path_factory.mktemp("faults")
    lines = (SIGHAN / "pku_test.utf8").read_text(encoding="utf-8").splitlines()[:300]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shards = root / "shards"
    _cli("prepare", str(corpus), "--tokenizer", tokdir, "-o", str(shards), "-q")
    eprstmt = root / "eprstmt"
    eprstmt.mkdir()
    for name, n in (("train_few_all.json", 32), ("dev_few_all.json", 16), ("test.json", 16)):
        src = (FEWCLUE / "eprstmt" / name).read_text(encoding="utf-8").splitlines()
        (eprstmt / name).write_text("\n".join(src[:n]) + "\n", encoding="utf-8")
    model = root / "ft"
    _cli("finetune", "--task", "eprstmt", "--data", str(eprstmt), "--model", "tiny",
         "--out", str(model), "--epochs", "1", "-q")
    run = root / "run"
    _cli("pretrain", "--data", str(shards), "--config", "tiny", "--out", str(run),
         "--max-steps", "4", "--batch-size", "4", "--log-every", "1", "--save-every", "2",
         "-q")
    cmrc = root / "cmrc"
    cmrc.mkdir()
    trial = json.loads(need(DATA / "cmrc2018" / "cmrc2018_trial.json").read_text("utf-8"))
    small = {"version": trial.get("version"), "data": trial["data"][:3]}
    for split in ("train", "dev"):
        (cmrc / f"cmrc2018_{split}.json").write_text(json.dumps(small, ensure_ascii=False,
                                                                indent=1), encoding="utf-8")
    cluener = root / "cluener"
    cluener.mkdir()
    for name, n in (("train.json", 40), ("dev.json", 20)):
        src = need(DATA / "cluener" / name).read_text(encoding="utf-8").splitlines()
        (cluener / name).write_text("\n".join(src[:n]) + "\n", encoding="utf-8")
    return World(root, corpus, corpus.read_bytes(), Path(tokdir), shards, eprstmt, model, run,
                 cmrc, cluener)


# Faults of a text file, made from the bytes of a good one: (name, bytes, line of the error)
def faulty_text(kind: str, good: bytes) -> tuple[bytes, int | None]:
    lines = good.split(b"\n")
    if kind == "empty":
        return b"", None
    if kind == "binary":  # a real binary file: the start of the Python interpreter
        return Path(sys.executable).resolve().read_bytes()[:8192], 1
    if kind == "gb18030":
        return good.decode("utf-8").encode("gb18030"), 1
    if kind == "nul":
        return b"\n".join(lines[:2] + [lines[2][:9] + b"\x00" + lines[2][9:]] + lines[3:]), 3
    if kind == "punctuation":
        return "，。！？……——《》“”\n".encode() * 50, None
    if kind == "bom_crlf":
        return b"\xef\xbb\xbf" + good.replace(b"\n", b"\r\n"), None
    raise ValueError(kind)


def place(path: Path, kind: str, good: bytes) -> int | None:
    """Put the faulty version of ``good`` at ``path``; returns the line an error names."""
    if kind == "missing":
        return None
    if kind == "folder":
        path.mkdir(parents=True)
        return None
    data, line = faulty_text(kind, good)
    path.write_bytes(data)
    return line


def snapshot(path: Path) -> object:
    """What is at ``path``: None, a file's bytes, or a folder's files and their bytes."""
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None
                for p in sorted(path.rglob("*"))}
    return path.read_bytes() if path.exists() else None


def assert_refused(res: subprocess.CompletedProcess, names: str, line: int | None = None,
                   code: int = 1) -> str:
    err = res.stderr.decode(errors="replace")
    assert res.returncode == code, (res.returncode, err[-2000:])
    assert "Traceback" not in err and "panicked" not in err, err[-2000:]
    if code == 2:  # click's usage error: one "Error:" line
        assert sum(line.startswith("Error:") for line in err.splitlines()) == 1, err
        return err
    errors = [x for x in err.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), err[-2000:]
    assert names in errors[0], (names, errors[0])
    if line is not None:
        assert f"{names}:{line}" in errors[0], (line, errors[0])
    return errors[0]


# --------------------------------------------------------------------------- text inputs

TEXT_FAULTS = ["missing", "folder", "empty", "binary", "gb18030", "nul"]


def text_commands(w: World, corpus: Path, out: Path) -> dict[str, list[str]]:
    return {
        "discover-words": ["discover-words", str(corpus), "-o", str(out), "-q"],
        "segment": ["segment", str(corpus), "-o", str(out), "-q"],
        "build-vocab": ["build-vocab", str(corpus), "-o", str(out), "-q"],
        "prepare": ["prepare", str(corpus), "--tokenizer", str(w.tok), "-o", str(out), "-q"],
    }


TEXT_COMMANDS = ["discover-words", "segment", "build-vocab", "prepare"]


@pytest.mark.parametrize("fault", TEXT_FAULTS)
@pytest.mark.parametrize("command", TEXT_COMMANDS)
def test_bad_text_input(world, tmp_path, command, fault):
    corpus = tmp_path / "in" / "corpus.txt"
    corpus.parent.mkdir()
    line = place(corpus, fault, world.corpus_bytes)
    out = tmp_path / "result"
    if command in ("discover-words", "segment"):
        out.write_text("an earlier result\n", encoding="utf-8")
    before = snapshot(out)
    res = zhnlp(*text_commands(world, corpus, out)[command])
    assert_refused(res, str(corpus), line)
    assert snapshot(out) == before


def test_only_punctuation_is_no_text_to_mine(world, tmp_path):
    corpus = tmp_path / "punct.txt"
    place(corpus, "punctuation", world.corpus_bytes)
    res = zhnlp("discover-words", str(corpus), "-o", str(tmp_path / "w.tsv"), "-q")
    assert "no text" in assert_refused(res, "")
    assert not (tmp_path / "w.tsv").exists()


@pytest.mark.parametrize("command", TEXT_COMMANDS)
def test_bom_and_crlf_give_the_same_result_as_clean_text(world, tmp_path, command):
    dirty = tmp_path / "dirty.txt"
    place(dirty, "bom_crlf", world.corpus_bytes)
    outs = []
    for name, corpus in (("clean", world.corpus), ("dirty", dirty)):
        out = tmp_path / name
        _cli(*text_commands(world, corpus, out)[command])
        if out.is_dir():
            manifest = out / "manifest.json"
            outs.append([s["sha256"] for s in json.loads(manifest.read_text())["shards"]]
                        if manifest.exists() else (out / "tokenizer.json").read_bytes())
        else:
            outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0]


def _long_line(path: Path) -> None:
    """A line of 17 MiB without a line break: the real PKU text, its line ends removed."""
    text = (SIGHAN / "pku_test.utf8").read_bytes().replace(b"\r", b"").replace(b"\n", b"")
    with open(path, "wb") as handle:
        while handle.tell() < 17 << 20:
            handle.write(text)


def test_a_line_of_tens_of_megabytes(tmp_path, tokdir):
    need(SIGHAN / "pku_test.utf8")
    corpus = tmp_path / "long.txt"
    _long_line(corpus)
    # mined in pieces of at most 16 MiB, in bounded memory (the peak is measured in a process
    # of its own: the wrapper's children are this run alone)
    probe = ("import resource, subprocess, sys;"
             "r = subprocess.run([sys.executable, '-c', 'from zhnlp.cli.main import main; main()',"
             f"'discover-words', {str(corpus)!r}, '--top', '20', '-q'], capture_output=True);"
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    code, peak_kib = map(int, res.stdout.split())
    assert code == 0, res.stderr
    assert peak_kib < 600_000, f"peak {peak_kib / 1024:.0f} MiB for a 17 MiB line"
    # line-oriented commands refuse it, naming the line
    for args in (["segment", str(corpus)], ["build-vocab", str(corpus), "-o", "tok"],
                 ["prepare", str(corpus), "--tokenizer", tokdir, "-o", "s"]):
        res = zhnlp(*args, "-q", cwd=tmp_path)
        assert "longer than 16 MiB" in assert_refused(res, str(corpus), 1)
    assert not (tmp_path / "tok").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_the_reader_holds_a_bounded_piece_of_a_long_line(tmp_path, monkeypatch, encoding):
    """However long a line, the reader yields pieces of at most LONG_LINE + one block, cut
    between characters (checked with a small LONG_LINE, and a block size to match)."""
    from zhnlp import io as zio

    monkeypatch.setattr(zio, "LONG_LINE", 1 << 16)
    monkeypatch.setattr(zio, "CHUNK_BYTES", 1 << 14)
    text = need(SIGHAN / "pku_test.utf8").read_text(encoding="utf-8").replace("\n", "")[:200_000]
    path = tmp_path / "long.txt"
    path.write_bytes(text.encode(encoding))
    pieces = list(zio.iter_text(str(path), encoding))
    assert "".join(pieces) == text
    assert len(pieces) > 5
    assert max(len(p.encode(encoding)) for p in pieces) <= (1 << 16) + (1 << 14)
    with pytest.raises(Exception, match=r"long.txt:1: a line longer than 0 MiB"):
        list(zio.iter_text(str(path), encoding, whole_lines=True))


# --------------------------------------------------------------------------- output clashes

def _clashes(w: World, tmp: Path) -> list[tuple[str, list[str], Path, str]]:
    """(name, command, the path that must stay untouched, what the error names)."""
    work = tmp / "work"
    work.mkdir()
    corpus = work / "corpus.txt"
    shutil.copy(w.corpus, corpus)
    hard, soft = work / "hard.txt", work / "soft.txt"
    os.link(corpus, hard)
    os.symlink(corpus, soft)
    lexicon = work / "lex.tsv"
    lexicon.write_text("word\n北京大学\n", encoding="utf-8")
    shards = tmp / "shards"
    shutil.copytree(w.shards, shards)
    other = work / "notes"
    other.mkdir()
    (other / "notes.md").write_text("mine\n", encoding="utf-8")
    finished = tmp / "ft"
    shutil.copytree(w.model, finished)
    run = tmp / "run"
    shutil.copytree(w.run, run)
    cache = tmp / "cache"
    (cache / "corpora").mkdir(parents=True)
    shutil.copy(w.corpus, cache / "corpora" / "reviews.txt")
    c, q = str(corpus), "-q"
    return [
        ("discover -o corpus", ["discover-words", c, "-o", c, q], corpus, c),
        ("discover -o hard link", ["discover-words", c, "-o", str(hard), q], corpus, str(hard)),
        ("discover -o symlink", ["discover-words", c, "-o", str(soft), q], corpus, str(soft)),
        ("discover --save-counts corpus", ["discover-words", c, "--save-counts", c, q], corpus,
         c),
        ("segment -o corpus", ["segment", c, "-o", c, q], corpus, c),
        ("segment -o symlink", ["segment", c, "-o", str(soft), q], corpus, str(soft)),
        ("segment -o lexicon", ["segment", c, "--lexicon", str(lexicon), "-o", str(lexicon), q],
         lexicon, str(lexicon)),
        ("build-vocab -o corpus", ["build-vocab", c, "-o", c, q], corpus, c),
        ("build-vocab -o corpus folder", ["build-vocab", c, "-o", str(work), q], work,
         str(work)),
        ("build-vocab -o other folder", ["build-vocab", c, "-o", str(other), q], other,
         str(other)),
        ("prepare -o corpus folder", ["prepare", c, "--tokenizer", str(w.tok), "-o", str(work),
                                      q], work, str(work)),
        ("prepare -o tokenizer", ["prepare", c, "--tokenizer", str(w.tok), "-o", str(w.tok), q],
         w.tok, str(w.tok)),
        ("pretrain --out data", ["pretrain", "--data", str(shards), "--config", "tiny",
                                 "--out", str(shards), "--max-steps", "1", q], shards,
         str(shards)),
        ("finetune --out data", ["finetune", "--task", "eprstmt", "--data", str(w.eprstmt),
                                 "--model", "tiny", "--out", str(w.eprstmt), q], w.eprstmt,
         str(w.eprstmt)),
        ("finetune into a finished run", ["finetune", "--task", "eprstmt", "--data",
                                          str(w.eprstmt), "--model", "tiny", "--out",
                                          str(finished), q], finished, str(finished)),
        ("predict --all-tasks -o corpus", ["predict", "--all-tasks", "--data", str(tmp),
                                           "--model", str(tmp), "-o", c, q], corpus, c),
        ("predict -o a file", ["predict", "--task", "eprstmt", "--data", str(w.eprstmt),
                               "--model", str(w.model), "-o", c, q], corpus, c),
        ("plot-run -o metrics", ["plot-run", str(run), "-o", str(run / "metrics.csv"), q], run,
         str(run / "metrics.csv")),
        ("corpus get -o the cache", ["corpus", "get", "reviews", "-o",
                                     str(cache / "corpora" / "reviews.txt"), q], cache,
         str(cache / "corpora" / "reviews.txt")),
    ]


def test_an_output_never_replaces_an_input(world, tmp_path):
    """Every row in one test: the clashes share their (copied) inputs."""
    rows = _clashes(world, tmp_path)
    env = {**os.environ, "ZHNLP_CACHE": str(tmp_path / "cache")}
    for name, args, keep, names in rows:
        before = snapshot(keep)
        res = zhnlp(*args, env=env)
        try:
            assert_refused(res, names)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        assert snapshot(keep) == before, name


def test_missing_parent_folders_are_created(world, tmp_path):
    deep = tmp_path / "a" / "b"
    _cli("discover-words", str(world.corpus), "-o", str(deep / "w.tsv"), "--top", "5", "-q")
    _cli("segment", str(world.corpus), "-o", str(deep / "seg.txt"), "-q")
    _cli("plot-run", str(world.run), "-o", str(deep / "c" / "curves.png"), "-q")
    _cli("predict", "--task", "eprstmt", "--data", str(world.eprstmt), "--model",
         str(world.model / "best"), "-o", str(deep / "sub"), "-q")
    assert (deep / "w.tsv").stat().st_size and (deep / "seg.txt").stat().st_size
    assert (deep / "c" / "curves.png").exists() and (deep / "sub" / "eprstmt_predict.json")
    # results get the usual mode (umask), not mkstemp's private 0600
    assert (deep / "w.tsv").stat().st_mode & 0o777 == 0o666 & ~_umask()
    leftovers = [p for p in tmp_path.rglob(".*") if p.name.endswith((".tmp", ".lock"))]
    assert not leftovers


def test_what_a_killed_run_left_is_removed_by_the_next(world, tmp_path):
    """The temporary files of an interrupted write (beside a file output, inside a folder
    output) and a dead process's scratch folder go; a user's own files stay."""
    out = tmp_path / "w.tsv"
    left = [tmp_path / ".w.tsv.k3j_x9a2.tmp", tmp_path / "s" / ".shard-00000.npy.abcdefgh.tmp",
            tmp_path / "s" / ".tokenizer.0a1b2c3d.tmp" / "vocab.txt"]
    mine = [tmp_path / ".w.tsv.backup", tmp_path / "s" / "notes.tmp"]
    scratch = tmp_path / "scratch"
    dead = scratch / "zhnlp-mine-999999999-abc" / "units.i32"
    alive = scratch / f"zhnlp-mine-{os.getpid()}-abc" / "units.i32"
    for path in (*left, *mine, dead, alive):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    _cli("discover-words", str(world.corpus), "-o", str(out), "--tmp-dir", str(scratch), "-q")
    _cli("prepare", str(world.corpus), "--tokenizer", str(world.tok), "-o",
         str(tmp_path / "s"), "-q")
    assert not any(p.exists() for p in left) and not dead.parent.exists()
    assert all(p.exists() for p in mine) and alive.exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


ENTRY = [sys.executable, "-c", "from zhnlp.cli.main import main; main()"]


def test_a_read_only_output_folder(world):
    """Root ignores permissions, so as root the commands run as nobody (setpriv), from a
    folder that nobody may read; where nobody cannot run this Python, the test says so."""
    import tempfile

    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] \
        if os.geteuid() == 0 else []
    if as_user and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: a read-only folder stops nothing")
    base = Path(tempfile.mkdtemp(prefix="zhnlp-faults-"))
    try:
        base.chmod(0o755)
        env = {**os.environ, "HOME": str(base), "MPLCONFIGDIR": str(base)}
        probe = subprocess.run([*as_user, sys.executable, "-c", "import zhnlp.cli.main"],
                               capture_output=True, cwd=base, env=env)
        if probe.returncode:
            pytest.skip("the unprivileged user cannot import zhnlp from this checkout: "
                        + probe.stderr.decode(errors="replace").strip().splitlines()[-1])
        corpus = base / "corpus.txt"
        shutil.copy(world.corpus, corpus)
        corpus.chmod(0o644)
        locked = base / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        for args in (["discover-words", str(corpus), "-o", str(locked / "w.tsv")],
                     ["segment", str(corpus), "-o", str(locked / "seg.txt")],
                     ["segment", str(corpus), "-o", str(locked / "new" / "seg.txt")]):
            res = subprocess.run([*as_user, *ENTRY, *args, "-q"], capture_output=True,
                                 cwd=base, env=env)
            assert "Permission denied" in assert_refused(res, str(locked / "")), args
        assert os.listdir(locked) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_file_where_an_output_folder_belongs(world, tmp_path):
    corpus = tmp_path / "corpus.txt"
    shutil.copy(world.corpus, corpus)
    for args in (["discover-words", str(corpus), "-o", str(corpus / "w.tsv")],
                 ["prepare", str(corpus), "--tokenizer", str(world.tok), "-o",
                  str(corpus / "s")],
                 ["pretrain", "--data", str(world.shards), "--config", "tiny", "--out",
                  str(corpus / "r")],
                 ["finetune", "--task", "eprstmt", "--data", str(world.eprstmt), "--model",
                  "tiny", "--out", str(corpus / "f")],
                 ["predict", "--task", "eprstmt", "--data", str(world.eprstmt), "--model",
                  str(world.model / "best"), "-o", str(corpus / "p")],
                 ["plot-run", str(world.run), "-o", str(corpus / "c.png")]):
        res = zhnlp(*args, "-q")
        assert f"{corpus} is a file" in assert_refused(res, str(corpus / "")), args[0]
    # and a corpus cache that cannot be made
    res = zhnlp("corpus", "get", "reviews", "-q", env={**os.environ,
                                                       "ZHNLP_CACHE": str(corpus / "c")})
    assert "ZHNLP_CACHE" in assert_refused(res, str(corpus))
    assert corpus.read_bytes() == world.corpus_bytes


# --------------------------------------------------------------------------- CLUE data

def _edit_line(path: Path, index: int, change: Callable[[dict], object]) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[index])
    lines[index] = json.dumps(change(obj), ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def _clue_fault(folder: Path, fault: str, split: str = "train_few_all.json",
                ) -> tuple[Path, int | None]:
    """Damage the EPRSTMT copy in ``folder`` (``split``'s file for the faults of one file);
    returns (the file or folder the error names, its line)."""
    train, dev, test = folder / split, folder / "dev_few_all.json", folder / "test.json"
    if fault == "missing":
        train.unlink()
        return folder, None
    if fault == "folder":
        train.unlink()
        train.mkdir()
        return train, None
    if fault in ("empty", "binary", "gb18030", "nul"):
        data, line = faulty_text(fault, train.read_bytes())
        train.write_bytes(data)
        return train, line
    if fault == "truncated last line":
        data = train.read_bytes().rstrip(b"\n")
        train.write_bytes(data[:-25])
        return train, data.count(b"\n") + 1
    if fault == "array for an object":
        lines = train.read_text(encoding="utf-8").splitlines()
        lines[4] = json.dumps([json.loads(lines[4])], ensure_ascii=False)
        train.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return train, 5
    if fault == "missing field":
        return train, _edit_line(train, 6, lambda o: {k: v for k, v in o.items()
                                                      if k != "sentence"})
    if fault == "unknown label":
        return train, _edit_line(train, 9, lambda o: {**o, "label": "Neutral"})
    if fault == "empty dev set":
        dev.write_bytes(b"")
        return dev, None
    if fault in ("null id", "list id", "duplicate id"):
        first = json.loads(test.read_text(encoding="utf-8").splitlines()[0])["id"]
        value = {"null id": None, "list id": [3], "duplicate id": first}[fault]
        return test, _edit_line(test, 5, lambda o: {**o, "id": value})
    raise ValueError(fault)


CLUE_FAULTS = ["missing", "folder", "empty", "binary", "gb18030", "nul", "truncated last line",
               "array for an object", "missing field", "unknown label", "empty dev set"]


# predict reads the unlabelled test split: the faults of a file, and a missing one
PREDICT_FAULTS = ["missing", "folder", "empty", "binary", "gb18030", "nul",
                  "truncated last line", "array for an object", "missing field"]


@pytest.mark.parametrize(("command", "fault"), [
    *(("finetune", f) for f in CLUE_FAULTS), *(("evaluate", f) for f in CLUE_FAULTS),
    *(("predict", f) for f in PREDICT_FAULTS)])
def test_bad_clue_data(world, tmp_path, command, fault):
    data = tmp_path / "eprstmt"
    shutil.copytree(world.eprstmt, data)
    split = {"finetune": "train_few_all.json", "evaluate": "dev_few_all.json",
             "predict": "test.json"}[command]
    names, line = _clue_fault(data, fault, split)
    out = tmp_path / "out"
    model = str(world.model / "best")
    args = {"finetune": ["finetune", "--task", "eprstmt", "--data", str(data), "--model",
                         "tiny", "--out", str(out), "--epochs", "1"],
            "evaluate": ["evaluate", "--task", "eprstmt", "--data", str(data), "--model", model],
            "predict": ["predict", "--task", "eprstmt", "--data", str(data), "--model", model,
                        "-o", str(out)]}[command]
    res = zhnlp(*args, "-q")
    assert_refused(res, str(names), line)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("fault", ["missing", "no manifest", "broken manifest",
                                   "truncated shard", "missing shard"])
def test_bad_pretraining_data(world, tmp_path, fault):
    shards = tmp_path / "shards"
    if fault != "missing":
        shutil.copytree(world.shards, shards)
    names = shards
    if fault == "no manifest":
        (shards / "manifest.json").unlink()
    elif fault == "broken manifest":
        names = shards / "manifest.json"
        names.write_text(names.read_text()[:100])
    elif fault in ("truncated shard", "missing shard"):
        names = shards / "shard-00000.npy"
        data = names.read_bytes()
        names.unlink()
        if fault == "truncated shard":
            names.write_bytes(data[:len(data) // 2])
    out = tmp_path / "run"
    res = zhnlp("pretrain", "--data", str(shards), "--config", "tiny", "--out", str(out), "-q")
    assert_refused(res, str(names))
    assert not out.exists()


@pytest.mark.parametrize("fault", ["null id", "list id", "duplicate id"])
def test_bad_ids_are_refused_before_predicting(world, tmp_path, fault):
    data = tmp_path / "eprstmt"
    shutil.copytree(world.eprstmt, data)
    names, line = _clue_fault(data, fault)
    res = zhnlp("predict", "--task", "eprstmt", "--data", str(data), "--model",
                str(world.model / "best"), "-o", str(tmp_path / "sub"), "-q")
    assert_refused(res, str(names), line)
    assert not (tmp_path / "sub" / "eprstmt_predict.json").exists()


def test_clue_bom_and_crlf_work(world, tmp_path):
    data = tmp_path / "eprstmt"
    shutil.copytree(world.eprstmt, data)
    for path in data.iterdir():
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    clean = _cli("evaluate", "--task", "eprstmt", "--data", str(world.eprstmt), "--model",
                 str(world.model / "best"), "--json", "-q").stdout
    assert _cli("evaluate", "--task", "eprstmt", "--data", str(data), "--model",
                str(world.model / "best"), "--json", "-q").stdout == clean


def test_cmrc_answer_away_from_its_offset(world, tmp_path):
    data = tmp_path / "cmrc"
    shutil.copytree(world.cmrc, data)
    path = data / "cmrc2018_train.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    qa = doc["data"][1]["paragraphs"][0]["qas"][2]
    qa["answers"][0]["text"] = "不在文中的答案"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    line = next(i for i, x in enumerate(path.read_text("utf-8").splitlines(), 1)
                if f'"{qa["id"]}"' in x)
    res = zhnlp("finetune", "--task", "cmrc2018", "--data", str(data), "--model", "tiny",
                "--out", str(tmp_path / "out"), "-q")
    assert "not at its answer_start" in assert_refused(res, str(path), line)


def test_cmrc_long_question_and_a_tiny_window(world, tmp_path):
    data = tmp_path / "cmrc"
    shutil.copytree(world.cmrc, data)
    path = data / "cmrc2018_train.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    para = doc["data"][0]["paragraphs"][0]
    para["qas"][0]["question"] = para["context"][:300]  # a question longer than any window
    doc["data"] = doc["data"][:1]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (data / "cmrc2018_dev.json").write_text(json.dumps(doc, ensure_ascii=False),
                                            encoding="utf-8")
    for max_len in ("16", "64"):
        _cli("finetune", "--task", "cmrc2018", "--data", str(data), "--model", "tiny",
            "--out", str(tmp_path / f"out{max_len}"), "--max-len", max_len,
            "--epochs", "1", "-q")
        assert json.loads((tmp_path / f"out{max_len}" / "results.json").read_text())["seeds"]


def test_cluener_span_out_of_range(world, tmp_path):
    data = tmp_path / "cluener"
    shutil.copytree(world.cluener, data)
    line = _edit_line(data / "train.json", 7,
                      lambda o: {**o, "label": {"name": {"某人": [[5, 500]]}}})
    res = zhnlp("finetune", "--task", "cluener", "--data", str(data), "--model", "tiny",
                "--out", str(tmp_path / "out"), "-q")
    assert "outside the text" in assert_refused(res, str(data / "train.json"), line)


# --------------------------------------------------------------------------- sizes (usage)

def test_zero_and_negative_sizes_are_usage_errors(world, tmp_path):
    c, out, q = str(world.corpus), str(tmp_path / "out"), "-q"
    fine = ["finetune", "--task", "eprstmt", "--data", str(world.eprstmt), "--model", "tiny",
            "--out", out]
    train = ["pretrain", "--data", str(world.shards), "--config", "tiny", "--out", out]
    for args in (["discover-words", c, "--top", "0"], ["discover-words", c, "--min-count", "0"],
                 ["discover-words", c, "--max-len", "1"], ["discover-words", c, "--workers", "0"],
                 ["segment", c, "--workers", "-1"], ["build-vocab", c, "-o", out, "--size", "0"],
                 ["prepare", c, "--tokenizer", str(world.tok), "-o", out, "--max-len", "0"],
                 ["prepare", c, "--tokenizer", str(world.tok), "-o", out, "--docs-per-shard",
                  "0"],
                 [*train, "--max-steps", "0"], [*train, "--batch-size", "-4"],
                 [*train, "--lr", "-1"], [*train, "--lr", "0"], [*fine, "--lr", "-1"],
                 [*fine, "--epochs", "0"], [*fine, "--batch-size", "0"],
                 [*fine, "--max-len", "8"]):
        assert_refused(zhnlp(*args, q), "", code=2)
        assert not Path(out).exists(), args


# --------------------------------------------------------------------------- silent wrong results

def test_prepare_into_shards_of_another_corpus(world, tmp_path):
    shards = tmp_path / "shards"
    shutil.copytree(world.shards, shards)
    before = snapshot(shards)
    other = tmp_path / "other.txt"
    lines = (SIGHAN / "pku_test.utf8").read_text(encoding="utf-8").splitlines()[300:600]
    other.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = zhnlp("prepare", str(other), "--tokenizer", str(world.tok), "-o", str(shards), "-q")
    assert "another corpus" in assert_refused(res, str(shards))
    assert snapshot(shards) == before
    # the same corpus again: nothing to do, the same shards
    _cli("prepare", str(world.corpus), "--tokenizer", str(world.tok), "-o", str(shards), "-q")
    assert snapshot(shards) == before


def test_a_broken_tokenizer(world, tmp_path):
    tok = tmp_path / "tok"
    shutil.copytree(world.tok, tok)
    (tok / "tokenizer.json").write_text('{"model": {"type": "WordPiece", "vocab": [1, 2',
                                        encoding="utf-8")
    res = zhnlp("prepare", str(world.corpus), "--tokenizer", str(tok), "-o",
                str(tmp_path / "s"), "-q")
    assert_refused(res, str(tok / "tokenizer.json"))
    assert not (tmp_path / "s").exists()
    model = tmp_path / "model"
    shutil.copytree(world.model / "best", model)
    shutil.copy(tok / "tokenizer.json", model / "tokenizer.json")
    res = zhnlp("finetune", "--task", "eprstmt", "--data", str(world.eprstmt), "--model",
                str(model), "--out", str(tmp_path / "f"), "-q")
    assert "tokenizer" in assert_refused(res, str(model))
    res = zhnlp("predict", "--task", "eprstmt", "--data", str(world.eprstmt), "--model",
                str(model), "-o", str(tmp_path / "p"), "-q")
    assert "tokenizer" in assert_refused(res, str(model))
    assert not (tmp_path / "p" / "eprstmt_predict.json").exists()


def test_pretrain_resume_refuses_other_data_settings_or_a_swapped_shard(world, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    before = snapshot(run)
    common = ["pretrain", "--config", "tiny", "--out", str(run), "--max-steps", "6",
              "--batch-size", "4", "--log-every", "1", "--save-every", "2", "--resume", "-q"]
    # another corpus's shards
    other_corpus = tmp_path / "other.txt"
    lines = (SIGHAN / "pku_test.utf8").read_text(encoding="utf-8").splitlines()[300:600]
    other_corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    other = tmp_path / "other"
    _cli("prepare", str(other_corpus), "--tokenizer", str(world.tok), "-o", str(other), "-q")
    res = zhnlp(*common, "--data", str(other))
    assert "other shards" in assert_refused(res, str(run))
    # the same shards with one replaced by a file of the same shape
    swapped = tmp_path / "swapped"
    shutil.copytree(world.shards, swapped)
    shard = swapped / "shard-00000.npy"
    import numpy as np

    array = np.load(shard)
    np.save(shard, array[::-1].copy())
    res = zhnlp(*common, "--data", str(swapped))
    assert "other shards" in assert_refused(res, str(run))
    # another model size or masking
    res = zhnlp(*[a if a != "tiny" else "small" for a in common], "--data", str(world.shards))
    assert "other settings" in assert_refused(res, str(run))
    res = zhnlp(*common, "--data", str(world.shards), "--masking", "char")
    assert "mask_strategy" in assert_refused(res, str(run))
    assert snapshot(run) == before
    # the same settings and data resume
    _cli(*common, "--data", str(world.shards))


def test_plot_run_on_a_truncated_metrics_file(world, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    metrics = run / "metrics.csv"
    text = metrics.read_text()
    metrics.write_text(text[:-40])
    line = text[:-40].count("\n") + 1
    res = zhnlp("plot-run", str(run), "-q")
    assert_refused(res, str(metrics), line)
    assert not (run / "curves.png").exists()


def test_missing_rules_and_tmp_folders(world, tmp_path):
    for option in ("--rules-dir", "--tmp-dir"):
        res = zhnlp("discover-words", str(world.corpus), option, str(tmp_path / "none"),
                    "-o", str(tmp_path / "w.tsv"), "-q")
        assert option in assert_refused(res, str(tmp_path / "none"))
    assert not (tmp_path / "w.tsv").exists()
