"""Tasks for tests/test_frameworks.py's Celery worker, which imports this module by name.
Redis (rcache) is both the broker and the result backend: RCACHE_TEST_REDIS_URL."""

import os

from celery import Celery

redis_url = os.environ.get("RCACHE_TEST_REDIS_URL")
app = Celery("tests.celery_tasks", broker=redis_url, backend=redis_url)
app.conf.broker_connection_retry_on_startup = True


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
