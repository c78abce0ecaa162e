"""The trigger form of ``meca_classroom_session``: its ``params``, built without any I/O.

JSON Schema checks what it can (types, date-time format, lengths, the form's ceilings); regions,
templates and offerings are free text here, because listing them needs I/O, and they are checked
when the session is booked (:mod:`meca.sessions.booking`), as are the limits of ``include/sessions.yaml``.
"""

from __future__ import annotations

from airflow.sdk import Param

from meca.sessions.config import INSTANCES_CEILING, RECURRENCE_CEILING
from meca.sessions.request import ANY_REGION, COMMENTS_MAX, MAX_PARTS, NAME_MAX, TITLE_MAX

_WHEN = "Date and time with its time zone, e.g. 2025-03-04T09:00:00+01:00."


def session_params() -> dict[str, Param]:
    """A fresh ``params`` mapping for the session DAG (the keys of :data:`meca.sessions.request.FIELDS`)."""
    return {
        "start": Param(
            type="string",
            format="date-time",
            title="Start",
            description=f"When the VMs must be Running. {_WHEN}",
        ),
        "end": Param(type="string", format="date-time", title="End", description=f"When the VMs go. {_WHEN}"),
        "title": Param(type="string", minLength=1, maxLength=TITLE_MAX, title="Title"),
        "owner": Param(
            type="string",
            minLength=1,
            maxLength=NAME_MAX,
            title="Owner",
            description="Your e-mail address: your institution's region is preferred.",
        ),
        "region": Param(
            ANY_REGION,
            type="string",
            minLength=1,
            maxLength=NAME_MAX,
            title="Region",
            description='A region name, e.g. MECA-PolITO, or "any" to let MECA choose.',
        ),
        "template": Param(
            type="string", minLength=1, maxLength=NAME_MAX, title="Template", description="e.g. Ubuntu 22.04"
        ),
        "instances": Param(
            1, type="integer", minimum=1, maximum=INSTANCES_CEILING, title="Number of instances"
        ),
        "offering": Param(
            type="string", minLength=1, maxLength=NAME_MAX, title="Service offering", description="e.g. Small"
        ),
        "comments": Param("", type=["null", "string"], maxLength=COMMENTS_MAX, title="Comments"),
        "recurrence_weeks": Param(
            0,
            type="integer",
            minimum=0,
            maximum=RECURRENCE_CEILING,
            title="Repeat weekly",
            description="How many further weeks the session repeats at the same time (0 = once).",
        ),
        "parts": Param(
            None,
            type=["null", "array"],
            maxItems=MAX_PARTS,
            items={
                "type": "object",
                "properties": {"region": {"type": "string"}, "instances": {"type": "integer", "minimum": 1}},
                "required": ["region", "instances"],
            },
            title="Split across regions",
            description='Optional: the class split across regions, e.g. [{"region": "MECA-PolITO", '
            '"instances": 6}, {"region": "MECA-BME", "instances": 4}] with region "any" (the calendar '
            "proposes such a split when no single region has room).",
        ),
    }
