"""The MECA federation dashboard: a FastAPI app mounted in Airflow's api-server by :mod:`meca.plugin`.

:mod:`meca.web.app` builds the app; :mod:`meca.web.queries` reads the MECA data database (read-only),
:mod:`meca.web.pages` renders the HTML pages, :mod:`meca.web.api` the JSON endpoints and
:mod:`meca.web.openmetrics` the ``/metrics`` text for Prometheus. Every route needs an authenticated
Airflow user with the MECA permission of its page (:mod:`meca.web.auth`); sessions follow the
ownership rule of :mod:`meca.web.session_access`.
"""

from __future__ import annotations
