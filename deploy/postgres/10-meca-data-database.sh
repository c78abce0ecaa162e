#!/usr/bin/env bash
# Create the MECA data database and the role that owns it, on the compose PostgreSQL.
#
# docker-compose.yaml mounts this file into the postgres service's /docker-entrypoint-initdb.d/, which
# runs it once, on the first start of an empty data volume. It is idempotent and also (re)sets the
# role's password from MECA_DATA_DB_PASSWORD, so it can be run again on an existing volume:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-meca-data-database.sh
# The tables themselves come from the MECA migrations (python -m meca.store.migrate, in airflow-init).
#
# Environment: MECA_DATA_DB_PASSWORD (required), MECA_DATA_DB_USER and MECA_DATA_DB_NAME (default
# meca), POSTGRES_USER and POSTGRES_DB (set by the postgres image: who runs this, and where).
set -euo pipefail

if [[ -z ${MECA_DATA_DB_PASSWORD:-} ]]; then
  echo "10-meca-data-database.sh: MECA_DATA_DB_PASSWORD is not set; nothing was created" >&2
  exit 1
fi

# The password reaches psql through its environment (\getenv), never through its command line.
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v role="${MECA_DATA_DB_USER:-meca}" -v database="${MECA_DATA_DB_NAME:-meca}" <<'SQL'
\getenv password MECA_DATA_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SQL
echo "10-meca-data-database.sh: database ${MECA_DATA_DB_NAME:-meca} owned by ${MECA_DATA_DB_USER:-meca} is ready"
