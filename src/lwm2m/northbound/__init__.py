"""Server events and commands to and from message brokers: MQTT and NATS JetStream
(docs/northbound.md)."""
