//! `manager_workload` (what assign-manager reads to choose a manager) is kept by a trigger on
//! `service_requests`: after any sequence of inserts, assignments, reassignments, status changes
//! and deletes it equals the count over the requests themselves, the rule it replaced.

use servicehub_tests::TestDatabase;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

const STATUSES: [&str; 5] = [
    "new",
    "manager_assigned",
    "in_progress",
    "completed",
    "cancelled",
];

/// (open requests, latest assignment) per manager, counted from the requests.
async fn counted(pool: &PgPool) -> BTreeMap<Uuid, (i64, Option<String>)> {
    sqlx::query_as::<_, (Uuid, i64, Option<String>)>(
        "SELECT manager_id, count(*) FILTER (WHERE status NOT IN ('completed', 'cancelled')),
                max(manager_assigned_at)::text
         FROM service_requests WHERE manager_id IS NOT NULL GROUP BY manager_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    // A manager whose requests all went elsewhere keeps a row of 0 in the table; compare
    // managers with something counted, and check the others are at 0 below.
    .filter(|(_, open, at)| *open > 0 || at.is_some())
    .map(|(id, open, at)| (id, (open, at)))
    .collect()
}

async fn kept(pool: &PgPool) -> BTreeMap<Uuid, (i64, Option<String>)> {
    sqlx::query_as::<_, (Uuid, i64, Option<String>)>(
        "SELECT manager_id, open_requests, last_assigned_at::text FROM manager_workload",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, open, at)| (id, (open, at)))
    .collect()
}

#[tokio::test]
async fn the_trigger_keeps_each_managers_open_requests_and_latest_assignment() {
    let db = TestDatabase::new().await;
    let customer = Uuid::now_v7();
    let managers = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    sqlx::query("INSERT INTO users (id, role, display_name) VALUES ($1, 'customer', 'c')")
        .bind(customer)
        .execute(&db.pool)
        .await
        .unwrap();
    for manager in managers {
        sqlx::query("INSERT INTO users (id, role, display_name, regions) VALUES ($1, 'manager', 'm', '{r}')")
            .bind(manager)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let mut requests: Vec<Uuid> = Vec::new();
    // A fixed pseudo-random walk (xorshift): the same operations on every run.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for step in 0..300 {
        let manager = managers[next(managers.len())];
        let status = STATUSES[next(STATUSES.len())];
        let operation = if requests.is_empty() { 0 } else { next(5) };
        let target = if requests.is_empty() {
            Uuid::nil()
        } else {
            requests[next(requests.len())]
        };
        let statement = match operation {
            0 => {
                let id = Uuid::now_v7();
                requests.push(id);
                let with_manager = status != "new";
                sqlx::query(
                    "INSERT INTO service_requests (id, customer_id, title, description, category,
                         urgency, region, city, address, status, manager_id, manager_assigned_at,
                         created_at, updated_at)
                     VALUES ($1, $2, 't', 'd', 'plumbing', 'low', 'r', 'c', 'a', $3,
                         CASE WHEN $4 THEN $5::uuid END,
                         CASE WHEN $4 THEN now() + make_interval(secs => $6) END, now(), now())",
                )
                .bind(id)
                .bind(customer)
                .bind(status)
                .bind(with_manager)
                .bind(manager)
                .bind(step as f64)
            }
            // assign-manager's update: a manager and the moment.
            1 => sqlx::query(
                "UPDATE service_requests SET manager_id = $2, status = 'manager_assigned',
                     manager_assigned_at = now() + make_interval(secs => $3)
                 WHERE id = $1",
            )
            .bind(target)
            .bind(manager)
            .bind(step as f64),
            2 => sqlx::query("UPDATE service_requests SET status = $2 WHERE id = $1")
                .bind(target)
                .bind(status),
            // An update that touches none of the tracked columns' values.
            3 => sqlx::query("UPDATE service_requests SET title = 'x' WHERE id = $1").bind(target),
            _ => {
                requests.retain(|r| *r != target);
                sqlx::query("DELETE FROM service_requests WHERE id = $1").bind(target)
            }
        };
        statement.execute(&db.pool).await.unwrap();

        let counted = counted(&db.pool).await;
        let kept = kept(&db.pool).await;
        for (manager, (open, at)) in &kept {
            match counted.get(manager) {
                Some(expected) => assert_eq!(
                    (open, at.is_some()),
                    (&expected.0, expected.1.is_some()),
                    "step {step}: manager {manager}"
                ),
                None => assert_eq!(
                    *open, 0,
                    "step {step}: manager {manager} has no open request"
                ),
            }
        }
        for (manager, (open, at)) in &counted {
            let (kept_open, kept_at) = kept.get(manager).unwrap_or_else(|| {
                panic!("step {step}: manager {manager} has requests but no workload row")
            });
            assert_eq!(kept_open, open, "step {step}: manager {manager}");
            // The latest assignment only moves forward (a deleted request's stays: it is when the
            // manager last got one, which is what the tie-break asks).
            assert!(
                kept_at >= at,
                "step {step}: manager {manager}: {kept_at:?} < {at:?}"
            );
        }
    }
}
