"""Airflow's api-server app in this process, with SimpleAuthManager users logged in (one token each)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@contextmanager
def logged_in_api_server(
    roles: Mapping[str, str], folder: Path
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Airflow's api-server app (plugins mounted) whose SimpleAuthManager knows ``roles``.

    Every user gets a fresh password and a real JWT from ``POST /auth/token``.

    :param roles: user name -> SimpleAuthManager role (``viewer``, ``user``, ``op``, ``admin``).
    :param folder: an empty folder for the passwords file.
    :return: the client (redirects not followed) and user name -> access token.
    """
    passwords = {name: secrets.token_urlsafe(12) for name in roles}
    passwords_file = folder / "passwords.json"
    passwords_file.write_text(json.dumps(passwords))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{n}:{r}" for n, r in roles.items())
        )
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file))
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
        from airflow.api_fastapi.app import create_app, purge_cached_app

        purge_cached_app()
        with TestClient(create_app(), follow_redirects=False) as client:
            tokens = {}
            for name, password in passwords.items():
                response = client.post("/auth/token", json={"username": name, "password": password})
                assert response.status_code == 201, response.text
                tokens[name] = response.json()["access_token"]
            yield client, tokens
        purge_cached_app()
