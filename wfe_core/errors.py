"""Every error wfe raises, in one place.

The hierarchy::

    WfeError
    ├── DefinitionError              the definition graph is invalid (lists every problem)
    ├── WorkflowNotRegisteredError   start of an unknown definition id or version
    ├── DuplicateDefinitionError     same id and version registered with another graph
    ├── WorkflowNotFoundError        unknown workflow id
    ├── InvalidEventError            malformed event (empty name, ...)
    ├── SerializationError           data the converter cannot (de)serialize
    ├── ConfigurationError           bad host or provider configuration
    │   └── MissingDependencyError   a provider's optional driver is not installed
    ├── HostStoppedError             a call that needs a running host after stop()
    ├── ActivityTokenError           an activity answer with a token that is not held (any more)
    ├── UserActionError              an answer to a closed user task, or not one of its options
    ├── ConcurrencyError             a persist based on a stale instance version
    ├── ProviderError                a provider's backend failed (wraps the driver error)
    │   └── ProviderUnavailableError transient: busy, locked, unreachable; retry with backoff
    └── StepFailedError              base for failures the engine raises inside a step
        ├── SubWorkflowFailedError   a child workflow ended terminated
        ├── ActivityFailedError      an activity's worker reported a failure
        ├── PassRefusedError         the store refused for good to write the pass a step ran in
        ├── RetriesExhaustedError    (recorded, never raised to users)
        ├── StepTimeoutError         a step ran longer than its ``.timeout(...)``
        └── WorkflowDeadlineError    the workflow's deadline passed (recorded; it was terminated)

Providers translate driver errors at their boundary with ``raise ProviderError(...) from exc``,
choosing ``ProviderUnavailableError`` for failures that go away by themselves (a lock held by
another process, a connection lost, a server restarting): the host retries those with backoff
and logs the outage once, while a plain ``ProviderError`` is reported at once with its
traceback.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ActivityFailedError",
    "ActivityTokenError",
    "ConcurrencyError",
    "ConfigurationError",
    "DefinitionError",
    "DuplicateDefinitionError",
    "HostStoppedError",
    "InvalidEventError",
    "MissingDependencyError",
    "PassRefusedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RetriesExhaustedError",
    "SerializationError",
    "StepFailedError",
    "StepTimeoutError",
    "SubWorkflowFailedError",
    "UserActionError",
    "WfeError",
    "WorkflowDeadlineError",
    "WorkflowNotFoundError",
    "WorkflowNotRegisteredError",
]


class WfeError(Exception):
    """Base class of every error raised by wfe."""


class DefinitionError(WfeError):
    """A workflow definition is invalid.

    Attributes:
        problems: every problem found, one sentence each.
    """

    def __init__(self, definition_id: str, problems: Iterable[str]) -> None:
        self.definition_id = definition_id
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"workflow definition {definition_id!r} has {len(self.problems)} problem(s):\n{lines}"
        )


class WorkflowNotRegisteredError(WfeError):
    """No definition is registered under this id (and version)."""

    def __init__(
        self, definition_id: str, version: int | None = None, next_step: str | None = None
    ) -> None:
        self.definition_id = definition_id
        self.version = version
        what = repr(definition_id) if version is None else f"{definition_id!r} version {version}"
        super().__init__(
            f"workflow definition {what} is not registered; "
            + (next_step or "call host.register(definition) first")
        )


class DuplicateDefinitionError(WfeError):
    """The same definition id and version was registered twice with a different graph."""


class WorkflowNotFoundError(WfeError):
    """No workflow instance has this id."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"no workflow with id {workflow_id!r}")


class InvalidEventError(WfeError, ValueError):
    """An event cannot be published as given."""


class SerializationError(WfeError):
    """Workflow data could not be converted to or from JSON."""


class ConfigurationError(WfeError):
    """The host or a provider is configured wrongly."""


class MissingDependencyError(ConfigurationError):
    """A provider needs an optional driver that is not installed."""

    def __init__(self, scheme: str, extra: str, module: str) -> None:
        self.scheme = scheme
        self.extra = extra
        super().__init__(
            f"the {scheme}:// provider needs the {module!r} package, which is not installed; "
            f'install it with: pip install "wfe[{extra}]"'
        )


class HostStoppedError(WfeError):
    """The host was stopped: it starts no workflow and takes no event any more."""


class ConcurrencyError(WfeError):
    """A workflow was persisted from a stale version; nothing was written."""

    def __init__(self, workflow_id: str, expected: int, actual: int | None = None) -> None:
        self.workflow_id = workflow_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"workflow {workflow_id!r} changed since it was read (expected revision {expected}, "
            f"found {actual}); reload it and run the pass again"
        )


class ProviderError(WfeError):
    """A provider's backend failed; the driver's error is the ``__cause__``."""


class ProviderUnavailableError(ProviderError):
    """A provider's backend is unavailable for now (busy, locked, unreachable); retry later.

    Nothing was written by the call that raised it. The host retries the work with a capped,
    jittered backoff and never gives up on it: a busy store slows the host down, never stops it.
    """


class StepFailedError(WfeError):
    """Base for failures the engine itself raises inside a step."""


class SubWorkflowFailedError(StepFailedError):
    """A child workflow ended without completing."""


class ActivityFailedError(StepFailedError):
    """The worker of an activity answered with ``submit_activity_failure``: the activity step
    fails with the worker's error, through its ``on_error``."""


class ActivityTokenError(WfeError):
    """An activity token that is not held: malformed, its lease ran out (``activity_ttl``) and
    the activity went back to pending, released, or answered already. Nothing was applied."""


class UserActionError(WfeError):
    """A user action that cannot be taken: an unknown or closed task (answered already, its
    workflow ended), or a value that is not one of its options (the message lists them)."""


class PassRefusedError(StepFailedError):
    """The store refused, for a reason no retry of the write can fix, to write the pass a step
    ran in: the step fails with it (recorded, and through its error behaviour) instead of the
    pass being tried again and again."""


class RetriesExhaustedError(StepFailedError):
    """A step used up its retries; the workflow was suspended."""


class StepTimeoutError(StepFailedError):
    """A step ran longer than its ``.timeout(...)``: an async body was cancelled, a sync body's
    result is discarded when it comes. It goes through the step's error behaviour like any
    failure (retried by default)."""


class WorkflowDeadlineError(StepFailedError):
    """The workflow's deadline (``start_workflow(..., timeout=)`` or the definition's) passed:
    its running steps were cancelled and it was terminated. Recorded as the execution error that
    says so, never raised to users."""
