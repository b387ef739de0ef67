"""Time and peak memory of `zhnlp discover-words` on 10 MB, 100 MB and 1 GB of real text.

The inputs concatenate the `news` and `reviews` corpora (32.6 MB of real Chinese text
together), repeated as needed, into files under --work (deleted afterwards). Peak memory is
the largest resident set of the main process and its workers (each measured by wait4).

    python benchmarks/scaling.py [--sizes 10,100,1000] [--workers 2] [--work /tmp]
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


def build(path: Path, megabytes: int, sources: list[Path]) -> None:
    target = megabytes * 10**6
    written = 0
    with open(path, "wb") as out:
        while written < target:
            for src in sources:
                data = src.read_bytes()
                data = data[:max(target - written, 0)]
                cut = data.rfind(b"\n") + 1 if written + len(data) >= target else len(data)
                out.write(data[:cut])
                written += cut
                if written >= target or cut == 0:
                    return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000", help="megabytes, comma-separated")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default=tempfile.gettempdir())
    ap.add_argument("--out", default=str(HERE / "out"))
    args = ap.parse_args()
    zhnlp = shutil.which("zhnlp") or str(Path(sys.executable).parent / "zhnlp")
    sources = [Path(subprocess.run([zhnlp, "corpus", "get", name], check=True, text=True,
                                   capture_output=True).stdout.strip())
               for name in ("news", "reviews")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        for mb in (int(s) for s in args.sizes.split(",")):
            corpus = Path(tmp) / f"corpus-{mb}MB.txt"
            build(corpus, mb, sources)
            size = corpus.stat().st_size
            start = time.perf_counter()
            proc = subprocess.Popen([zhnlp, "discover-words", str(corpus), "-q", "--workers",
                                     str(args.workers), "--tmp-dir", tmp, "-o",
                                     f"{tmp}/words.tsv"], stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "failed")
            words = sum(1 for _ in open(f"{tmp}/words.tsv", encoding="utf-8")) - 1
            rows.append({"mb": size / 1e6, "wall_s": wall,
                         "cpu_s": usage.ru_utime + usage.ru_stime,
                         "peak_gb": usage.ru_maxrss / 2**20, "words": words})
            print(rows[-1], flush=True)
            corpus.unlink()
    lines = [f"workers: {args.workers}", "",
             "| input MB | wall s | CPU s (all processes) | peak RSS GB (largest process) "
             "| MB/s | words |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mb']:.0f} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                     f"{r['peak_gb']:.2f} | {r['mb'] / r['wall_s']:.1f} | {r['words']:,} |")
    report = "\n".join(lines)
    print(report)
    (out / "scaling.md").write_text(report + "\n", encoding="utf-8")
    (out / "scaling.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
