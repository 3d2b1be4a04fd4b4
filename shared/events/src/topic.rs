//! The topic table. Topic creation (locally and in production) reads it; nothing else names topics.

use std::fmt;

/// A domain topic. Its dead-letter twin is `<name>.dlq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    RequestEvents,
    WorkflowEvents,
    NotificationEvents,
    SecurityEvents,
    HrEvents,
    AuditEvents,
}

/// How a topic is created. Replication settings are production's; a local single broker uses 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub retention_ms: i64,
    pub replication_factor: i32,
    pub min_insync_replicas: i32,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Suffix of the dead-letter topic that receives records a consumer could not process.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The catch-all dead-letter topic, for records with no `<topic>.dlq` of their own: records of a
/// topic outside the table (a trigger pointed at someone else's topic), or of a topic whose twin
/// was never created. Without it such a record would block its partition for ever.
pub const UNROUTED_DLQ: &str = "unrouted.dlq";

/// The dead-letter topic a record of `topic` belongs in: its twin for a topic of the table,
/// otherwise [`UNROUTED_DLQ`].
pub fn dead_letter_topic(topic: &str) -> String {
    match Topic::from_name(topic) {
        Some(topic) => topic.dlq_name(),
        None => UNROUTED_DLQ.to_owned(),
    }
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::RequestEvents,
        Topic::WorkflowEvents,
        Topic::NotificationEvents,
        Topic::SecurityEvents,
        Topic::HrEvents,
        Topic::AuditEvents,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Topic::RequestEvents => "request-events",
            Topic::WorkflowEvents => "workflow-events",
            Topic::NotificationEvents => "notification-events",
            Topic::SecurityEvents => "security-events",
            Topic::HrEvents => "hr-events",
            Topic::AuditEvents => "audit-events",
        }
    }

    pub const fn partitions(self) -> i32 {
        match self {
            Topic::RequestEvents | Topic::AuditEvents => 6,
            _ => 3,
        }
    }

    pub const fn retention_days(self) -> i64 {
        match self {
            Topic::RequestEvents => 7,
            Topic::WorkflowEvents => 30,
            Topic::NotificationEvents => 3,
            Topic::SecurityEvents => 90,
            Topic::HrEvents | Topic::AuditEvents => 365,
        }
    }

    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The dead-letter twin's name, e.g. `request-events.dlq`.
    pub fn dlq_name(self) -> String {
        format!("{}{DLQ_SUFFIX}", self.name())
    }

    /// The production spec of this topic.
    pub fn spec(self) -> TopicSpec {
        TopicSpec {
            name: self.name().to_owned(),
            partitions: self.partitions(),
            retention_ms: self.retention_days() * DAY_MS,
            replication_factor: 3,
            min_insync_replicas: 2,
        }
    }

    /// The dead-letter twin: same partitions, kept as long as the longest-lived topic so that
    /// nobody loses a failed record before a human has looked at it.
    pub fn dlq_spec(self) -> TopicSpec {
        TopicSpec {
            name: self.dlq_name(),
            partitions: self.partitions(),
            retention_ms: 365 * DAY_MS,
            replication_factor: 3,
            min_insync_replicas: 2,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TopicSpec {
    /// The same topic for a cluster of `brokers` brokers: replication never exceeds the broker count.
    pub fn for_cluster(mut self, brokers: i32) -> TopicSpec {
        self.replication_factor = self.replication_factor.min(brokers.max(1));
        self.min_insync_replicas = self.min_insync_replicas.min(self.replication_factor);
        self
    }
}

/// Every topic to create: the six domain topics, their dead-letter twins and [`UNROUTED_DLQ`].
pub fn all_topic_specs() -> Vec<TopicSpec> {
    Topic::ALL
        .into_iter()
        .flat_map(|t| [t.spec(), t.dlq_spec()])
        .chain([TopicSpec {
            name: UNROUTED_DLQ.to_owned(),
            partitions: 3,
            retention_ms: 365 * DAY_MS,
            replication_factor: 3,
            min_insync_replicas: 2,
        }])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_design() {
        let specs = all_topic_specs();
        assert_eq!(specs.len(), 13);
        assert!(specs.iter().any(|s| s.name == UNROUTED_DLQ));
        assert_eq!(dead_letter_topic("hr-events"), "hr-events.dlq");
        assert_eq!(dead_letter_topic("AWSKafkaTopic"), UNROUTED_DLQ);
        let request = Topic::RequestEvents.spec();
        assert_eq!((request.partitions, request.retention_ms), (6, 7 * DAY_MS));
        assert_eq!(Topic::AuditEvents.spec().partitions, 6);
        assert_eq!(Topic::SecurityEvents.spec().retention_ms, 90 * DAY_MS);
        assert!(specs.iter().any(|s| s.name == "hr-events.dlq"));
        for t in Topic::ALL {
            assert_eq!(Topic::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn single_broker_gets_replication_one() {
        let local = Topic::WorkflowEvents.spec().for_cluster(1);
        assert_eq!(
            (local.replication_factor, local.min_insync_replicas),
            (1, 1)
        );
        let prod = Topic::WorkflowEvents.spec().for_cluster(3);
        assert_eq!((prod.replication_factor, prod.min_insync_replicas), (3, 2));
    }
}
