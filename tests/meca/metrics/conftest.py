from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.meca.metrics.sweep_fixtures import Sweeps


@pytest.fixture
def sweeps(data_engine: Engine) -> Sweeps:
    return Sweeps(data_engine)
