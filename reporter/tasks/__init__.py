"""GENESIS task folders (`tasks/<name>/`): one report per task, and an index over many tasks."""

from reporter.tasks.folder import TaskFolder, is_task_folder, scan_task
from reporter.tasks.log import LossHistory, parse_training_log

__all__ = ["LossHistory", "TaskFolder", "is_task_folder", "parse_training_log", "scan_task"]
