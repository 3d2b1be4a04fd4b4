//! `prune-test-data` deletes the consumer groups earlier test runs left: only empty ones, only
//! with the prefixes it is given. Runs against the dev broker, on groups of this test's own
//! prefix, so the other tests' groups are never in its reach.

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use servicehub_tests::kafka::delete_empty_groups;
use servicehub_tests::required_env;
use servicehub_tests::stack::start_group_at_the_end;
use std::time::{Duration, Instant};
use uuid::Uuid;

const TOPIC: &str = "request-events";

/// The group's state as the broker lists it (`None`: no such group).
fn group_state(group: &str) -> Option<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
        .create()
        .expect("a client");
    let list = consumer
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .expect("describing the group");
    list.groups()
        .iter()
        .find(|g| g.name() == group)
        .map(|g| g.state().to_owned())
        .filter(|state| state != "Dead")
}

#[tokio::test]
async fn only_empty_groups_of_the_given_prefixes_are_deleted() {
    let id = Uuid::new_v4().simple().to_string();
    let prefix = format!("prune-{id}-");
    let left = format!("{prefix}left");
    let in_use = format!("{prefix}in-use");
    let other = format!("prune-other-{id}");
    for group in [&left, &in_use, &other] {
        start_group_at_the_end(group, TOPIC).await;
    }

    // A member joins `in_use` and stays until the prune is over.
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let member = {
        let in_use = in_use.clone();
        std::thread::spawn(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
                .set("group.id", &in_use)
                .set("enable.auto.commit", "false")
                .create()
                .expect("a consumer");
            consumer.subscribe(&[TOPIC]).expect("subscribing");
            let deadline = Instant::now() + Duration::from_secs(30);
            while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
                assert!(Instant::now() < deadline, "{in_use} got no assignment");
                consumer.poll(Duration::from_millis(100));
            }
            joined_tx.send(()).expect("the test waits");
            while done_rx.try_recv().is_err() {
                consumer.poll(Duration::from_millis(100));
            }
            consumer.unsubscribe();
        })
    };
    joined_rx
        .recv_timeout(Duration::from_secs(40))
        .expect("the member joined");
    assert_eq!(group_state(&left).as_deref(), Some("Empty"));
    assert_eq!(group_state(&in_use).as_deref(), Some("Stable"));

    assert_eq!(delete_empty_groups(&[&prefix]).await, 1);
    assert_eq!(group_state(&left), None, "the empty group is gone");
    assert_eq!(
        group_state(&in_use).as_deref(),
        Some("Stable"),
        "a group with a member stays"
    );
    assert_eq!(
        group_state(&other).as_deref(),
        Some("Empty"),
        "a group of another prefix stays"
    );

    // Clean up: once its member has left, `in_use` goes the same way.
    done_tx.send(()).expect("the member polls");
    member.join().expect("the member thread");
    let deadline = Instant::now() + Duration::from_secs(30);
    while group_state(&in_use).as_deref() != Some("Empty") {
        assert!(Instant::now() < deadline, "{in_use} did not become empty");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(delete_empty_groups(&[&prefix, &other]).await, 2);
}
