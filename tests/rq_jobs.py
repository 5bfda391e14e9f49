"""Jobs for tests/test_streams.py's rq round trip: a worker process imports them by name."""


def add(a: int, b: int) -> int:
    return a + b
