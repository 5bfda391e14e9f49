"""Tasks for the Celery workers of tests/test_frameworks.py and tests/test_sentinel.py, which
import this module by name. Redis (rcache) is both the broker and the result backend:
RCACHE_TEST_REDIS_URL, a redis:// URL or sentinel:// ones (rcache nodes as the sentinels)."""

import os
import time
from pathlib import Path

from celery import Celery
from redis.backoff import NoBackoff
from redis.retry import Retry

# With sentinel:// URLs: rcache's default sentinel-master-name, and each node asked once
# (redis-py's default retries, with backoff, cost seconds per discovery while one is down)
SENTINEL_OPTIONS = {"master_name": "mymaster",
                    "sentinel_kwargs": {"retry": Retry(NoBackoff(), 0), "socket_timeout": 5}}

redis_url = os.environ.get("RCACHE_TEST_REDIS_URL")
app = Celery("tests.celery_tasks", broker=redis_url, backend=redis_url)
app.conf.broker_connection_retry_on_startup = True
# a late-acked task whose worker died is delivered again once unacknowledged for 3 s; the
# worker looks for such tasks every second (kombu's defaults: an hour, every 100 s)
app.conf.broker_transport_options = {"visibility_timeout": 3, "unacked_restore_interval": 1,
                                     "unacked_restore_throttle": 1}
if redis_url and redis_url.startswith("sentinel://"):
    app.conf.broker_transport_options.update(SENTINEL_OPTIONS)
    app.conf.result_backend_transport_options = SENTINEL_OPTIONS


@app.task
def add(a: int, b: int) -> int:
    return a + b


@app.task
def total(values: list[int]) -> int:
    """A chord's body: the sum of its header's results."""
    return sum(values)


@app.task
def fail(message: str) -> None:
    raise ValueError(message)


@app.task(acks_late=True)
def triple_after_a_hang(marker: str, value: int) -> int:
    """Hangs on its first delivery (the test kills that worker), answers on the next."""
    first_delivery = Path(marker)
    if not first_delivery.exists():
        first_delivery.touch()
        time.sleep(60)
    return value * 3
