"""MQTT -> InfluxDB bridge: durable on-disk queue, acks after commit, batched writes."""
