"""The lifecycle of a session's booking: its states, which hold capacity, and the allowed moves.

``accepted`` → ``provisioning`` → ``running`` → ``ended``; or ``refused`` (stored with its reasons and
alternatives when the run's ``reserve`` refuses it), ``cancelled`` or ``failed``. Only the holding
states (:data:`HOLDING`) hold capacity: every other state frees it at once.
"""

from __future__ import annotations

ACCEPTED = "accepted"
PROVISIONING = "provisioning"
RUNNING = "running"
ENDED = "ended"
REFUSED = "refused"
CANCELLED = "cancelled"
FAILED = "failed"

#: The states that hold capacity in the booking's region.
HOLDING = (ACCEPTED, PROVISIONING, RUNNING)
#: Every state, in lifecycle order (the holding ones first).
STATES = (*HOLDING, ENDED, REFUSED, CANCELLED, FAILED)
#: The states a booking may move to from each holding state; the others are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    ACCEPTED: frozenset({PROVISIONING, CANCELLED, FAILED, ENDED}),
    PROVISIONING: frozenset({RUNNING, CANCELLED, FAILED, ENDED}),
    RUNNING: frozenset({CANCELLED, FAILED, ENDED}),
}
