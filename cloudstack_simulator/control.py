"""A small client of the simulator's admin API (health, regions, deployed VMs, faults, settings)."""

from __future__ import annotations

from typing import Any

import requests

DEFAULT_TIMEOUT_S = 10.0


class SimulatorControlError(Exception):
    """The admin API refused a request; the message is its explanation."""


class SimulatorControl:
    """Talks to a running simulator's admin API.

    :param admin_url: the ``admin`` URL of the endpoints file, e.g. ``http://127.0.0.1:43127``.
    :param timeout_s: per-request timeout.
    """

    def __init__(self, admin_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.timeout_s = timeout_s

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "regions": N}`` from a live simulator."""
        return self._call("GET", "/health")

    def regions(self) -> list[dict[str, Any]]:
        """Every region: name, id, endpoint, listening, faults and (when the model offers them) stats."""
        return self._call("GET", "/regions")["regions"]

    def region(self, name: str) -> dict[str, Any]:
        """One region, as in :meth:`regions`.

        :param name: the region's name.
        """
        return self._call("GET", f"/regions/{name}")

    def deployed_vms(self, region: str, name_prefix: str = "") -> list[dict[str, Any]]:
        """Every VM ever deployed in a region, oldest first, destroyed and expunged ones included.

        :param region: the region's name.
        :param name_prefix: only the VMs whose name starts with it.
        :return: ``[{"id", "name", "created"}, ...]``.
        :raises SimulatorControlError: on an unknown region.
        """
        answer = self._call("GET", f"/regions/{region}/deployed-vms", params={"name_prefix": name_prefix})
        return list(answer["vms"])

    def set_faults(self, region: str, **faults: Any) -> dict[str, Any]:
        """Change some faults of a region; all or nothing.

        :param region: the region's name.
        :param faults: :class:`~cloudstack_simulator.faults.Faults` fields, e.g. ``down=True``.
        :return: the region after the change.
        :raises SimulatorControlError: on an unknown region or fault, or a value out of range.
        """
        return self._call("PATCH", f"/regions/{region}/faults", json=faults)

    def set_configurations(self, region: str, **settings: Any) -> dict[str, Any]:
        """Change some global settings of a region (what ``listConfigurations`` shows); all or nothing.

        Setting names have dots, so pass them unpacked: ``set_configurations("R", **{name: 0.9})``.

        :param region: the region's name.
        :param settings: setting name → value, e.g. the capacity disable thresholds.
        :return: the region after the change.
        :raises SimulatorControlError: on an unknown region or setting, or a value out of range.
        """
        return self._call("PATCH", f"/regions/{region}/configurations", json=settings)

    def _call(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        response = requests.request(
            method, self.admin_url + path, json=json, params=params, timeout=self.timeout_s
        )
        if response.status_code >= 400:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise SimulatorControlError(f"{method} {path}: HTTP {response.status_code}: {message}")
        return response.json()
