-- Central verdict store, version 1. Every row carries the station (its `name:`) and its local SQLite id;
-- (station, local_id[, time]) is the key every upsert uses, so a batch sent twice lands once.
-- High-volume tables are partitioned by day on `time` (UTC); partitions are created by the replicator
-- before it writes a day (inspection.central.schema.ensure_partitions).

CREATE TABLE stations (
    station        text PRIMARY KEY,
    first_seen     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now(),
    model_id       text,
    recipe         text,
    alarms         jsonb NOT NULL DEFAULT '{}'::jsonb,
    info           jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- The persisted high-water mark: the last local id shipped per station and table, written in the same
-- transaction as the rows it covers.
CREATE TABLE replication_state (
    station        text NOT NULL,
    source_table   text NOT NULL,
    last_id        bigint NOT NULL DEFAULT 0,
    updated        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, source_table)
);

CREATE TABLE inspections (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz NOT NULL,
    part_key       text,
    part_id        text,
    camera_id      text,
    recipe         text,
    model_id       text,
    verdict        text NOT NULL,
    failsafe       boolean NOT NULL DEFAULT false,
    latency_ms     double precision,
    data           jsonb NOT NULL,
    received       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, local_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX inspections_station_time ON inspections (station, time);

CREATE TABLE detections (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz NOT NULL,
    inspection_id  bigint NOT NULL,
    class_name     text,
    confidence     double precision,
    counted        boolean,
    data           jsonb NOT NULL,
    PRIMARY KEY (station, local_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX detections_station_inspection ON detections (station, inspection_id);

CREATE TABLE refdes_results (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz NOT NULL,
    inspection_id  bigint NOT NULL,
    refdes         text,
    pin            text,
    class_name     text,
    counted        boolean,
    data           jsonb NOT NULL,
    PRIMARY KEY (station, local_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX refdes_results_refdes ON refdes_results (refdes, time);

CREATE TABLE events (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz NOT NULL,
    level          text,
    kind           text,
    message        text,
    data           jsonb NOT NULL,
    PRIMARY KEY (station, local_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX events_station_time ON events (station, time);

-- Low-volume tables, not partitioned. `data` holds every column of the station's row as it is, so
-- columns added later at the station (e.g. the audit chain's prev_hash/row_hash) travel without a
-- migration here.
CREATE TABLE audit (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz,
    data           jsonb NOT NULL,
    PRIMARY KEY (station, local_id)
);

-- Overrides and labels change after they are written (review, delete): upserted with their newest content.
CREATE TABLE overrides (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    inspection_id  bigint,
    status         text,
    data           jsonb NOT NULL,
    updated        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, local_id)
);

CREATE TABLE labels (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    data           jsonb NOT NULL,
    updated        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, local_id)
);
