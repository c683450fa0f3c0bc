"""RabbitMQ for tests: a vhost of each test's own, from a pool created and deleted with
`rabbitmqctl eval` (one call for many vhosts: rabbitmqctl costs most of a second a call), and
helpers to read what landed on a queue."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import urllib.parse
import uuid
from collections.abc import Sequence
from typing import Any

import pika

DEFAULT_TEST_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


ACTING_USER = "ordersync_tests"  # who the broker logs as adding and deleting


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


def _binary(text: str) -> str:
    """An Erlang binary literal of `text` (vhost names are ours: [a-z0-9_])."""
    if not text.replace("_", "").isalnum() or not text.isascii():
        raise ValueError(f"not a plain name: {text!r}")
    return f'<<"{text}">>'


def add_vhosts(names: list[str], user: str) -> None:
    """Add every vhost of `names`, each with all permissions for `user`, in one call."""
    if not names:
        return
    acting = _binary(ACTING_USER)
    rabbitmqctl(
        "eval",
        f"[begin ok = rabbit_vhost:add(N, {acting}),"
        f" ok = rabbit_auth_backend_internal:set_permissions("
        f'{_binary(user)}, N, <<".*">>, <<".*">>, <<".*">>, {acting}) end'
        f" || N <- [{', '.join(map(_binary, names))}]], ok.",
    )


def delete_vhosts(names: Sequence[str] = (), *, prefix: str | None = None) -> None:
    """Delete the vhosts `names` (those that exist), and every vhost whose name starts with
    `prefix`, in one call."""
    if not names and prefix is None:
        return
    acting = _binary(ACTING_USER)
    wanted = f"[{', '.join(map(_binary, names))}]"
    match = f"lists:member(V, {wanted})"
    if prefix is not None:
        match += f" orelse binary:longest_common_prefix([V, {_binary(prefix)}]) =:= {len(prefix)}"
    rabbitmqctl(
        "eval",
        f"[rabbit_vhost:delete(V, {acting}) || V <- rabbit_vhost:list_names(), {match}], ok.",
    )


class VhostPool:
    """Vhosts named PREFIX + a number, created a batch at a time; each is handed out once and
    deleted after its test by a background thread (the deletions waiting are done in one call);
    `close` waits for those and deletes whatever of the prefix is left."""

    def __init__(self, user: str, first_batch: int, later_batches: int = 4) -> None:
        self.prefix = f"ordersync_t_{uuid.uuid4().hex[:8]}_"
        self.user = user  # given every permission on each vhost
        self.batch, self.later_batches = max(1, first_batch), later_batches
        self._free: list[str] = []
        self._made = 0
        self._doomed: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._errors: list[BaseException] = []
        self._deleter = threading.Thread(target=self._delete_loop, name="vhost-deleter")
        self._deleter.daemon = True
        self._deleter.start()

    def take(self) -> str:
        if not self._free:
            names = [f"{self.prefix}{self._made + i}" for i in range(self.batch)]
            add_vhosts(names, self.user)
            self._made += len(names)
            self._free.extend(names)
            self.batch = self.later_batches
        return self._free.pop(0)

    def give_back(self, vhost: str) -> None:
        """Delete the vhost, soon, in the background."""
        self._doomed.put(vhost)

    def close(self) -> None:
        self._doomed.put(None)
        self._deleter.join(300)
        delete_vhosts(prefix=self.prefix)  # unused ones, and any a failed deletion left
        if self._errors:
            raise self._errors[0]

    def _delete_loop(self) -> None:
        finished = False
        while not finished:
            names = [self._doomed.get()]
            while not self._doomed.empty():
                names.append(self._doomed.get())
            finished = None in names
            try:
                delete_vhosts([n for n in names if n is not None])
            except (subprocess.SubprocessError, OSError) as error:
                self._errors.append(error)


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
