"""Beyond one station: the central verdict store on PostgreSQL (`central:` in the station YAML).

`config.CentralConfig` is the YAML section; `replicator.Replicator` ships the station's SQLite rows to
PostgreSQL exactly once; `schema` holds the numbered SQL migrations and the daily partitions;
`fleet` reads the line's status for `station fleet status` and the console's Line tab. psycopg is
imported only when a `central:` section is configured (extra `[fleet]`).
"""
