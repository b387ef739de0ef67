"""Speed and memory of `zhnlp discover-words` against SmoothNLP, jiagu and nlp-zero, in one run.

Every tool mines the same real corpus (default: the `reviews` corpus, 35k reviews, 2.6M
characters) in a process of its own, three times (the median run is kept: timings on this
shared machine vary by 20-30%); we report CPU seconds (user + system), wall seconds,
peak RSS, bytes of peak memory per input character, and each peer's CPU time over ours.
zhnlp runs with its default settings (rules included). The peers run from their own virtual
environment (they need old pandas and numpy), made as ../shared/PEERS.md says:

    python3 -m venv peers && peers/bin/pip install jieba==0.42.1 jiagu "pandas<2" "numpy<2" \\
        pygtrie requests networkx
    peers/bin/pip download --no-deps -d dl smoothnlp nlp-zero
    peers/bin/pip install --no-deps dl/*
    python benchmarks/speed_peers.py [--corpus FILE] [--peers-python peers/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PEERS = {
    # SmoothNLP: cohesion and both entropies, 2-5 characters, min_freq 5.
    "smoothnlp": """
from smoothnlp.algorithm.phrase import extract_phrase
lines = [l for l in open(CORPUS, encoding="utf-8").read().splitlines() if l.strip()]
words = extract_phrase(lines, top_k=10**9)
open(OUT, "w", encoding="utf-8").write("\\n".join(words))
""",
    # nlp-zero: cohesion only.
    "nlp-zero": """
import collections, collections.abc
collections.Iterable = collections.abc.Iterable
from nlp_zero import Word_Finder
lines = [l for l in open(CORPUS, encoding="utf-8").read().splitlines() if l.strip()]
f = Word_Finder(min_proba=1e-6)
f.train(iter(lines))
f.find(iter(lines))
open(OUT, "w", encoding="utf-8").write("\\n".join(f.words))
""",
}
# jiagu: cohesion and entropy; its findword.py alone (importing jiagu loads models we do not time).
PEERS["jiagu"] = """
import importlib.util, os, sys
spec = importlib.util.find_spec("jiagu")
path = os.path.join(list(spec.submodule_search_locations)[0], "findword.py")
mod_spec = importlib.util.spec_from_file_location("findword", path)
findword = importlib.util.module_from_spec(mod_spec)
mod_spec.loader.exec_module(findword)
findword.new_word_find(CORPUS, OUT)
"""


def measure(cmd: list[str], repeat: int = 3) -> dict[str, float]:
    """Run ``cmd`` ``repeat`` times; the run with the median CPU time (its CPU seconds, wall
    seconds and peak RSS in MB, from wait4)."""
    runs = sorted((measure_once(cmd) for _ in range(repeat)), key=lambda r: r["cpu_s"])
    return runs[len(runs) // 2]


def measure_once(cmd: list[str]) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {err[-2000:]}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall,
            "peak_mb": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None, help="default: `zhnlp corpus get reviews`")
    ap.add_argument("--peers-python", default=str(HERE.parent / "peers" / "bin" / "python"))
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the median is kept")
    args = ap.parse_args()
    zhnlp = shutil.which("zhnlp") or str(Path(sys.executable).parent / "zhnlp")
    corpus = args.corpus or subprocess.run([zhnlp, "corpus", "get", "reviews"], check=True,
                                           capture_output=True, text=True).stdout.strip()
    text = Path(corpus).read_text(encoding="utf-8")
    chars = sum(1 for c in text if not c.isspace())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["zhnlp"] = measure([zhnlp, "discover-words", corpus, "-q",
                                 "-o", f"{tmp}/zhnlp.tsv"], args.repeat)
        rows["zhnlp"]["words"] = sum(1 for _ in open(f"{tmp}/zhnlp.tsv", encoding="utf-8")) - 1
        # statistics alone, as the peers do them (no rules, no segmenter)
        rows["zhnlp --no-rules"] = measure([zhnlp, "discover-words", corpus, "-q", "--no-rules",
                                            "--base", "none", "-o", f"{tmp}/plain.tsv"],
                                           args.repeat)
        rows["zhnlp --no-rules"]["words"] = sum(1 for _ in open(f"{tmp}/plain.tsv",
                                                                encoding="utf-8")) - 1
        if not args.skip_peers:
            for name, code in PEERS.items():
                target = f"{tmp}/{name}.txt"
                prog = f"CORPUS = {corpus!r}\nOUT = {target!r}\n{code}"
                rows[name] = measure([args.peers_python, "-c", prog], args.repeat)
                with open(target, encoding="utf-8", errors="replace") as handle:
                    rows[name]["words"] = sum(1 for line in handle if line.strip())
    ours = rows["zhnlp"]["cpu_s"]
    lines = [f"corpus: {corpus} ({chars:,} characters)", "",
             "| tool | CPU s | wall s | peak RSS MB | bytes/char | words | CPU time / zhnlp's |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] * 2**20 / chars:.0f} | {r['words']:,} | "
                     f"{r['cpu_s'] / ours:.1f}x |")
    report = "\n".join(lines)
    print(report)
    (out / "speed_peers.md").write_text(report + "\n", encoding="utf-8")
    (out / "speed_peers.json").write_text(json.dumps({"chars": chars, **rows}, indent=1))


if __name__ == "__main__":
    main()
