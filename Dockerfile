# The MECA mClouds image: the official Airflow image, plus the project and the pinned runtime
# dependencies it needs. docker-compose.yaml builds it (`docker compose build`); the same image can
# be pushed to a registry for more machines or for the official Helm chart (docs/operations.md).
#
# The base tag must name requirements.txt's apache-airflow pin and the tag of the image that
# docker-compose.yaml gives this build; tests/test_compose.py checks both.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/meca && chown airflow:0 /opt/meca
USER airflow

# requirements.txt (scripts/lock compiles it from requirements.in) is the pin source: with -c, every
# package below and each of its dependencies is installed at the version the project is tested with.
# The list is requirements.in's runtime part (the image already has most of them, at other versions).
COPY --chown=airflow:0 requirements.txt /opt/meca/requirements.txt
RUN pip install --no-cache-dir -c /opt/meca/requirements.txt "apache-airflow==${AIRFLOW_VERSION}" \
      apache-airflow-providers-standard \
      apache-airflow-providers-sftp \
      apache-airflow-providers-postgres \
      apache-airflow-providers-fab \
      apache-airflow-providers-celery \
      celery \
      python-dateutil \
      redis \
      psycopg2-binary \
      rfc3339-validator \
      requests \
      cs \
      aiohttp \
      asyncssh \
      py7zr \
      pandas \
      pyarrow \
      sqlalchemy \
      alembic \
      pyyaml

# The project, laid out as in the repository: the editable install registers the `meca` provider
# (the cloudstack connection type) and points `meca` at /opt/meca/plugins, Airflow's plugins folder.
COPY --chown=airflow:0 pyproject.toml README.md /opt/meca/
COPY --chown=airflow:0 plugins /opt/meca/plugins
COPY --chown=airflow:0 cloudstack_simulator /opt/meca/cloudstack_simulator
COPY --chown=airflow:0 mgtr_repository /opt/meca/mgtr_repository
COPY --chown=airflow:0 dags /opt/meca/dags
COPY --chown=airflow:0 include /opt/meca/include
RUN pip install --no-cache-dir --no-deps -e /opt/meca \
 && mkdir -p /opt/meca/staging /opt/meca/mgtr-cache /opt/meca/run /opt/meca/mgtr /opt/meca/mgtr-state \
 && chmod -R g+rwX /opt/meca

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/meca/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/meca/plugins
