"""dlt source over export files: read, map each preset's rows to canonical records, build."""
