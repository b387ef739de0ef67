"""Exact n-gram counting on integer arrays, level by level, with bounded memory.

The corpus is a flat array of unit ids (see :mod:`zhnlp.discovery.normalize`) kept in a file
on disk and read in shards.  Level ``n`` holds the n-grams seen at least ``min_count`` times
as a sorted ``int64`` key array: the key of an n-gram is ``prefix_row * V + last_unit``, where
``prefix_row`` is the row of its first ``n - 1`` units in level ``n - 1`` and ``V`` the size of
the unit id space.  An n-gram can only reach ``min_count`` if its prefix does (Apriori), so
level ``n + 1`` is counted only at positions whose n-gram is frequent; memory follows the
number of frequent n-grams and their distinct neighbours, not the corpus.

While counting level ``n + 1`` the distinct right neighbours (``w + c``) and left neighbours
(``c + w``) of every frequent n-gram ``w`` are counted exactly, however rare, and reduced to
``sum(k)`` and ``sum(k log k)`` over each n-gram's neighbours: all that branching entropy
needs.  Occurrences at a boundary are left out of those sums, so each counts as a neighbour
of its own (see :mod:`zhnlp.discovery.stats`).

Shard results merge exactly (counts add up), which is what ``--workers`` and saved count
files rely on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from zhnlp.discovery.normalize import BOUNDARY, RUN_BASE, Cut, encode, unit_text
from zhnlp.errors import InputError, ZhnlpError
from zhnlp.io import atomic_write
from zhnlp.parallel import bounded_imap, make_pool

FORMAT = "zhnlp-ngram-counts/1"


# --------------------------------------------------------------------------- small array helpers

def reduce_sorted(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the counts of equal keys in a sorted key array."""
    if keys.size == 0:
        return keys, counts
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(counts, starts)


def find_sorted(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each key in the sorted ``table``, -1 where it is absent."""
    if table.size == 0:
        return np.full(keys.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(table, keys), table.size - 1)
    return np.where(table[pos] == keys, pos, -1)


def merge_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted (keys, counts) pairs into one, adding the counts of equal keys."""
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([k for k, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    # The parts are sorted runs, which the stable sort (timsort) merges in linear time.
    order = np.argsort(keys, kind="stable")
    return reduce_sorted(keys[order], counts[order])


class CountMerger:
    """Accumulate sorted (keys, counts) parts, merging parts of similar size as they come.

    Merging like sizes (as a binary counter does) keeps the total work at O(N log k) for k
    parts and the memory at about twice the merged result.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self._stack.append((keys, counts))
        while len(self._stack) > 1 and self._stack[-2][0].size <= 2 * self._stack[-1][0].size:
            top = self._stack.pop()
            self._stack[-1] = merge_counts([self._stack[-1], top])

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return merge_counts(self._stack)


def unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and how often each occurs."""
    keys, counts = np.unique(keys, return_counts=True)
    return keys, counts.astype(np.int64)


def neighbour_sums(groups: np.ndarray, counts: np.ndarray,
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the total count of its neighbours and ``sum(k * log k)`` over them."""
    total = np.bincount(groups, weights=counts, minlength=size).astype(np.int64)
    nlogn = np.bincount(groups, weights=counts * np.log(np.maximum(counts, 1)), minlength=size)
    return total, nlogn


# --------------------------------------------------------------------------- the counts

@dataclass
class NgramCounts:
    """Counts of every n-gram of 1 to ``max_n`` units seen at least ``min_count`` times.

    ``keys[n - 1]`` and ``counts[n - 1]`` are level ``n`` (see the module docstring for the
    key layout).  ``right_total[n - 1]``/``right_nlogn[n - 1]`` (and the left ones) hold, for
    every row of level ``n < max_n``, the sum of its right (left) neighbours' counts and of
    ``k log k`` over them, rare neighbours included.
    """

    runs: list[str]
    total: int
    min_count: int
    keys: list[np.ndarray]
    counts: list[np.ndarray]
    right_total: list[np.ndarray] = field(default_factory=list)
    right_nlogn: list[np.ndarray] = field(default_factory=list)
    left_total: list[np.ndarray] = field(default_factory=list)
    left_nlogn: list[np.ndarray] = field(default_factory=list)
    # Latin case folded: ``runs`` are lower-cased keys, ``forms`` the form shown for each
    # (the one seen most); without folding ``forms`` is None and the runs show as they are
    forms: list[str] | None = None
    _grams: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def folded(self) -> bool:
        """Whether Latin case was folded when counting (see ``forms``)."""
        return self.forms is not None

    @property
    def shown(self) -> list[str]:
        """The text of each run as output shows it."""
        return self.forms if self.forms is not None else self.runs

    @property
    def vocab_size(self) -> int:
        """``V``: one past the largest unit id."""
        return RUN_BASE + len(self.runs)

    @property
    def max_n(self) -> int:
        return len(self.keys)

    def grams(self, n: int) -> np.ndarray:
        """Level ``n`` as an ``(m, n)`` array of unit ids, row for row (computed once; the
        levels must be complete when it is first asked for)."""
        if n not in self._grams:
            self._grams[n] = self._expand(n)
        return self._grams[n]

    def _expand(self, n: int) -> np.ndarray:
        if n == 1:  # unit ids < 2**31: int32 halves the memory of the cached levels
            return self.keys[0][:, None].astype(np.int32)
        keys, v = self.keys[n - 1], self.vocab_size
        return np.concatenate((self.grams(n - 1)[keys // v],
                               (keys % v).astype(np.int32)[:, None]), axis=1)

    def lookup(self, grams: np.ndarray) -> np.ndarray:
        """Row of each n-gram (rows of ``grams``) in its level, -1 where it was not counted."""
        m, n = grams.shape
        rows = np.full(m, -1, dtype=np.int64)
        if m == 0 or n > self.max_n:
            return rows
        v = self.vocab_size
        live = np.arange(m)
        current = np.zeros(m, dtype=np.int64)
        for level in range(1, n + 1):
            last = grams[live, level - 1].astype(np.int64)
            key = last if level == 1 else current * v + last
            pos = find_sorted(self.keys[level - 1], key)
            found = pos >= 0
            live, current = live[found], pos[found]
        rows[live] = current
        return rows

    def count_of(self, grams: np.ndarray) -> np.ndarray:
        """Count of each n-gram (0 where below ``min_count``)."""
        rows = self.lookup(grams)
        counts = self.counts[grams.shape[1] - 1]
        return np.where(rows >= 0, counts[np.maximum(rows, 0)], 0)

    def count_texts(self, texts: list[str]) -> np.ndarray:
        """Count of each string (0 where below ``min_count``, longer than ``max_n`` units,
        across a boundary, or holding a run never counted)."""
        out = np.zeros(len(texts), dtype=np.int64)
        index = {r: k for k, r in enumerate(self.runs)}
        by_length: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, text in enumerate(texts):
            # between two characters, so that punctuation at an edge shows as a boundary
            # instead of merging into the boundaries that encode puts around a text
            units, runs = encode(f"一{text}一")
            units = units[2:-2]
            ids = [index.get(r.lower() if self.folded else r) for r in runs]
            if units.size == 0 or (units == BOUNDARY).any() or None in ids:
                continue
            is_run = units >= RUN_BASE
            units[is_run] = RUN_BASE + np.array(ids, dtype=np.int32)[units[is_run] - RUN_BASE]
            by_length.setdefault(units.size, []).append((i, units))
        for n, items in by_length.items():
            if n <= self.max_n:
                out[[i for i, _ in items]] = self.count_of(np.stack([u for _, u in items]))
        return out

    def strings(self, n: int, rows: np.ndarray | None = None) -> list[str]:
        """Level ``n`` (or its ``rows``) as strings."""
        grams = self.grams(n) if rows is None else self.grams(n)[rows]
        has_run = (grams >= RUN_BASE).any(axis=1)
        # Rows of single characters decode in one go; rows with a run unit one by one.
        flat = np.where(grams >= RUN_BASE, 0x20, grams).astype("<u4").tobytes().decode("utf-32-le")
        out = [flat[i:i + n] for i in range(0, len(flat), n)]
        for r in np.flatnonzero(has_run).tolist():
            out[r] = "".join(unit_text(int(u), self.shown) for u in grams[r])
        return out

    # ----------------------------------------------------------------- derived forms

    def with_neighbour_sums(self) -> NgramCounts:
        """Recompute the neighbour sums from the tables themselves.

        Exact where the tables are complete (``min_count == 1``); with a higher threshold the
        neighbours seen fewer times are missing and the entropies come out lower.
        """
        v = self.vocab_size
        self.right_total, self.right_nlogn, self.left_total, self.left_nlogn = [], [], [], []
        for n in range(1, self.max_n):
            size = self.keys[n - 1].size
            child_keys, child_counts = self.keys[n], self.counts[n].astype(np.float64)
            total, nlogn = neighbour_sums(child_keys // v, child_counts, size)
            self.right_total.append(total)
            self.right_nlogn.append(nlogn)
            suffix_rows = self.lookup(self.grams(n + 1)[:, 1:])
            total, nlogn = neighbour_sums(suffix_rows, child_counts, size)
            self.left_total.append(total)
            self.left_nlogn.append(nlogn)
        return self

    def pruned(self, min_count: int) -> NgramCounts:
        """The same counts with the rows seen fewer than ``min_count`` times removed."""
        if min_count <= self.min_count:
            return self
        v = self.vocab_size
        out = NgramCounts(self.runs, self.total, min_count, [], [], forms=self.forms)
        kept_prev: np.ndarray | None = None
        for n in range(1, self.max_n + 1):
            keys, counts = self.keys[n - 1], self.counts[n - 1]
            keep = counts >= min_count
            keys = keys[keep]
            if kept_prev is not None:
                new_row = np.cumsum(kept_prev) - 1
                keys = new_row[keys // v] * v + keys % v
            out.keys.append(keys)
            out.counts.append(counts[keep])
            if n < self.max_n:
                for name in ("right_total", "right_nlogn", "left_total", "left_nlogn"):
                    getattr(out, name).append(getattr(self, name)[n - 1][keep])
            kept_prev = keep
        return out

    # ----------------------------------------------------------------- persistence

    def save(self, path: str) -> None:
        """Write the tables (not the derived sums) to ``path`` atomically, as ``.npz``."""
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "runs": np.array("\n".join(self.runs)),
            "meta": np.array([self.total, self.min_count, self.max_n], dtype=np.int64),
        }
        if self.forms is not None:  # its presence records the folding
            arrays["forms"] = np.array("\n".join(self.forms))
        for n in range(1, self.max_n + 1):
            arrays[f"keys{n}"] = self.keys[n - 1]
            arrays[f"counts{n}"] = self.counts[n - 1]
        with atomic_write(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str) -> NgramCounts:
        """Read a file written by :meth:`save`; the neighbour sums are recomputed."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if "format" not in data or str(data["format"]) != FORMAT:
                    raise InputError(path, f"not a zhnlp counts file (expected {FORMAT})")
                runs_text = str(data["runs"])
                forms_text = str(data["forms"]) if "forms" in data else None
                total, min_count, max_n = (int(x) for x in data["meta"])
                keys = [data[f"keys{n}"].astype(np.int64) for n in range(1, max_n + 1)]
                counts = [data[f"counts{n}"].astype(np.int64) for n in range(1, max_n + 1)]
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(path, f"not a readable zhnlp counts file ({exc})") from None
        runs = runs_text.split("\n") if runs_text else []
        forms = (forms_text.split("\n") if forms_text else []) if forms_text is not None else None
        return cls(runs, total, min_count, keys, counts, forms=forms).with_neighbour_sums()


def merge(parts: list[NgramCounts]) -> NgramCounts:
    """Add up counts of several corpora (different run tables are reconciled).

    Exact when every part is complete (counted with ``min_count == 1``); otherwise an n-gram
    seen fewer than its part's threshold in some part is missing from that part's share.
    """
    if len(parts) == 1:
        return parts[0]
    if len({p.folded for p in parts}) > 1:
        raise ZhnlpError("counts made with and without Latin case folding (--keep-case) do "
                         "not add up: count them the same way")
    runs: list[str] = []
    forms: list[str] = []  # a run's form from the first part that has it
    index: dict[str, int] = {}
    for part in parts:
        for run, form in zip(part.runs, part.shown):
            index.setdefault(run, len(runs))
            if len(runs) < len(index):
                runs.append(run)
                forms.append(form)
    v = RUN_BASE + len(runs)
    max_n = min(p.max_n for p in parts)
    grams = []
    for part in parts:
        remap = np.arange(part.vocab_size, dtype=np.int64)
        remap[RUN_BASE:] = RUN_BASE + np.array([index[r] for r in part.runs], dtype=np.int64)
        grams.append([remap[part.grams(n)] for n in range(1, max_n + 1)])
    out = NgramCounts(runs, sum(p.total for p in parts), max(p.min_count for p in parts), [], [],
                      forms=forms if parts[0].folded else None)
    for n in range(1, max_n + 1):
        keyed = []
        for part, part_grams in zip(parts, grams):
            g = part_grams[n - 1]
            key = g[:, 0] if n == 1 else out.lookup(g[:, :-1]) * v + g[:, -1]
            order = np.argsort(key, kind="stable")
            keyed.append(reduce_sorted(key[order], part.counts[n - 1][order]))
        keys, counts = merge_counts(keyed)
        out.keys.append(keys)
        out.counts.append(counts)
    return out.with_neighbour_sums()


# --------------------------------------------------------------------------- counting a corpus

@dataclass
class UnitFile:
    """A corpus encoded as unit ids in a flat ``int32`` file (starts and ends with a boundary)."""

    path: str
    length: int
    runs: list[str]
    forms: list[str] | None = None  # with case folding: each run's most frequent form

    @property
    def shown(self) -> list[str]:
        """The text of each run as the corpus has it (its most frequent form)."""
        return self.forms if self.forms is not None else self.runs

    def array(self) -> np.ndarray:
        return np.memmap(self.path, dtype=np.int32, mode="r", shape=(self.length,))


def _padded(arr: np.ndarray, start: int, stop: int, fill: int) -> np.ndarray:
    part = np.asarray(arr[start:min(stop, arr.shape[0])])
    if part.shape[0] < stop - start:
        part = np.concatenate((part, np.full(stop - start - part.shape[0], fill, part.dtype)))
    return part


@dataclass(frozen=True)
class _Level:
    """What a shard task needs to know about the level being extended."""

    units_path: str
    ids_path: str
    local_path: str
    length: int
    n: int
    v: int


def _shard_keys(level: _Level, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right keys of positions ``[start, stop)`` that have one, their offsets in the shard,
    and the left keys."""
    units = np.memmap(level.units_path, dtype=np.int32, mode="r", shape=(level.length,))
    ids = np.memmap(level.ids_path, dtype=np.int32, mode="r", shape=(level.length,))
    size, n, v = stop - start, level.n, level.v
    u = _padded(units, start, stop + n + 1, BOUNDARY)
    row = _padded(ids, start, stop + 1, -1)
    # only positions with a frequent n-gram and a neighbour become int64 keys
    right_at = np.flatnonzero((row[:-1] >= 0) & (u[n:n + size] != BOUNDARY))
    right = row[right_at].astype(np.int64) * v + u[n + right_at]
    left_at = np.flatnonzero((row[1:] >= 0) & (u[:size] != BOUNDARY))
    left = row[1 + left_at].astype(np.int64) * v + u[left_at]
    return right, right_at, left


def _count_shard(level: _Level, start: int, stop: int, keep: bool) -> tuple[
        tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Distinct right and left keys of positions ``[start, stop)`` with their counts.

    With ``keep``, each position's index among the shard's distinct right keys (-1 where it
    has none) goes to the level's local-index file and the distinct keys beside it, so that
    the positions' rows in the next level are a gather, not a search per position.
    """
    right, right_at, left = _shard_keys(level, start, stop)
    if not keep:
        return unique_counts(right), unique_counts(left)
    distinct, inverse, counts = np.unique(right, return_inverse=True, return_counts=True)
    local = np.full(stop - start, -1, dtype=np.int32)
    local[right_at] = inverse
    out = np.memmap(level.local_path, dtype=np.int32, mode="r+", shape=(level.length,))
    out[start:stop] = local
    np.save(f"{level.local_path}.{start}.npy", distinct)
    return (distinct, counts.astype(np.int64)), unique_counts(left)


def _write_next_ids(level: _Level, next_keys: np.ndarray, next_ids_path: str,
                    start: int, stop: int) -> None:
    """Rows in level ``n + 1`` of the n-grams at ``[start, stop)`` (-1 if infrequent)."""
    distinct = np.load(f"{level.local_path}.{start}.npy")
    row_of = np.full(distinct.size + 1, -1, dtype=np.int32)  # the extra slot: "none"
    row_of[:-1] = find_sorted(next_keys, distinct)
    local = np.memmap(level.local_path, dtype=np.int32, mode="r", shape=(level.length,))
    out = np.memmap(next_ids_path, dtype=np.int32, mode="r+", shape=(level.length,))
    out[start:stop] = row_of[np.asarray(local[start:stop])]  # -1 picks the extra slot


def _count_units(units_path: str, length: int, v: int, start: int, stop: int) -> np.ndarray:
    units = np.memmap(units_path, dtype=np.int32, mode="r", shape=(length,))
    return np.bincount(np.asarray(units[start:stop]), minlength=v).astype(np.int64)


def _write_unit_ids(units_path: str, length: int, row_of_unit: np.ndarray, ids_path: str,
                    start: int, stop: int) -> None:
    units = np.memmap(units_path, dtype=np.int32, mode="r", shape=(length,))
    out = np.memmap(ids_path, dtype=np.int32, mode="r+", shape=(length,))
    out[start:stop] = row_of_unit[np.asarray(units[start:stop])]


class _Runner:
    """Runs shard tasks inline or on a process pool, in order."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = (make_pool(workers) if workers > 1 else None)

    def map(self, fn: Callable[..., object],
            args: Iterable[tuple[object, ...]]) -> Iterable[object]:
        if self.pool is None:
            return (fn(*a) for a in args)
        return bounded_imap(self.pool, fn, args, 2 * self.workers)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


def count_corpus(corpus: UnitFile, max_n: int, min_count: int, workdir: str, *,
                 workers: int = 1, shard_size: int = 1 << 22,
                 on_level: Callable[[int], None] | None = None) -> NgramCounts:
    """Count every n-gram of 1 to ``max_n`` units occurring at least ``min_count`` times.

    ``workdir`` receives one ``ids{n}.i32`` file per level (the row of the n-gram starting at
    each position, -1 if infrequent), used to find occurrences afterwards.
    """
    length, v = corpus.length, RUN_BASE + len(corpus.runs)
    shards = [(s, min(s + shard_size, length)) for s in range(0, length, shard_size)]
    runner = _Runner(workers)
    try:
        unit_counts = sum(runner.map(_count_units, [(corpus.path, length, v, s, e)
                                                    for s, e in shards]))
        unit_counts[BOUNDARY] = 0
        total = int(unit_counts.sum())
        keys1 = np.flatnonzero(unit_counts >= min_count).astype(np.int64)
        counts = NgramCounts(corpus.runs, total, min_count, [keys1], [unit_counts[keys1]],
                             forms=corpus.forms)
        row_of_unit = np.full(v, -1, dtype=np.int32)
        row_of_unit[keys1] = np.arange(keys1.size, dtype=np.int32)
        ids_path = ids_file(workdir, 1)
        _create(ids_path, length)
        list(runner.map(_write_unit_ids, [(corpus.path, length, row_of_unit, ids_path, s, e)
                                          for s, e in shards]))
        for n in range(1, max_n):
            if on_level is not None:
                on_level(n + 1)
            last = n + 1 == max_n  # the longest level only serves as neighbours of the one below
            level = _Level(corpus.path, ids_file(workdir, n), os.path.join(workdir, "local.i32"),
                           length, n, v)
            if not last:
                _create(level.local_path, length)
            right, left = CountMerger(), CountMerger()
            for r, lft in runner.map(_count_shard, [(level, s, e, not last) for s, e in shards]):
                right.add(*r)
                left.add(*lft)
            size = counts.keys[n - 1].size
            r_keys, r_counts = right.result()
            total_r, nlogn_r = neighbour_sums(r_keys // v, r_counts.astype(np.float64), size)
            l_keys, l_counts = left.result()
            total_l, nlogn_l = neighbour_sums(l_keys // v, l_counts.astype(np.float64), size)
            del l_keys, l_counts, left
            counts.right_total.append(total_r)
            counts.right_nlogn.append(nlogn_r)
            counts.left_total.append(total_l)
            counts.left_nlogn.append(nlogn_l)
            keep = r_counts >= min_count
            counts.keys.append(r_keys[keep])
            counts.counts.append(r_counts[keep])
            del r_keys, r_counts, right
            if last:
                break
            next_path = ids_file(workdir, n + 1)
            _create(next_path, length)
            list(runner.map(_write_next_ids, [(level, counts.keys[n], next_path, s, e)
                                              for s, e in shards]))
    finally:
        runner.close()
    return counts


def _create(path: str, length: int) -> None:
    """A file of ``length`` int32 for shard tasks to fill through their own maps.

    No msync anywhere: on one machine every map of a file shares the page cache, and these
    files live only as long as the run.
    """
    with open(path, "wb") as handle:
        handle.truncate(4 * length)


def ids_file(workdir: str, n: int) -> str:
    """Path of the per-position row file of level ``n``."""
    return os.path.join(workdir, f"ids{n}.i32")


def encode_corpus(texts: Iterable[str], path: str, *, cut: Cut | None = None,
                  workers: int = 1, fold_case: bool = True) -> UnitFile:
    """Encode text chunks (in order) into a unit file at ``path``; run ids become global.

    ``fold_case``: runs that differ in Latin (Greek, Cyrillic) case only are one unit
    (VISTA, Vista, vista), shown in the form seen most often (the first seen of a tie)."""
    index: dict[str, int] = {}  # run text (lower-cased with fold_case) -> global run id
    seen: list[dict[str, int]] = []  # with fold_case: each run's forms and their counts
    length = 1
    with open(path, "wb") as out:
        out.write(np.array([BOUNDARY], dtype=np.int32).tobytes())
        pool = make_pool(workers) if workers > 1 else None
        try:
            chunks = (bounded_imap(pool, encode, ((t, cut) for t in texts), 2 * workers)
                      if pool is not None else (encode(t, cut) for t in texts))
            for units, local_runs in chunks:
                if local_runs:
                    keys = [r.lower() for r in local_runs] if fold_case else local_runs
                    remap = np.array([index.setdefault(k, len(index)) for k in keys],
                                     dtype=np.int32)
                    is_run = units >= RUN_BASE
                    if fold_case:
                        times = np.bincount(units[is_run] - RUN_BASE, minlength=len(local_runs))
                        seen.extend({} for _ in range(len(index) - len(seen)))
                        for form, run_id, k in zip(local_runs, remap.tolist(), times.tolist()):
                            seen[run_id][form] = seen[run_id].get(form, 0) + k
                    units[is_run] = RUN_BASE + remap[units[is_run] - RUN_BASE]
                body = units[1:]  # every chunk starts with a boundary; one is enough
                out.write(body.tobytes())
                length += body.size
        finally:
            if pool is not None:
                pool.terminate()
    forms = [max(f, key=f.__getitem__) for f in seen] if fold_case else None
    return UnitFile(path, length, list(index), forms)
