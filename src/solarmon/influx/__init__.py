"""InfluxDB side: Flux downsampling tasks, idempotent bootstrap, storage estimate."""
