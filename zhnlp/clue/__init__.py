"""CLUE fine-tuning: task adapters (reader, input construction, metric, submission writer),
and the fine-tune / evaluate / predict loop."""

from zhnlp.clue.classification import TASKS, ClassificationTask, get_task

__all__ = ["TASKS", "ClassificationTask", "get_task"]
