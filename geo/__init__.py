"""Generic geospatial core: CRSs, measurement, tiles and storage."""
