"""Command families, one module each; ``table`` holds the declarations they register.

Importing this package (which importing ``rcache.commands.table`` does first) imports every
family, so the table is complete wherever it is read. A family imports only the table and
the layers below it (storage, resp, errors...), never the node's runtime (statemachine,
server, raft, cluster): that keeps the import graph free of cycles
(``python -m rcache.verify.imports``).
"""

from . import (  # noqa: F401  (each family registers its commands when imported)
    acl,
    bits,
    cluster,
    connection,
    debug,
    expiry,
    geo,
    hashes,
    hyperloglog,
    info,
    introspection,
    keyspace,
    lcs,
    leases,
    lists,
    pubsub,
    raft,
    scripting,
    sentinel,
    serialization,
    server,
    sets,
    sort,
    streams,
    strings,
    tracking,
    transactions,
    zsets,
)
