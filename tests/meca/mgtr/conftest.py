"""Fixtures for MGTR transfer tests: a repository folder and real local SFTP servers (both backends)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mgtr_repository.server import MgtrServerHandle, openssh_available, run_mgtr_server


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repository"
    root.mkdir()
    return root


@pytest.fixture(params=["openssh", "asyncssh"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "openssh" and not openssh_available():
        pytest.skip("OpenSSH's sshd is not installed (Debian package openssh-server)")
    return str(request.param)


@pytest.fixture
def mgtr_server_factory(tmp_path: Path) -> Iterator[Callable[..., MgtrServerHandle]]:
    """``factory(root, backend="auto") -> MgtrServerHandle``; servers stopped at teardown."""
    with contextlib.ExitStack() as stack:
        started = 0

        def start(root: Path, backend: str = "auto") -> MgtrServerHandle:
            nonlocal started
            started += 1
            workdir = tmp_path / f"mgtr-server-{started}"
            return stack.enter_context(run_mgtr_server(root, workdir, backend=backend))  # type: ignore[arg-type]

        yield start


@pytest.fixture
def mgtr_server(repository: Path, backend: str, mgtr_server_factory: Callable[..., MgtrServerHandle]):
    """A local MGTR serving ``repository`` with each backend in turn."""
    return mgtr_server_factory(repository, backend)
