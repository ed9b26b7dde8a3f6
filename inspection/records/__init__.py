"""What the station keeps: the verdict log and image archive (`store.Store`, the one owner of the
database connection), history search, SPC charts and live counters, review samples and labels.
The console reads all of it through functions here, never with its own SQL.
"""
