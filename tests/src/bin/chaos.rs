//! The chaos suite: the whole local system (the local runner on the real template.yaml, every
//! function, every Kafka trigger, the relay's schedule) under a steady load of request creations,
//! one fault injected into the real dev services, and afterwards every request checked end to
//! end. Prints its figures and exits non-zero when a scenario does not hold them.
//!
//!   tools/chaos                       every scenario (what CI runs)
//!   tools/chaos kafka-down            one scenario: kafka-down, postgres-down, ses-down,
//!                                     notify-killed, poison
//!
//! Scenarios:
//! - `kafka-down`: the broker is killed (SIGKILL) under load and started again after the outage.
//!   Holds: no API answer other than 201, every request manager-assigned, its confirmation and
//!   the manager's notice sent exactly once, its request.created in the audit log, the outbox
//!   empty. Prints the answers' latency while the broker was away and how long after its return
//!   the outage's backlog was processed (a figure, not a verdict).
//! - `postgres-down`: PostgreSQL is stopped without a checkpoint (as after a crash) under load
//!   and started again. Holds: every answer 201 or 503 with Retry-After (never another 5xx), and
//!   every request answered 201 processed end to end exactly once afterwards.
//! - `ses-down`: SES answers every call 503 for the outage (its calls go through an
//!   [`OutageSwitch`] in front of moto, `AWS_ENDPOINT_URL_SESV2`; the rest of AWS stays up).
//!   Holds: no answer other than 201, and after SES is back every e-mail delivered exactly once:
//!   notify keeps what SES refused and its schedule retries it, so no Kafka batch fails and
//!   AWS's retry cap never drops one. `CHAOS_OUTAGE_SECONDS=600` is the issue's ten minutes.
//! - `notify-killed`: every notify process is SIGKILLed under load, twice (at the fault and half
//!   an outage later). Holds: no answer other than 201, no e-mail sent twice, and no message
//!   left `sending`: claims whose sender died are settled by notify's schedule after the lease
//!   (15 s here, through the runner's `--env-vars`) as failed with an unknown outcome.
//! - `poison`: four records no consumer can process are produced to request-events under load:
//!   bytes that are not ours, an event of an unknown type, a `request.created` whose request does
//!   not exist, and a 2 MB event. Holds: each of the first three dead-lettered to
//!   request-events.dlq by assign-manager with its reason (the other consumers' dead letters
//!   are printed), the 2 MB one refused by the broker (max.message.bytes) or dead-lettered, and
//!   every request of the load processed exactly once; prints creation-to-assignment latency.
//! - `brokers-down` (on the three-broker dev cluster, RF 3, min.insync.replicas 2): one broker
//!   SIGKILLed for the outage, then a second for half as long, then both started again. Holds:
//!   every answer 201 (below the in-sync minimum the publish after commit gives up within its
//!   budget and the outbox keeps the events), nothing lost or sent twice; prints the latency per
//!   phase, how soon publishing resumed with one broker down, and how many events went out
//!   within a second of their commit.
//!
//! The load is steady, not as fast as it can go: CHAOS_RATE requests a second over
//! CHAOS_CONNECTIONS connections (a connection falls behind only when answers are slow), from
//! CHAOS_FAULT_AT_SECONDS before the fault until CHAOS_AFTER_SECONDS after the service answers
//! again. Knobs (environment): CHAOS_RATE (20), CHAOS_CONNECTIONS (8), CHAOS_FAULT_AT_SECONDS
//! (10), CHAOS_OUTAGE_SECONDS (20), CHAOS_AFTER_SECONDS (10), CHAOS_DRAIN_LIMIT_SECONDS (120; 210
//! for ses-down and notify-killed, which notify's once-a-minute schedule settles).
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`), the built binaries, and nothing
//! else using them: it stops and starts the shared broker and database.

use serde_json::Value;
use servicehub_events::catalog::RequestCreated;
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_events::values::Urgency;
use servicehub_events::{Envelope, KafkaMessage, Topic};
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::outage::OutageSwitch;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, audit_database, new_request, repo_root, required_env};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Kafka,
    Postgres,
    Ses,
    NotifyKilled,
    Poison,
    Brokers,
}

/// `brokers-down` needs the three-broker dev cluster (tools/chaos switches to it for that one).
const FAULTS: [Fault; 6] = [
    Fault::Kafka,
    Fault::Postgres,
    Fault::Ses,
    Fault::NotifyKilled,
    Fault::Poison,
    Fault::Brokers,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kafka => "kafka-down",
            Fault::Postgres => "postgres-down",
            Fault::Ses => "ses-down",
            Fault::NotifyKilled => "notify-killed",
            Fault::Poison => "poison",
            Fault::Brokers => "brokers-down",
        }
    }

    fn service(self) -> &'static str {
        match self {
            Fault::Kafka => "kafka",
            Fault::Postgres => "postgres",
            Fault::Ses => "SES",
            Fault::NotifyKilled => "notify",
            Fault::Poison => "poisoned request-events",
            Fault::Brokers => "two of three brokers",
        }
    }

    /// Whether a message may end `failed` (outcome unknown) rather than sent: only when its sender
    /// was killed mid-send (at most once: never sent twice).
    fn may_lose_in_flight_messages(self) -> bool {
        self == Fault::NotifyKilled
    }
}

/// SIGKILLs every notify process as soon as one holds a claim (a message being sent), so that the
/// kill lands mid-batch; waits at most 5 s for one.
async fn kill_notify_mid_send(db: &TestDatabase) {
    let since = Instant::now();
    let mut sending = 0;
    while since.elapsed() < Duration::from_secs(5) {
        sending = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM notifications WHERE state = 'sending'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap_or(0);
        if sending > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = kill_function("notify").await;
    println!("killed {killed} notify processes with {sending} messages being sent");
}

/// One poison record among the load's events.
struct Poison {
    kind: &'static str,
    message: KafkaMessage,
    /// A consumer that must dead-letter it (the one whose work it claims to be).
    must_dead_letter: Option<&'static str>,
}

/// Records that no consumer can process, for request-events: bytes that are not ours, an event of
/// a type nobody knows, a `request.created` whose request does not exist, and one of 2 MB.
fn poison_records(region: &str) -> Vec<Poison> {
    let not_ours = KafkaMessage {
        topic: Topic::RequestEvents.name().to_owned(),
        key: Some(format!("poison-not-ours-{}", Uuid::now_v7()).into_bytes()),
        headers: vec![],
        value: Some(b"\xff\xfe this is not an event".to_vec()),
    };
    let created = |request_id: Uuid| {
        Envelope::new(
            "chaos",
            RequestCreated {
                request_id,
                customer_id: Uuid::now_v7(),
                title: "Протекает кран".into(),
                description: "Капает из-под смесителя".into(),
                category: "plumbing".into(),
                urgency: Urgency::Normal,
                region: region.to_owned(),
                city: "Казань".into(),
                address: "ул. Баумана, 1".into(),
                preferred_time_window: None,
                budget: None,
                created_at: chrono::Utc::now(),
            },
        )
    };
    let with_json = |mut message: KafkaMessage, change: &dyn Fn(&mut Value)| {
        let mut json: Value = serde_json::from_slice(message.value.as_deref().unwrap_or_default())
            .expect("an envelope is JSON");
        change(&mut json);
        message.value = Some(json.to_string().into_bytes());
        message
    };
    let mut unknown = with_json(created(Uuid::now_v7()).to_kafka(), &|json| {
        json["type"] = "request.teleported".into()
    });
    for (_, value) in &mut unknown.headers {
        if value.as_slice() == b"request.created" {
            *value = b"request.teleported".to_vec();
        }
    }
    let huge = with_json(created(Uuid::now_v7()).to_kafka(), &|json| {
        json["data"]["description"] = "x".repeat(2 * 1024 * 1024).into()
    });
    vec![
        Poison {
            kind: "not ours",
            message: not_ours,
            must_dead_letter: Some("assign-manager"),
        },
        Poison {
            kind: "unknown type",
            message: unknown,
            must_dead_letter: Some("assign-manager"),
        },
        Poison {
            kind: "missing request",
            message: created(Uuid::now_v7()).to_kafka(),
            must_dead_letter: Some("assign-manager"),
        },
        Poison {
            kind: "2 MB",
            message: huge,
            must_dead_letter: None,
        },
    ]
}

/// Produces the poison records; what the broker said of each (`None`: taken).
async fn inject_poison(poison: &[Poison]) -> Vec<Option<String>> {
    let config = servicehub_platform::Config::without_database_from_env("chaos")
        .expect("the Kafka settings");
    let producer =
        servicehub_platform::kafka::EventProducer::new(&config).expect("a Kafka producer");
    let mut outcomes = Vec::new();
    for record in poison {
        let outcome = producer
            .send(&record.message)
            .await
            .err()
            .map(|e| e.to_string());
        outcomes.push(outcome);
    }
    outcomes
}

/// SIGKILLs every process of the function binary `name`; how many there were.
async fn kill_function(name: &str) -> usize {
    let found = tokio::process::Command::new("pgrep")
        .args(["-x", name])
        .output()
        .await
        .expect("running pgrep");
    let pids = String::from_utf8_lossy(&found.stdout).lines().count();
    let _ = tokio::process::Command::new("pkill")
        .args(["-KILL", "-x", name])
        .status()
        .await;
    pids
}

/// One answer of the load.
struct Answer {
    /// Since the load started.
    at: Duration,
    latency: Duration,
    status: u16,
    retry_after: bool,
    customer: usize,
    request_id: Option<String>,
}

async fn dev_services(command: &str, service: &str) {
    let status = tokio::process::Command::new(repo_root().join("tools/dev-services"))
        .args([command, service])
        .status()
        .await
        .expect("running tools/dev-services");
    assert!(status.success(), "tools/dev-services {command} {service}");
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn latency_line(answers: &[&Answer]) -> String {
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    latencies.sort();
    format!(
        "{} answers, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    )
}

/// ClickHouse: how many requests have their request.created in the audit log (the database is
/// this run's own).
async fn audited(database: &str) -> u64 {
    let query = format!(
        "SELECT uniqExact(request_id) FROM {database}.events FINAL \
         WHERE event_type = 'request.created'"
    );
    let answer = reqwest::Client::new()
        .post(required_env("CLICKHOUSE_URL"))
        .body(query)
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => response
            .text()
            .await
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// What the drain found, polled until complete or the limit.
#[derive(Default, Debug)]
struct Drain {
    assigned: i64,
    sent: i64,
    /// Given up (`failed`).
    failed: i64,
    /// Still `sending` or `retrying`.
    unsettled: i64,
    unpublished: i64,
    audited: u64,
}

async fn drain_state(db: &TestDatabase, audit_db: &str) -> Option<Drain> {
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT count(*) FROM service_requests WHERE status = 'manager_assigned'),
            (SELECT count(*) FROM notifications WHERE state = 'sent' AND request_id IS NOT NULL),
            (SELECT count(*) FROM notifications WHERE state = 'failed' AND request_id IS NOT NULL),
            (SELECT count(*) FROM notifications
              WHERE state IN ('sending', 'retrying') AND request_id IS NOT NULL),
            (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
    )
    .fetch_one(&db.pool)
    .await
    .ok()?;
    Some(Drain {
        assigned: row.0,
        sent: row.1,
        failed: row.2,
        unsettled: row.3,
        unpublished: row.4,
        audited: audited(audit_db).await,
    })
}

/// Whether every request created before `before` is assigned and has both e-mails sent (or
/// settled either way, with `or_failed`).
async fn backlog_cleared(
    db: &TestDatabase,
    before: chrono::DateTime<chrono::Utc>,
    or_failed: bool,
) -> bool {
    let counts: Result<(i64, i64, i64), _> = sqlx::query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE status = 'manager_assigned'),
                (SELECT count(*) FROM notifications n JOIN service_requests o ON o.id = n.request_id
                  WHERE o.created_at < $1 AND (n.state = 'sent' OR ($2 AND n.state = 'failed')))
         FROM service_requests WHERE created_at < $1",
    )
    .bind(before)
    .bind(or_failed)
    .fetch_one(&db.pool)
    .await;
    matches!(counts, Ok((total, assigned, sent)) if assigned == total && sent == 2 * total)
}

async fn run(fault: Fault) -> Vec<String> {
    let connections = knob("CHAOS_CONNECTIONS", 8).max(1) as usize;
    let rate = knob("CHAOS_RATE", 20).max(1);
    let after = Duration::from_secs(knob("CHAOS_AFTER_SECONDS", 10));
    let fault_at = Duration::from_secs(knob("CHAOS_FAULT_AT_SECONDS", 10));
    let outage = Duration::from_secs(knob("CHAOS_OUTAGE_SECONDS", 20));
    // A provider's or a sender's outage is settled by notify's schedule: a minute's tick plus the
    // retry's wait (NOTIFY_RETRY_MAX_DELAY_SECONDS) or the claim's lease.
    let drain_default = match fault {
        Fault::Kafka | Fault::Postgres | Fault::Poison | Fault::Brokers => 120,
        Fault::Ses | Fault::NotifyKilled => 210,
    };
    let drain_limit = Duration::from_secs(knob("CHAOS_DRAIN_LIMIT_SECONDS", drain_default));
    println!(
        "\n== {}: {rate} requests/s over {connections} connections, {} down at {fault_at:?} for {outage:?}, load until {after:?} after it is back",
        fault.name(),
        fault.service()
    );

    let db = TestDatabase::new().await;
    let audit = audit_database().await;
    // SES's calls go through a switch that can take it down; the rest of AWS stays up.
    let ses = OutageSwitch::start(&required_env("AWS_ENDPOINT_URL")).await;
    // A killed sender's claims are settled after a short lease here (the template's 120 s is
    // longer than the function's timeout; nothing in this load takes long to send).
    let env_vars = std::env::temp_dir().join(format!("chaos-env-vars-{}.json", std::process::id()));
    std::fs::write(
        &env_vars,
        r#"{"NotifyFunction": {"NOTIFY_CLAIM_LEASE_SECONDS": "15"}}"#,
    )
    .expect("writing the env-vars file");
    let mut runner_env = vec![
        // The relay has been running all along, as in a deployed system.
        ("LOCAL_RUNNER_FIRE_SCHEDULES_AT_START", "1".to_owned()),
        ("AWS_ENDPOINT_URL_SESV2", ses.url.clone()),
    ];
    if fault == Fault::NotifyKilled {
        runner_env.push((
            "LOCAL_RUNNER_ENV_VARS",
            env_vars.to_string_lossy().into_owned(),
        ));
    }
    let runner_env: Vec<(&str, &str)> = runner_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut stack = Stack::start_with_parameters(
        &db.url,
        &runner_env,
        &[
            ("ClickHouseDatabase", audit.database()),
            // What a deployment gets, not the test stacks' patient 10 s.
            ("OutboxPublishBudgetMs", "200"),
        ],
    )
    .await;
    let region = format!("chaos-{}", stack.id);
    let admin = stack.admin().await;
    let manager = stack.create_manager(&admin, &[&region]).await;
    let manager_email = manager["email"].as_str().unwrap_or_default().to_owned();
    let mut customers = Vec::new();
    for _ in 0..connections {
        customers.push(stack.verified_customer_with_email().await);
    }
    let body = new_request(&region);
    // Warm every environment the load needs before measuring.
    for (token, _) in &customers {
        let (status, _) = stack.post(token, "/requests", &body).await;
        assert_eq!(status, 201, "warm-up");
    }
    let warmup_requests = customers.len();

    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let (stop_load, load_stopped) = tokio::sync::watch::channel(false);
    let interval = Duration::from_secs_f64(connections as f64 / rate as f64);
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let mut load = tokio::task::JoinSet::new();
    for (customer, (token, _)) in customers.iter().enumerate() {
        let (client, token, body, answers) =
            (client.clone(), token.clone(), body.clone(), answers.clone());
        let url = stack.url("/requests");
        let stopped = load_stopped.clone();
        // Connections start spread over one interval.
        let mut next = started + interval.mul_f64(customer as f64 / connections as f64);
        load.spawn(async move {
            while !*stopped.borrow() {
                tokio::time::sleep_until(next.into()).await;
                next += interval;
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("authorization", &token)
                    .json(&body)
                    .send()
                    .await;
                let (status, retry_after, request_id) = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = response.headers().contains_key("retry-after");
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        let id = body["id"].as_str().map(str::to_owned);
                        (status, retry_after, id)
                    }
                    // A timeout or a dropped connection: worse than any status.
                    Err(_) => (0, false, None),
                };
                answers.lock().unwrap().push(Answer {
                    at: sent - started,
                    latency: sent.elapsed(),
                    status,
                    retry_after,
                    customer,
                    request_id: request_id.filter(|_| status == 201),
                });
            }
        });
    }

    tokio::time::sleep(fault_at).await;
    match fault {
        Fault::Kafka | Fault::Postgres => dev_services("kill", fault.service()).await,
        Fault::Ses => ses.set_down(true),
        Fault::NotifyKilled => kill_notify_mid_send(&db).await,
        Fault::Poison => {}
        Fault::Brokers => dev_services("kill", "kafka-2").await,
    }
    let first_down_wall = chrono::Utc::now();
    let mut second_down: Option<(Duration, chrono::DateTime<chrono::Utc>)> = None;
    let poison = poison_records(&region);
    let mut dlq_probe = None;
    // A valid event whose request does not exist is still an event: the audit log keeps it.
    let mut audited_poison = 0;
    if fault == Fault::Poison {
        dlq_probe = Some(KafkaProbe::new(&format!(
            "{}.dlq",
            Topic::RequestEvents.name()
        )));
        let outcomes = inject_poison(&poison).await;
        audited_poison = poison
            .iter()
            .zip(&outcomes)
            .filter(|(p, outcome)| p.kind == "missing request" && outcome.is_none())
            .count() as u64;
        for (record, outcome) in poison.iter().zip(&outcomes) {
            match outcome {
                None => println!("poison {}: produced", record.kind),
                Some(refusal) => {
                    println!("poison {}: refused by the broker: {refusal}", record.kind)
                }
            }
        }
    }
    let down_at = started.elapsed();
    if fault == Fault::NotifyKilled {
        // Once more, mid-way: the environments that took over die too.
        tokio::time::sleep(outage / 2).await;
        kill_notify_mid_send(&db).await;
        tokio::time::sleep(outage / 2).await;
    } else if fault == Fault::Brokers {
        // One broker away for the outage: the other two still make the in-sync minimum once the
        // controller has fenced it. Then a second for half as long: below min.insync.replicas,
        // writes wait.
        tokio::time::sleep(outage).await;
        dev_services("kill", "kafka-3").await;
        second_down = Some((started.elapsed(), chrono::Utc::now()));
        tokio::time::sleep(outage / 2).await;
    } else {
        tokio::time::sleep(outage).await;
    }
    let restart = Instant::now();
    match fault {
        Fault::Kafka | Fault::Postgres => dev_services("start", fault.service()).await,
        Fault::Ses => {
            ses.set_down(false);
            println!("SES answered {} requests 503 while down", ses.refused());
        }
        Fault::NotifyKilled | Fault::Poison => {}
        // Both at once: `start kafka` launches every node that is down, then waits for each.
        Fault::Brokers => dev_services("start", "kafka").await,
    }
    let back = Instant::now();
    let back_wall = chrono::Utc::now();
    let back_at = back - started;
    println!(
        "{} down at {:.1} s, started again at {:.1} s, answering {:.1} s later",
        fault.service(),
        down_at.as_secs_f64(),
        (restart - started).as_secs_f64(),
        (back - restart).as_secs_f64()
    );
    // The outage's backlog is watched from the moment the service answers, while the load goes
    // on (watching only after it, as before, could not see a catch-up faster than the load's
    // remaining seconds).
    let mut backlog_cleared_at = None;
    while back.elapsed() < after {
        if backlog_cleared_at.is_none()
            && backlog_cleared(&db, back_wall, fault.may_lose_in_flight_messages()).await
        {
            backlog_cleared_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(250).min(after.saturating_sub(back.elapsed())))
            .await;
    }
    let _ = stop_load.send(true);
    while load.join_next().await.is_some() {}
    let last_answer = Instant::now();

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let created: Vec<String> = answers
        .iter()
        .filter_map(|a| a.request_id.clone())
        .collect();
    let expected = (created.len() + warmup_requests) as i64;

    // The drain: until every created request went all the way, or the limit.
    let mut state = Drain::default();
    let mut drained_at = None;
    // The outage's backlog (above): the requests created before the service answered again, each
    // assigned and both its e-mails sent (the load goes on meanwhile, as in life).
    // When each part of the pipeline had drained everything, after the last answer.
    let mut stages: [(&str, Option<Instant>); 4] = [
        ("outbox published", None),
        ("managers assigned", None),
        ("audited", None),
        ("e-mails sent", None),
    ];
    while last_answer.elapsed() < drain_limit {
        if let Some(now) = drain_state(&db, audit.database()).await {
            let settled = if fault.may_lose_in_flight_messages() {
                now.sent + now.failed
            } else {
                now.sent
            };
            let reached = [
                now.unpublished == 0,
                now.assigned == expected,
                now.audited == expected as u64 + audited_poison,
                settled == 2 * expected && now.unsettled == 0,
            ];
            for ((_, at), reached) in stages.iter_mut().zip(reached) {
                match (reached, *at) {
                    (true, None) => *at = Some(Instant::now()),
                    (false, _) => *at = None,
                    _ => {}
                }
            }
            state = now;
            if backlog_cleared_at.is_none()
                && backlog_cleared(&db, back_wall, fault.may_lose_in_flight_messages()).await
            {
                backlog_cleared_at = Some(Instant::now());
            }
            if backlog_cleared_at.is_some() && reached.iter().all(|r| *r) {
                drained_at = Some(Instant::now());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stage_line = stages
        .iter()
        .map(|(name, at)| match at {
            Some(at) => format!(
                "{name} {:+.1} s",
                at.saturating_duration_since(last_answer).as_secs_f64()
            ),
            None => format!("{name} never"),
        })
        .collect::<Vec<_>>()
        .join(", ");

    // Figures.
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for answer in &answers {
        *statuses.entry(answer.status).or_default() += 1;
    }
    let mut status_list: Vec<_> = statuses.iter().collect();
    status_list.sort();
    println!("answers by status: {status_list:?} (0 = no answer)");
    let all: Vec<&Answer> = answers.iter().collect();
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.at >= down_at && a.at < back_at)
        .collect();
    let outside: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.at < down_at || a.at >= back_at)
        .collect();
    if let Some((second_at, second_wall)) = second_down {
        let phase = |from: Duration, to: Duration| -> Vec<&Answer> {
            answers
                .iter()
                .filter(|a| a.at >= from && a.at < to)
                .collect()
        };
        println!(
            "one broker down:    {}",
            latency_line(&phase(down_at, second_at))
        );
        println!(
            "two brokers down:   {}",
            latency_line(&phase(second_at, back_at))
        );
        // Whether publishing went on (published within a second of the commit) or waited for
        // the relay, per phase.
        let published = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
            let pool = db.pool.clone();
            async move {
                sqlx::query_as::<_, (i64, i64)>(
                    "SELECT count(*) FILTER (WHERE published_at < created_at + interval '1 second'),
                            count(*)
                     FROM outbox WHERE created_at >= $1 AND created_at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_one(&pool)
                .await
                .unwrap_or((0, 0))
            }
        };
        let (quick_one, all_one) = published(first_down_wall, second_wall).await;
        let resumed: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM min(created_at) - $1)::float8 FROM outbox
             WHERE created_at >= $1 AND created_at < $2
               AND published_at < created_at + interval '1 second'",
        )
        .bind(first_down_wall)
        .bind(second_wall)
        .fetch_one(&db.pool)
        .await
        .ok()
        .flatten();
        match resumed {
            Some(after) => println!(
                "with one broker down, publishing after commit resumed {after:.1} s after the kill (the controller fencing the broker, leaders moving)"
            ),
            None => println!("with one broker down, publishing after commit did not resume"),
        }
        let (quick_two, all_two) = published(second_wall, back_wall).await;
        println!(
            "events published within 1 s of their commit: one broker down {quick_one} of {all_one}, two down {quick_two} of {all_two} (the rest by the relay)"
        );
    }
    println!("all:                {}", latency_line(&all));
    println!("while it was down:  {}", latency_line(&during));
    println!("while it was up:    {}", latency_line(&outside));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM service_requests")
        .fetch_one(&db.pool)
        .await
        .unwrap_or(-1);
    println!(
        "requests answered 201: {} (+{warmup_requests} warm-up); rows: {rows}",
        created.len()
    );
    println!(
        "after the drain: {} manager_assigned, {} notifications sent, {} failed, {} unsettled, {} outbox rows unpublished, {} request.created audited",
        state.assigned, state.sent, state.failed, state.unsettled, state.unpublished, state.audited
    );
    let caught_up = backlog_cleared_at.map(|at| at.saturating_duration_since(back).as_secs_f64());
    match caught_up {
        Some(since_back) => println!(
            "the outage's backlog (requests created before {} answered again) was processed {since_back:.1} s after it did",
            fault.service()
        ),
        None => println!(
            "the outage's backlog was NOT processed within {drain_limit:?} of the last answer"
        ),
    }
    match drained_at {
        Some(at) => println!(
            "everything drained {:.1} s after the last answer",
            at.saturating_duration_since(last_answer).as_secs_f64()
        ),
        None => println!("NOT drained within {drain_limit:?} of the last answer"),
    }
    println!("each part drained, after the last answer: {stage_line}");

    // Exactly once, as the recipients see it.
    let mails = servicehub_tests::moto::mails_per_address().await;
    let mut per_customer = vec![1usize; customers.len()]; // the warm-up request each
    for answer in answers.iter().filter(|a| a.request_id.is_some()) {
        per_customer[answer.customer] += 1;
    }
    // A killed sender may leave a message unsent (settled failed, outcome unknown), never twice.
    let lossy = fault.may_lose_in_flight_messages();
    let wrong = |got: usize, want: usize| if lossy { got > want } else { got != want };
    let mut mail_mismatches = Vec::new();
    for ((_, email), want) in customers.iter().zip(&per_customer) {
        let got = mails.get(email).copied().unwrap_or(0);
        if wrong(got, *want) {
            mail_mismatches.push(format!("{email}: {got} mails for {want} requests"));
        }
    }
    let manager_mails = mails.get(&manager_email).copied().unwrap_or(0);
    println!(
        "e-mails accepted by SES: customers {} for {} requests, manager {manager_mails}",
        customers
            .iter()
            .map(|(_, e)| mails.get(e).copied().unwrap_or(0))
            .sum::<usize>(),
        expected
    );

    // Verdicts.
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{}: {what}", fault.name()));
    match fault {
        Fault::Kafka | Fault::Ses | Fault::NotifyKilled | Fault::Poison | Fault::Brokers => {
            let not_201 = answers.iter().filter(|a| a.status != 201).count();
            if not_201 > 0 {
                fail(format!("{not_201} answers were not 201: {status_list:?}"));
            }
            // How fast it caught up is a figure to print, not a verdict (no timed assertions):
            // whether it did at all is one.
            if caught_up.is_none() {
                fail("the outage's backlog was never processed".into());
            }
        }
        Fault::Postgres => {
            let bad: Vec<_> = answers
                .iter()
                .filter(|a| a.status != 201 && !(a.status == 503 && a.retry_after))
                .map(|a| a.status)
                .collect();
            if !bad.is_empty() {
                fail(format!(
                    "{} answers neither 201 nor 503 with Retry-After: {bad:?}",
                    bad.len()
                ));
            }
        }
    }
    if drained_at.is_none() {
        fail(format!("not drained: {state:?} for {expected} requests"));
    }
    if rows != expected {
        fail(format!("{rows} rows for {expected} requests answered 201"));
    }
    if !mail_mismatches.is_empty() {
        fail(format!(
            "customers' e-mails: {}",
            mail_mismatches.join("; ")
        ));
    }
    if wrong(manager_mails, expected as usize) {
        fail(format!(
            "the manager got {manager_mails} notices for {expected} requests"
        ));
    }
    if let Some(probe) = dlq_probe {
        let keys: Vec<Vec<u8>> = poison
            .iter()
            .filter_map(|p| p.message.key.clone())
            .collect();
        let letters = tokio::task::spawn_blocking(move || {
            probe.read_until(Duration::from_secs(10), |_| false)
        })
        .await
        .expect("reading the dead letters")
        .into_iter()
        .filter(|r| r.message.key.as_ref().is_some_and(|k| keys.contains(k)))
        .collect::<Vec<_>>();
        let header = |l: &ConsumedRecord, name: &str| {
            l.message
                .header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        for record in &poison {
            let mine: Vec<_> = letters
                .iter()
                .filter(|l| l.message.key == record.message.key)
                .collect();
            for letter in &mine {
                let reason = header(letter, servicehub_events::dlq::HEADER_REASON);
                println!(
                    "  dead letter of {} by {}: {}",
                    record.kind,
                    header(letter, servicehub_events::dlq::HEADER_CONSUMER),
                    reason.chars().take(120).collect::<String>()
                );
            }
            if let Some(consumer) = record.must_dead_letter {
                let found = mine.iter().any(|l| {
                    header(l, servicehub_events::dlq::HEADER_CONSUMER).contains(consumer)
                        && !header(l, servicehub_events::dlq::HEADER_REASON).is_empty()
                });
                if !found {
                    fail(format!(
                        "the {} record was not dead-lettered by {consumer} with a reason",
                        record.kind
                    ));
                }
            }
        }
        // How much the poison held the rest up: each request's creation to its assignment.
        let delays: Vec<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM manager_assigned_at - created_at)::float8
             FROM service_requests WHERE manager_assigned_at IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap_or_default();
        if !delays.is_empty() {
            let at = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize] * 1000.0;
            println!(
                "created -> manager_assigned over the run: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
    }
    if lossy && state.failed > 0 {
        println!(
            "{} messages settled as failed: their sender died while sending them (not resent)",
            state.failed
        );
    }
    print_invocations(&stack.runner.invocations());
    // Everything above assumed the runner lived through the fault: say so when it did not.
    if let Some(exit) = stack.runner.exited() {
        failures.push(format!("{}: the local runner died: {exit}", fault.name()));
    } else {
        stack.runner.stop().await;
    }
    let _ = std::fs::remove_file(&env_vars);
    failures
}

/// Where the time went: every function's invocations during the run, from the runner's log.
fn print_invocations(invocations: &[Value]) {
    let mut by_function: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for invocation in invocations {
        let name = format!(
            "{} ({})",
            invocation["function"].as_str().unwrap_or("?"),
            invocation["trigger"].as_str().unwrap_or("?")
        );
        if let Some(ms) = invocation["duration_ms"].as_f64() {
            by_function.entry(name).or_default().push(ms);
        }
    }
    println!("invocations (function, trigger): count, total, p50, p99, max");
    for (name, mut durations) in by_function {
        durations.sort_by(f64::total_cmp);
        let at = |p: f64| durations[((durations.len() - 1) as f64 * p).round() as usize];
        println!(
            "  {name:<40} {:>6} {:>9.0} ms {:>8.1} ms {:>8.1} ms {:>8.1} ms",
            durations.len(),
            durations.iter().sum::<f64>(),
            at(0.5),
            at(0.99),
            durations[durations.len() - 1]
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let brokers = std::env::var("KAFKA_BOOTSTRAP_SERVERS")
        .unwrap_or_default()
        .split(',')
        .count();
    let scenarios: Vec<Fault> = FAULTS
        .into_iter()
        .filter(|f| chosen.is_empty() || chosen.iter().any(|c| c == f.name()))
        .collect();
    if scenarios.contains(&Fault::Brokers) && brokers < 3 {
        eprintln!(
            "brokers-down needs the three-broker dev cluster (SERVICEHUB_KAFKA_BROKERS=3 tools/dev-services up); tools/chaos switches to it"
        );
        return ExitCode::from(2);
    }
    if scenarios.is_empty() {
        let known: Vec<&str> = FAULTS.iter().map(|f| f.name()).collect();
        eprintln!("unknown scenario {chosen:?}; known: {}", known.join(", "));
        return ExitCode::from(2);
    }
    let mut failures = Vec::new();
    for fault in scenarios {
        failures.extend(run(fault).await);
    }
    println!();
    if failures.is_empty() {
        println!("chaos: every scenario held");
        ExitCode::SUCCESS
    } else {
        for failure in &failures {
            println!("FAILED {failure}");
        }
        ExitCode::FAILURE
    }
}
