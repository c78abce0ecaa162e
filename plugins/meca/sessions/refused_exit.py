"""End a session task as failed with its reasons in words, without a traceback, and without retries.

Airflow logs any exception a task raises with its traceback ("Task failed with exception"), except
``SystemExit``, which it logs as one line (``Task exited exit_code=...``). A refused booking is told
that way: the task logs each reason, then raises :class:`RefusedExit`; :data:`NO_RETRY_WHEN_REFUSED`
(the task's ``retry_policy``) fails it at once, because asking again gives the same answer.
"""

from __future__ import annotations

from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule


class RefusedExit(SystemExit):
    """The task fails with ``message`` as its exit code text (one log line, no traceback).

    :param message: the teacher-readable refusal.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


#: The ``retry_policy`` of a task that may raise :class:`RefusedExit`: fail at once, other errors as usual.
NO_RETRY_WHEN_REFUSED = ExceptionRetryPolicy(
    rules=[RetryRule(exception=RefusedExit, action=RetryAction.FAIL, reason="the booking is refused")]
)
