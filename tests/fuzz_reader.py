"""Coverage-guided fuzzing (atheris) of the RESP request reader, the part of rcache that reads
untrusted bytes. Run: ``python tests/fuzz_reader.py -runs=100000`` (libFuzzer options).

Properties checked on every input: the reader never raises; it returns the same commands and
the same protocol error whether the bytes arrive at once or in pieces (the input also decides
where it is cut); and what it keeps buffered never exceeds what it was fed.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from rcache.resp import RequestReader


def _parse(chunks: list[bytes]) -> tuple[list[list[bytes]], str | None]:
    reader = RequestReader(max_bulk_len=1 << 16)
    commands: list[list[bytes]] = []
    fed = 0
    for chunk in chunks:
        reader.feed(chunk)
        fed += len(chunk)
        commands += reader.pop_commands()
        assert reader.buffered() <= fed
    return commands, reader.error


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    cuts = sorted(provider.ConsumeIntListInRange(provider.ConsumeIntInRange(0, 8), 0, 4096))
    payload = provider.ConsumeBytes(provider.remaining_bytes())
    bounds = [0, *(min(cut, len(payload)) for cut in cuts), len(payload)]
    chunks = [payload[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    whole = _parse([payload])
    pieces = _parse(chunks)
    assert whole == pieces, (payload, chunks, whole, pieces)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
