-- Central health store, version 2 (issue 21): the station's health samples and baselines, keyed like the
-- rest by (station, local_id[, time]). Health warnings and alarms are events at the station (kind =
-- the HealthKind code, `health_…`) and already travel in `events`; the view `health_warnings` picks them.

-- A sample every few parts (raw signal values, smoothed levels, overall state): a time series that grows
-- with the line, so partitioned by day like `events` (retention = DROP of old partitions). `signals` and
-- `smoothed` are the station's JSON text as jsonb; `data` holds the row's other columns.
CREATE TABLE health (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz NOT NULL,
    part_index     bigint,
    state          text,
    signals        jsonb,
    smoothed       jsonb,
    data           jsonb NOT NULL,
    PRIMARY KEY (station, local_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX health_station_time ON health (station, time);

-- Every baseline set at the station (append-only there: the newest is in force). Low volume, not partitioned.
CREATE TABLE health_baseline (
    station        text NOT NULL,
    local_id       bigint NOT NULL,
    time           timestamptz,
    parts          integer,
    set_by         text,
    note           text,
    baseline       jsonb,
    data           jsonb NOT NULL,
    PRIMARY KEY (station, local_id)
);

-- Health warnings and alarms across the line. `warning` is the station's event detail (the
-- HealthWarning: signal, value, baseline, limit, forecast, cause, action) as text: it may hold NaN,
-- which jsonb refuses, so readers parse it.
CREATE VIEW health_warnings AS
    SELECT station, local_id, time, level AS severity, kind, message, data->>'data' AS warning
    FROM events WHERE kind LIKE 'health\_%';
