"""``RegisterTemplateOperator``: register one staged image in one region, then defer until it is Ready.

No worker slot is held while the region downloads: the wait is a
:class:`~meca.triggers.template_ready.TemplateReadyTrigger` in the triggerer. A failure (OS type
unknown, download failed with CloudStack's status text, deadline) is written to the
``template_status`` table before the task fails, so the status page shows why.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, NoReturn

from airflow.sdk import BaseOperator, Context

from meca.cloudstack.errors import CloudStackError
from meca.cloudstack.hook import CloudStackHook
from meca.mgtr import status
from meca.mgtr.register import ImageToRegister, RegistrationError, prune_versions, start_registration
from meca.store.engine import DEFAULT_CONN_ID, get_engine
from meca.triggers.template_ready import TemplateReadyTrigger

DEFAULT_WAIT_S = 6 * 3600.0


class RegisterTemplateOperator(BaseOperator):
    """Register ``image`` in the region of ``conn_id`` unless it is there already, and wait until Ready.

    Returns ``{"template_path", "version", "region", "conn_id", "template_id", "sha256", "deleted"}``.

    :param conn_id: the region's ``cloudstack`` Connection id.
    :param image: an :class:`~meca.mgtr.register.ImageToRegister` as a dict.
    :param wait_s: how long the region may take to download and check the image (the trigger
        polls at the region Connection's ``poll_interval``).
    :param data_conn_id: the MECA data database Connection (errors are recorded there).
    """

    ui_color = "#d9f0d3"

    def __init__(
        self,
        *,
        conn_id: str,
        image: dict[str, Any],
        wait_s: float = DEFAULT_WAIT_S,
        data_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.image = image
        self.wait_s = wait_s
        self.data_conn_id = data_conn_id

    def _label(self, context: Context, hook: CloudStackHook) -> ImageToRegister:
        image = ImageToRegister.from_dict(self.image)
        context["replica"] = f"{image.name} @ {hook.region.name}"  # type: ignore[typeddict-unknown-key]
        return image

    def _fail(
        self, hook: CloudStackHook, image: ImageToRegister, message: str, template_id: str | None
    ) -> NoReturn:
        status.record(
            get_engine(self.data_conn_id),
            hook.region,
            image.template_path,
            image.version,
            status.ERROR,
            datetime.now(UTC),
            checksum=image.sha256,
            cloudstack_id=template_id,
            error=message,
        )
        raise RegistrationError(message)

    def execute(self, context: Context) -> dict[str, Any]:
        """Register (or find) the template; return at once when Ready, else defer to the trigger."""
        hook = CloudStackHook(cloudstack_conn_id=self.conn_id)
        image = self._label(context, hook)
        try:
            registration = start_registration(hook, image)
        except (CloudStackError, RegistrationError) as exc:
            self._fail(hook, image, str(exc), None)
        if registration.ready:
            return self._finish(hook, image, registration.template_id)
        self.defer(
            trigger=TemplateReadyTrigger(
                conn_id=self.conn_id,
                template_id=registration.template_id,
                deadline=time.time() + self.wait_s,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: fail with CloudStack's status text, or prune old versions."""
        hook = CloudStackHook(cloudstack_conn_id=self.conn_id)
        image = self._label(context, hook)
        if event.get("status") != "ready":
            self._fail(
                hook,
                image,
                f"region {event.get('region', hook.region.name)}: template {image.name} "
                f"({event.get('template_id')}) failed: {event.get('message', 'unknown error')}",
                event.get("template_id"),
            )
        return self._finish(hook, image, str(event["template_id"]))

    def _finish(self, hook: CloudStackHook, image: ImageToRegister, template_id: str) -> dict[str, Any]:
        deleted = prune_versions(hook, image.template_path, image.keep_versions)
        return {
            "template_path": image.template_path,
            "version": image.version,
            "region": hook.region.name,
            "conn_id": self.conn_id,
            "template_id": template_id,
            "sha256": image.sha256,
            "deleted": deleted,
        }
