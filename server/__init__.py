"""planmap's HTTP service: OGC API Features, tiles, progress queries, exports and maps."""
