"""Tasks for tests/test_frameworks.py's huey consumer (``huey_consumer tests.huey_tasks.huey``,
whose Redis URL is RCACHE_TEST_REDIS_URL); the test builds its own instance with ``build``,
whose tasks have the same names, to enqueue them."""

import os
from typing import NamedTuple

from huey import RedisHuey, crontab
from huey.api import TaskWrapper

PERIODIC_COUNTER = "huey-tests:periodic-runs"
LOCK_NAME = "huey-tests:exclusive"


class HueyApp(NamedTuple):
    huey: RedisHuey
    add: TaskWrapper
    exclusive: TaskWrapper


def build(redis_url: str) -> HueyApp:
    huey = RedisHuey("rcache-tests", url=redis_url)

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    @huey.task()
    @huey.lock_task(LOCK_NAME)
    def exclusive(value: int) -> int:
        return value * 2

    @huey.periodic_task(crontab(minute="*"))
    def count_run() -> None:
        """Every minute, and once when the consumer starts (its scheduler checks at once)."""
        huey.storage.conn.incr(PERIODIC_COUNTER)

    return HueyApp(huey, add, exclusive)


huey = build(os.environ["RCACHE_TEST_REDIS_URL"]).huey if "RCACHE_TEST_REDIS_URL" in os.environ \
    else None
