#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ the tests use are up; start them if not.
# Tests may point elsewhere with ORDERSYNC_TEST_DATABASE_URL / ORDERSYNC_TEST_BROKER_URL,
# and fall back to testcontainers when a Docker daemon answers.
set -euo pipefail

if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 || echo "warning: PostgreSQL is not answering on 127.0.0.1:5432"
fi

if command -v rabbitmqctl >/dev/null 2>&1; then
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
    # rabbitmq-server -detached returns before the broker is ready.
    rabbitmqctl -q await_startup --timeout 120 || echo "warning: RabbitMQ did not start"
  fi
fi
