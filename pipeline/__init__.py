"""The distributed stages on Ray: ingest actors, shard Dataset, GAN step, Ray Train loop, colorizers."""
