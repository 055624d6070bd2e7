"""The workers' Redis transport: kombu's, with one fault fixed — a worker that survives a Redis
restart every time, not most times.

When Redis dies while a worker's consumer is waiting in BRPOP with a task in hand (late ack),
Celery handles the lost connection by calling ``Connection.collect()`` and then
``Connection.close()``. The first leaves the task channel open: its ``close`` re-reads the
pending BRPOP, which raises a connection error before the channel is marked closed; closing the
transport's channels stops at the first that raises (the worker's remote-control channel,
opened later, is closed first); and ``collect`` goes on to detach the transport from its client.
The second ``close`` then tries to put the unacknowledged task back through a connection pool
built from that client, which is ``None``: ``AttributeError: 'NoneType' object has no attribute
'hostname'`` in ``Channel._connparams``. Celery ignores only connection and channel errors there, so the
AttributeError stops the whole worker ("Unrecoverable error") instead of reconnecting (the
race reported upstream in celery/kombu#582 and the "worker stops consuming after a Redis
restart" reports). Measured here: `tests/workers/test_recovery.py`'s Redis-restart test failed
1 run in 10 this way.

`Channel._connparams` here raises the connection error the situation is (the transport this
channel belonged to was closed) so that Celery's own reconnection runs. Nothing is lost by not
restoring the task from that closed channel: a Redis that restarted empty has nothing to put it
back into, a Redis that did not is restored by the visibility timeout, and the sweeper
re-enqueues every page whose lease ran out (`intake.batches.queue`).

Used by the worker only (`workers.app` sets ``broker_transport``); producers keep kombu's
transport and log a message they could not send (the sweeper sends it again).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

NAME = "workers.broker:Transport"


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
