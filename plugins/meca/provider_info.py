"""The Airflow provider registration (entry point ``apache_airflow_provider``): the ``cloudstack`` type.

Registering the connection type is what lets the Connections page offer it, label its fields and
run its "Test" button (``CloudStackHook.test_connection``).
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "meca-mclouds-pipelines"


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow's ``ProvidersManager`` reads (``provider_info.schema.json``)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "MECA mClouds",
        "description": "Apache CloudStack regions of the MECA mClouds federation.",
        "connection-types": [
            {
                "connection-type": "cloudstack",
                "hook-class-name": "meca.cloudstack.hook.CloudStackHook",
                "hook-name": "Apache CloudStack",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "host": "Endpoint URL (or host)",
                        "schema": "Scheme for a bare host (http or https)",
                        "login": "API key",
                        "password": "Secret key",
                    },
                    "placeholders": {
                        "host": "https://cloud.example.org/client/api",
                        "schema": "https",
                        "extra": (
                            '{"region_name": "MECA-PolITO", "region_id": 1, "display_name": "PolITO", '
                            '"location": {"city": "Turin", "country": "IT", "lat": 45.06, "lon": 7.66}, '
                            '"colour": "#1f77b4", "verify": true, "timeout": 30, "poll_interval": 2, '
                            '"job_timeout": 600}'
                        ),
                    },
                },
            }
        ],
    }
