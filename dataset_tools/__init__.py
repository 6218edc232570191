"""The on-disk world: recordings, video I/O, pairing, sampling, registration, HDF5 shards, splits."""
