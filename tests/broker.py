"""RabbitMQ for tests: a vhost of this run's own (created and deleted with rabbitmqctl),
and helpers to read what landed on a queue."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from typing import Any

import pika

from outbox.queues import ALL_QUEUES

DEFAULT_TEST_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def with_vhost(url: str, vhost: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(vhost, safe="")))


def drain(url: str, queue: str) -> list[dict[str, Any]]:
    """Every message on `queue`, decoded as Dramatiq messages, in queue order (acked)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        messages = []
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append(json.loads(body))
    finally:
        connection.close()


def queue_depth(url: str, queue: str) -> int:
    """Messages ready on `queue` (0 while it does not exist yet)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def delete_queues(url: str, queues: list[str]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
    finally:
        connection.close()


# Every queue the tests use (the product's, their delay and dead-letter queues, and
# one that should never exist): deleted before each test.
TEST_QUEUES = [f"{q}{s}" for q in (*ALL_QUEUES, "nowhere") for s in ("", ".DQ", ".XQ")]
