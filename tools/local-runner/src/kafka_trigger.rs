//! Emulates a Kafka event source mapping.
