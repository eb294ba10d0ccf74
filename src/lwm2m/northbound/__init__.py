"""Server events and commands to and from message brokers (MQTT, NATS JetStream); docs/northbound.md."""
