FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY outbox outbox
COPY adapters adapters
COPY actors actors
COPY ops ops
COPY simulators simulators
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["ordersync"]
