"""``predict --all-tasks``: every task's submission file, zipped flat as the CLUE and FewCLUE
leaderboards take them (``<task>_predict.json`` files at the top of one zip)."""

from __future__ import annotations

import os
import zipfile

from zhnlp.errors import ZhnlpError
from zhnlp.finetuning.tasks import TASK_NAMES
from zhnlp.io import atomic_write
from zhnlp.outputs import scratch_dir


def predict_all(data_root: str, model_root: str, out_zip: str, split: str = "test", *,
                quiet: bool = True) -> list[tuple[str, str, int]]:
    """Predict every task that has data in ``DATA/<task>`` and a checkpoint under
    ``MODELS/<task>``; write the files into ``out_zip`` (atomically).  Returns
    (task, file name, lines) for each task included."""
    from zhnlp.finetuning.checkpoints import checkpoint_in
    from zhnlp.finetuning.inference import predict

    done = []
    with scratch_dir("predict") as tmp:
        for task in TASK_NAMES:
            data = os.path.join(data_root, task)
            model = checkpoint_in(os.path.join(model_root, task))
            if not os.path.isdir(data) or model is None:
                continue
            path = predict(task, data, model, tmp, split, quiet=quiet)
            with open(path, encoding="utf-8") as handle:
                done.append((task, os.path.basename(path), sum(1 for _ in handle)))
        if not done:
            raise ZhnlpError(f"no task has both data in {data_root}/<task> and a checkpoint "
                             f"in {model_root}/<task>[/best] (tasks: {', '.join(TASK_NAMES)})")
        with atomic_write(out_zip, "wb") as handle, \
                zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for _, name, _ in done:
                archive.write(os.path.join(tmp, name), name)
    return done
