"""The Pusher component: TFX's own, with the executor in components/pusher/executor.py."""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class Pusher(tfx.components.Pusher):
    """TFX's Pusher (same inputs, outputs and parameters) whose filesystem push is atomic
    and skips a model that is already the newest version."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
