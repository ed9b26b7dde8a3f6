-- Central store, version 3: which station log ships under a station name. Two stations configured with the
-- same name would otherwise share one replication mark: the second one's first rows are skipped as already
-- shipped and the rest mix with the first one's. The replicator refuses to ship when the instance differs.
ALTER TABLE stations ADD COLUMN instance text;
ALTER TABLE stations ADD COLUMN host text;
