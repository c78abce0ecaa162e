"""The error a simulated CloudStack command raises, serialised like ``ServerApiException``."""

from __future__ import annotations


class ApiError(Exception):
    """A CloudStack API error answered with HTTP status ``errorcode``.

    :param errorcode: the ``ApiErrorCode`` value (401, 431, 432, 530, 533, ...), also the HTTP status.
    :param errortext: the human readable text, as CloudStack words it.
    :param cserrorcode: the ``CSExceptionErrorCode`` value; ``None`` leaves the key out
        (authentication failures carry none).
    """

    def __init__(self, errorcode: int, errortext: str, cserrorcode: int | None = 9999) -> None:
        super().__init__(errortext)
        self.errorcode = errorcode
        self.errortext = errortext
        self.cserrorcode = cserrorcode

    def body(self) -> dict[str, object]:
        """The inner body CloudStack sends, without the ``<command>response`` wrapper."""
        out: dict[str, object] = {"uuidList": [], "errorcode": self.errorcode}
        if self.cserrorcode is not None:
            out["cserrorcode"] = self.cserrorcode
        out["errortext"] = self.errortext
        return out
