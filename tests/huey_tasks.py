"""Tasks for tests/test_frameworks.py's huey consumer (``huey_consumer tests.huey_tasks.huey``,
whose Redis URL is RCACHE_TEST_REDIS_URL); the test builds its own instance with ``build``,
whose tasks have the same names, to enqueue them."""

import os
from typing import NamedTuple

from huey import RedisHuey, crontab
from huey.api import TaskWrapper
from huey.contrib.helpers import lock_task_semaphore

PERIODIC_COUNTER = "huey-tests:periodic-runs"
LOCK_NAME = "huey-tests:exclusive"
SEMAPHORE_NAME = "huey-tests:few"  # a sorted set of holders, taken and renewed by Lua scripts


class HueyApp(NamedTuple):
    huey: RedisHuey
    add: TaskWrapper
    exclusive: TaskWrapper
    one_at_a_time: TaskWrapper


def build(redis_url: str) -> HueyApp:
    huey = RedisHuey("rcache-tests", url=redis_url)

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    @huey.task()
    @huey.lock_task(LOCK_NAME)
    def exclusive(value: int) -> int:
        return value * 2

    @huey.task()
    @lock_task_semaphore(huey, SEMAPHORE_NAME, value=1)
    def one_at_a_time(value: int) -> int:
        return value + 100

    @huey.periodic_task(crontab(minute="*"))
    def count_run() -> None:
        """Every minute, and once when the consumer starts (its scheduler checks at once)."""
        huey.storage.conn.incr(PERIODIC_COUNTER)

    return HueyApp(huey, add, exclusive, one_at_a_time)


huey = build(os.environ["RCACHE_TEST_REDIS_URL"]).huey if "RCACHE_TEST_REDIS_URL" in os.environ \
    else None
