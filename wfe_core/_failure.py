"""``FailurePolicy``: what a pass does with a step that failed.

The executor's pass (``_executor._Pass``) hands it each step run that raised (or left data
that cannot be stored). It records the error, follows the step's error behaviour (the step's,
else compensation where a saga scope asks for it, else the definition's default): a retry
after a delay, a suspension, a termination, or compensation, which runs the compensation steps
of what is undone one after another and resumes or reverts the scopes around it. It changes the
pointers through the pass's ``PassState``; it is made only when a pass meets its first failure.

``describe_error`` gives the message recorded for a failure, one that every store can keep
and every log can take; the invoker uses it for what telemetry records too.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import deque

from ._apply import PassState
from ._definition import WorkflowStep
from ._lifecycle import LifecycleEventType
from ._models import ExecutionError, ExecutionPointer, PointerStatus, WorkflowStatus
from ._step import DEFAULT_ERROR_BEHAVIOR, MAX_DELAY, ErrorBehavior
from ._telemetry import Telemetry, log_fields

__all__ = ["MAX_MESSAGE", "FailurePolicy", "describe_error"]

#: The longest failure message recorded or logged, in characters; a longer one is cut, with a
#: note of its length (a 5 MB message would otherwise be written and logged at every retry).
MAX_MESSAGE = 4_000

log = logging.getLogger("wfe.executor")
_Kind = ErrorBehavior.Kind


class FailurePolicy:
    """Error behaviours, retries and compensation within one pass.

    Args:
        state: the pass's state, which every change goes through.
        telemetry: given only when it observes steps (retries are counted).
    """

    def __init__(self, state: PassState, telemetry: Telemetry | None) -> None:
        self.state = state
        self.telemetry = telemetry
        #: The last compensation this pass started: the next one waits for it.
        self.last_compensation: ExecutionPointer | None = None

    def handle(self, pointer: ExecutionPointer, step: WorkflowStep, exc: BaseException) -> None:
        """Record a step's failure and follow its error behaviour."""
        state, wf = self.state, self.state.wf
        message, exact = describe_error(exc)
        state.result.add_error(
            ExecutionError(
                workflow_id=wf.id,
                execution_pointer_id=pointer.id,
                message=message,
                error_time=state.now,
                step_id=step.id,
                error_type=_safe_text(type(exc).__qualname__),
            )
        )
        state.event(LifecycleEventType.WORKFLOW_ERROR, pointer, message=message)
        pointer.status = PointerStatus.FAILED
        if wf.status is not WorkflowStatus.RUNNABLE:
            # A step that ran beside the one that ended the workflow: recorded, nothing more.
            self.log_failure(pointer, step, exc, message, exact)
            return
        self.follow_error_behavior(pointer, exc)
        self.log_failure(pointer, step, exc, message, exact)

    def log_failure(
        self,
        pointer: ExecutionPointer,
        step: WorkflowStep,
        exc: BaseException,
        message: str,
        exact: bool,
    ) -> None:
        """The one log record of a step's failure, with its traceback, where it is recorded.

        INFO when it will be retried (handled, and the retry may well succeed); WARNING when
        it suspended, terminated or compensated the workflow. When the exception's own text
        had to be changed to be recorded (``exact`` false), the traceback is written here with
        the recorded message, since logging's would print the text in full, or fail on it.
        """
        wf = self.state.wf
        retrying = (
            wf.status is WorkflowStatus.RUNNABLE
            and pointer.end_time is None
            and pointer.sleep_until is not None
        )
        trace = ""
        if not exact:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            trace = f"\nTraceback (most recent call last):\n{frames}{message}"
        log.log(
            logging.INFO if retrying else logging.WARNING,
            "step %s of workflow %s failed%s: %s%s",
            step.display_name, wf.id, " (retrying)" if retrying else "", message, trace,
            exc_info=exc if exact else None,
            extra=log_fields(wf.id, wf.definition_id, step.display_name),
        )

    def follow_error_behavior(self, pointer: ExecutionPointer, exc: BaseException) -> None:
        steps = self.state.steps
        queue: deque[ExecutionPointer] = deque([pointer])
        while queue:
            failed = queue.popleft()
            failed_step = steps[failed.step_id]
            behavior = failed_step.error_behavior
            if behavior is None:
                if self.should_compensate(failed):
                    behavior = ErrorBehavior.compensate()
                else:
                    behavior = self.state.defn.default_error_behavior or DEFAULT_ERROR_BEHAVIOR
            match behavior.kind:
                case _Kind.RETRY:
                    self.retry(failed, failed_step, behavior, exc)
                case _Kind.SUSPEND:
                    self.suspend(failed)
                case _Kind.TERMINATE:
                    self.terminate()
                case _Kind.COMPENSATE:
                    self.compensate(failed, queue)

    def should_compensate(self, pointer: ExecutionPointer) -> bool:
        pointers, steps = self.state.pointers, self.state.steps
        for pid in [pointer.id, *pointer.scope]:
            scoped = pointers.get(pid)
            if scoped is None:
                continue
            s = steps[scoped.step_id]
            if s.compensation_step_id is not None or s.revert_children:
                return True
        return False

    def retry(
        self,
        pointer: ExecutionPointer,
        step: WorkflowStep,
        behavior: ErrorBehavior,
        exc: BaseException,
    ) -> None:
        state = self.state
        exhausted = behavior.max_retries is not None and pointer.retry_count >= behavior.max_retries
        if exhausted or isinstance(exc, behavior.non_retryable):
            why = (
                f"retries exhausted after {pointer.retry_count} retries"
                if exhausted
                else f"{type(exc).__qualname__} is not retryable"
            )
            state.result.add_error(
                ExecutionError(
                    workflow_id=state.wf.id,
                    execution_pointer_id=pointer.id,
                    message=f"step {step.display_name!r}: {why}; workflow suspended — fix the "
                    "cause and resume it",
                    error_time=state.now,
                    step_id=step.id,
                    error_type="RetriesExhaustedError",
                )
            )
            self.suspend(pointer)
            return
        pointer.retry_count += 1
        pointer.sleep_until = state.now + min(behavior.delay_for(pointer.retry_count), MAX_DELAY)
        if self.telemetry is not None:
            self.telemetry.retried(state.wf, step)
        self.prime_for_retry(pointer)
        state.result.changed.add(pointer.id)

    def prime_for_retry(self, pointer: ExecutionPointer) -> None:
        # A container that is retried runs its whole body again.
        if self.state.steps[pointer.step_id].children:
            pointer.persistence_data = None

    def suspend(self, pointer: ExecutionPointer) -> None:
        self.state.wf.status = WorkflowStatus.SUSPENDED
        self.prime_for_retry(pointer)
        self.state.event(LifecycleEventType.WORKFLOW_SUSPENDED, pointer)

    def terminate(self) -> None:
        state = self.state
        state.wf.status = WorkflowStatus.TERMINATED
        state.wf.complete_time = state.now
        state.wf.next_execution = None
        state.event(LifecycleEventType.WORKFLOW_TERMINATED)

    # -- compensation ------------------------------------------------------------------------

    def compensate(self, failed: ExecutionPointer, bubble_up: deque[ExecutionPointer]) -> None:
        state = self.state
        pointers, steps = state.pointers, state.steps
        chain = [failed.id, *failed.scope]
        last_compensation = self.last_compensation
        for index, pid in enumerate(chain):
            scoped = pointers.get(pid)
            if scoped is None:
                continue
            step = steps[scoped.step_id]
            resume, revert = True, False
            for parent_id in chain[index + 1 :]:
                parent = pointers.get(parent_id)
                if parent is None:
                    continue
                ps = steps[parent.step_id]
                if not ps.resume_children or ps.revert_children:
                    resume, revert = ps.resume_children, ps.revert_children
                    break
            behavior = step.error_behavior
            if behavior is not None and behavior.kind is not _Kind.COMPENSATE:
                bubble_up.append(scoped)
                continue
            state.close(scoped, PointerStatus.FAILED)
            if step.compensation_step_id is not None:
                scoped.status = PointerStatus.COMPENSATED
                last_compensation = self.compensation_pointer(scoped, step, last_compensation)
            if resume and (step.compensation_step_id is not None or step.revert_children):
                for edge in step.outcomes:
                    if edge.matches(None):
                        after = state.next_pointer(scoped, edge.next_step)
                        self.after_compensation(after, last_compensation)
            if revert:
                # Newest first; creation order breaks ties between steps ended in one pass.
                siblings = [
                    (sib.end_time, order, sib)
                    for order, sib in enumerate(pointers)
                    if sib.scope == scoped.scope
                    and sib.id != scoped.id
                    and sib.status is PointerStatus.COMPLETE
                ]
                siblings.sort(key=lambda t: (t[0], t[1]), reverse=True)
                for _, _, sib in siblings:
                    sib_step = steps[sib.step_id]
                    if sib_step.compensation_step_id is not None:
                        last_compensation = self.compensation_pointer(sib, sib_step, last_compensation)
                        sib.status = PointerStatus.COMPENSATED
                        state.result.changed.add(sib.id)
        self.last_compensation = last_compensation

    def after_compensation(
        self, pointer: ExecutionPointer, compensation: ExecutionPointer | None
    ) -> None:
        """``pointer`` starts only once ``compensation`` (the last of its chain) has ended."""
        if compensation is None or compensation.end_time is not None:
            return
        pointer.predecessor_id = compensation.id
        pointer.status = PointerStatus.PENDING_PREDECESSOR
        pointer.active = False
        self.state.waiting_on.setdefault(compensation.id, []).append(pointer)

    def compensation_pointer(
        self, of: ExecutionPointer, step: WorkflowStep, previous: ExecutionPointer | None
    ) -> ExecutionPointer:
        """Compensations run strictly one after another: each waits for the previous one."""
        comp = ExecutionPointer(
            step_id=step.compensation_step_id,  # type: ignore[arg-type]
            context_item=of.context_item,
            scope=list(of.scope),
            step_name=self.state.steps[step.compensation_step_id].name,  # type: ignore[index]
        )
        if previous is not None and previous.end_time is None:
            comp.predecessor_id = previous.id
            comp.status = PointerStatus.PENDING_PREDECESSOR
            comp.active = False
            self.state.waiting_on.setdefault(previous.id, []).append(comp)
        else:
            comp.predecessor_id = of.id
        return self.state.add_pointer(comp)


def describe_error(exc: BaseException) -> tuple[str, bool]:
    """The message recorded for a failed step, and whether it holds the exception's text as is.

    The type, the text and, for an exit, a hint. Every store must be able to keep it, so
    whatever the exception holds: a ``__str__`` that raises leaves the type's name (and a note),
    lone surrogates and NUL are escaped, and a message longer than ``MAX_MESSAGE`` is cut with
    a note of its length.
    """
    name = _safe_text(type(exc).__name__)
    try:
        text = str(exc)
    except BaseException as unreadable:  # noqa: BLE001 - a broken __str__ is the step's failure
        return f"{name} (str() of the exception raised {type(unreadable).__name__})", False
    message = f"{name}: {text}" if text else name
    if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        message += " (a step body must not stop the process; raise an exception instead)"
    elif isinstance(exc, asyncio.CancelledError):
        message += " (the step body was cancelled from within)"
    safe = _safe_text(message)
    return safe, safe is message


def _safe_text(text: str) -> str:
    """``text`` as every store keeps it: NUL and lone surrogates escaped, cut at MAX_MESSAGE.

    Returns ``text`` itself when it needs none of that.
    """
    length = len(text)
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, as surrogateescape decoding leaves them
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}... (cut: the message has {length:,} characters)"
    return text
