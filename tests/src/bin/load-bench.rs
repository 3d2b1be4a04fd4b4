//! A closed-loop load generator comparing HTTP services side by side on `POST /requests`: goal 1
//! of the performance issue (servicehub behind its JWT authorizer against the seeds' design,
//! tools/seeds-design; `tools/bench-vs-seeds` starts both and runs this).
//!
//!   load-bench --target project=http://127.0.0.1:3000,jwt \
//!              --target seeds-design=http://127.0.0.1:58090 \
//!              --connections 32 --seconds 20 --rounds 2 --warmup-seconds 3
//!
//! Each round measures every target in turn (A B A B ...): it waits until the machine is quiet
//! (the previous target's event-driven half drained; `--settle-cpu`), then N connections each
//! POST `<URL>/requests` with the body of `servicehub_tests::new_request` in a loop, a warm-up
//! and then the timed window. Printed per target and round: requests answered within the window,
//! req/s, latency p50/p90/p99/max of the requests started in it, the answers other than 201 (and
//! transport errors), and the machine's CPU use meanwhile (and by process name: what else ran
//! shows there too); then a summary per target and the
//! ratios of the first target to each other one. Figures only: it exits non-zero only when a
//! target cannot be reached or a setup step fails.
//!
//! Token modes (`NAME=URL,MODE`): `none` (the default) sends no `Authorization`; `jwt` sets up
//! what a real caller has on servicehub's API: the bootstrap admin logs in (`--admin-email`,
//! default `BOOTSTRAP_ADMIN_EMAIL` or tools/local-parameters.json's `BootstrapAdminEmail`;
//! `--admin-password`, default `BOOTSTRAP_ADMIN_PASSWORD` or `local-first-login-2026`), creates a
//! manager for the bodies' region (so every request is assigned as in life), and one customer
//! per connection registers and logs in. The region is fresh per run (`--region` to choose).
//!
//! Other options: `--settle-cpu PERCENT` (25; 0 skips waiting), `--settle-max-seconds` (180).

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use servicehub_tests::{new_request, procstat, repo_root};
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq)]
enum TokenMode {
    None,
    Jwt,
}

struct Target {
    name: String,
    url: String,
    mode: TokenMode,
    /// One `Authorization` value per connection (empty for `none`).
    tokens: Vec<String>,
}

struct Options {
    targets: Vec<Target>,
    connections: usize,
    seconds: u64,
    rounds: usize,
    warmup_seconds: u64,
    region: String,
    admin_email: Option<String>,
    admin_password: String,
    settle_cpu: f64,
    settle_max_seconds: u64,
}

/// One target's timed window.
struct Window {
    round: usize,
    target: usize,
    seconds: f64,
    /// Answered (any status) within the window.
    completed: usize,
    /// Latencies of the requests started within the window, sorted.
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    errors: BTreeMap<String, usize>,
    cpu_busy: Option<f64>,
    /// Share of the machine's CPU per process name during the window, largest first.
    cpu_by_process: Vec<(String, f64)>,
    waited: Duration,
}

impl Window {
    fn created(&self) -> usize {
        self.statuses.get(&201).copied().unwrap_or(0)
    }
    fn rate(&self) -> f64 {
        self.completed as f64 / self.seconds
    }
    fn failures(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .filter(|(status, _)| **status != 201)
            .map(|(status, n)| format!("{n}×{status}"))
            .collect();
        parts.extend(self.errors.iter().map(|(kind, n)| format!("{n}×{kind}")));
        let count = self.latencies.len() - self.created();
        if count == 0 {
            "0".into()
        } else {
            format!("{count} ({})", parts.join(", "))
        }
    }
}

fn usage() -> &'static str {
    "usage: load-bench --target NAME=URL[,none|jwt] ... [--connections 32] [--seconds 20] \
     [--rounds 2] [--warmup-seconds 3] [--region NAME] [--admin-email E] [--admin-password P] \
     [--settle-cpu 25] [--settle-max-seconds 180]"
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        targets: Vec::new(),
        connections: 32,
        seconds: 20,
        rounds: 2,
        warmup_seconds: 3,
        region: format!("load-bench-{}", &Uuid::new_v4().simple().to_string()[..8]),
        admin_email: std::env::var("BOOTSTRAP_ADMIN_EMAIL").ok(),
        admin_password: std::env::var("BOOTSTRAP_ADMIN_PASSWORD")
            .unwrap_or_else(|_| "local-first-login-2026".into()),
        settle_cpu: 25.0,
        settle_max_seconds: 180,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage().into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--target" => options.targets.push(parse_target(&value)?),
            "--connections" => options.connections = number(&value)?.max(1) as usize,
            "--seconds" => options.seconds = number(&value)?.max(1),
            "--rounds" => options.rounds = number(&value)?.max(1) as usize,
            "--warmup-seconds" => options.warmup_seconds = number(&value)?,
            "--region" => options.region = value,
            "--admin-email" => options.admin_email = Some(value),
            "--admin-password" => options.admin_password = value,
            "--settle-cpu" => options.settle_cpu = number(&value)? as f64,
            "--settle-max-seconds" => options.settle_max_seconds = number(&value)?,
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    if options.targets.is_empty() {
        return Err(format!("no --target given\n{}", usage()));
    }
    Ok(options)
}

fn parse_target(text: &str) -> Result<Target, String> {
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("--target {text:?} is not NAME=URL[,MODE]"))?;
    let (url, mode) = match rest.split_once(',') {
        Some((url, "jwt")) => (url, TokenMode::Jwt),
        Some((url, "none")) => (url, TokenMode::None),
        Some((_, other)) => return Err(format!("--target {name}: unknown token mode {other:?}")),
        None => (rest, TokenMode::None),
    };
    Ok(Target {
        name: name.to_owned(),
        url: url.trim_end_matches('/').to_owned(),
        mode,
        tokens: Vec::new(),
    })
}

/// The bootstrap admin's e-mail as the local runner gets it: tools/local-parameters.json.
fn admin_email_from_parameters() -> Result<String, String> {
    let file = std::env::var_os("SERVICEHUB_PARAMETERS_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tools/local-parameters.json"));
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("reading {}: {e} (pass --admin-email)", file.display()))?;
    let parameters: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    parameters["BootstrapAdminEmail"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no BootstrapAdminEmail", file.display()))
}

/// `POST base+path` with a JSON body: the status and the JSON answer.
async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), String> {
    let mut request = client.post(format!("{base}{path}")).json(body);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("POST {base}{path}: {e}"))?;
    let status = response.status().as_u16();
    let answer = response.json().await.unwrap_or(Value::Null);
    Ok((status, answer))
}

/// POST to a public route the way a well-behaved client does: the template throttles them
/// (PublicRouteRateLimit, PublicRouteBurstLimit), so a 429 waits and tries again, a while.
async fn post_public(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), String> {
    let mut delay = Duration::from_millis(100);
    for _ in 0..30 {
        match post(client, base, path, None, body).await? {
            (429, _) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            answer => return Ok(answer),
        }
    }
    Err(format!("POST {path}: still throttled after 30 attempts"))
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<String, String> {
    let body = json!({"email": email, "password": password});
    match post_public(client, base, "/auth/login", &body).await? {
        (200, answer) => answer["access_token"]
            .as_str()
            .map(|token| format!("Bearer {token}"))
            .ok_or_else(|| format!("POST /auth/login {email}: no access_token in {answer}")),
        (status, answer) => Err(format!("POST /auth/login {email}: {status} {answer}")),
    }
}

/// Servicehub's side: the bootstrap admin creates a manager for `region`, and one customer per
/// connection registers and logs in; their `Authorization` values.
async fn jwt_setup(target: &Target, options: &Options) -> Result<Vec<String>, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let base = target.url.as_str();
    let admin_email = match &options.admin_email {
        Some(email) => email.clone(),
        None => admin_email_from_parameters()?,
    };
    let admin = login(&client, base, &admin_email, &options.admin_password).await?;
    let run = Uuid::new_v4().simple().to_string();
    let manager = json!({
        "email": format!("manager-{run}@load-bench.local"),
        "password": "the load-bench manager's password",
        "display_name": "Менеджер нагрузки",
        "role": "manager",
        "regions": [options.region],
    });
    match post(&client, base, "/users", Some(&admin), &manager).await? {
        (201, _) => {}
        (status, answer) => return Err(format!("POST /users (a manager): {status} {answer}")),
    }
    let mut customers = tokio::task::JoinSet::new();
    // Fewer at once than the public routes' reserved concurrency (PublicRouteConcurrency, 10):
    // past it their invocations are throttled and HTTP API answers 500.
    let signing_up = Arc::new(tokio::sync::Semaphore::new(8));
    for i in 0..options.connections {
        let (client, base, run) = (client.clone(), base.to_owned(), run.clone());
        let signing_up = signing_up.clone();
        customers.spawn(async move {
            let _turn = signing_up
                .acquire_owned()
                .await
                .map_err(|e| e.to_string())?;
            let email = format!("customer-{run}-{i}@load-bench.local");
            let password = "the load-bench customer's password";
            let body = json!({
                "email": email,
                "password": password,
                "display_name": format!("Покупатель {i}"),
                "role": "customer",
            });
            let token = match post_public(&client, &base, "/auth/register", &body).await? {
                (201, _) => login(&client, &base, &email, password).await?,
                (status, answer) => return Err(format!("POST /auth/register: {status} {answer}")),
            };
            prove_email(&client, &base, &token, &email).await?;
            Ok(token)
        });
    }
    let mut tokens = Vec::with_capacity(options.connections);
    while let Some(token) = customers.join_next().await {
        tokens.push(token.map_err(|e| e.to_string())??);
    }
    Ok(tokens)
}

/// Proves a customer's e-mail with the code notify mailed to it, read back from moto's SES, so
/// that the customer's notifications are sent as in life. Against a system without moto
/// (`AWS_ENDPOINT_URL` unset) the customers stay unproved and notify records their
/// confirmations as unreachable.
async fn prove_email(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    email: &str,
) -> Result<(), String> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(code) = servicehub_tests::moto::codes_mailed_to(email).await.pop() {
            break code;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "no verification code mailed to {email} within 60 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let body = json!({"channel": "email", "code": code});
    match post(
        client,
        base,
        "/me/contact-verifications",
        Some(token),
        &body,
    )
    .await?
    {
        (200, _) => Ok(()),
        (status, answer) => Err(format!("POST /me/contact-verifications: {status} {answer}")),
    }
}

fn http_client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// One POST /requests: its status, or what kind of transport error it met.
async fn create(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<u16, String> {
    let mut request = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token);
    }
    let kind = |e: reqwest::Error| {
        if e.is_timeout() {
            "timeout".to_owned()
        } else if e.is_connect() {
            "connect error".to_owned()
        } else {
            "transport error".to_owned()
        }
    };
    let response = request.send().await.map_err(kind)?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(kind)?;
    Ok(status)
}

#[derive(Default)]
struct Samples {
    completed_in_window: usize,
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    errors: BTreeMap<String, usize>,
}

/// One connection's loop: requests started before `end`; those started at or after `window` are
/// recorded.
async fn connection(
    client: reqwest::Client,
    url: Arc<String>,
    token: Option<String>,
    body: Arc<Vec<u8>>,
    window: Instant,
    end: Instant,
) -> Samples {
    let mut samples = Samples::default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let outcome = create(&client, &url, token.as_deref(), &body).await;
        let done = Instant::now();
        let failed = outcome.is_err();
        if started >= window {
            samples.latencies.push(done - started);
            if done <= end {
                samples.completed_in_window += 1;
            }
            match outcome {
                Ok(status) => *samples.statuses.entry(status).or_default() += 1,
                Err(kind) => *samples.errors.entry(kind).or_default() += 1,
            }
        }
        if failed {
            // No busy loop against a refused connection.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    samples
}

/// The machine's CPU counters (busy, total) from /proc/stat; None off Linux.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is within user already)
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn busy_between(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((b0, t0), (b1, t1)) = (before?, after?);
    (t1 > t0).then(|| 100.0 * (b1 - b0) as f64 / (t1 - t0) as f64)
}

/// CPU per process name between two [`procstat::processes`] samples, as a share of the
/// machine's `total` ticks (all cores), largest first.
fn cpu_by_process(
    before: &HashMap<u32, procstat::Sample>,
    after: &HashMap<u32, procstat::Sample>,
    total: u64,
) -> Vec<(String, f64)> {
    let by_name = procstat::ticks_by_name(before, after);
    let mut shares: Vec<(String, f64)> = by_name
        .into_iter()
        .filter(|(_, ticks)| *ticks > 0 && total > 0)
        .map(|(name, ticks)| (name, 100.0 * ticks as f64 / total as f64))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares
}

/// Waits until the machine's CPU use stays below `percent` for 3 s in a row (the previous
/// target's background work drained), at most `max`; how long it waited.
async fn settle(percent: f64, max: Duration) -> Duration {
    let started = Instant::now();
    if percent <= 0.0 {
        return Duration::ZERO;
    }
    let mut quiet = 0;
    while quiet < 3 && started.elapsed() < max {
        let before = cpu_ticks();
        tokio::time::sleep(Duration::from_secs(1)).await;
        match busy_between(before, cpu_ticks()) {
            Some(busy) if busy >= percent => quiet = 0,
            _ => quiet += 1,
        }
    }
    started.elapsed()
}

async fn measure(
    options: &Options,
    round: usize,
    index: usize,
    body: &Arc<Vec<u8>>,
) -> Result<Window, String> {
    let target = &options.targets[index];
    let waited = settle(
        options.settle_cpu,
        Duration::from_secs(options.settle_max_seconds),
    )
    .await;
    let client = http_client(options.connections);
    let url = Arc::new(format!("{}/requests", target.url));
    let start = Instant::now();
    let window = start + Duration::from_secs(options.warmup_seconds);
    let end = window + Duration::from_secs(options.seconds);
    let mut connections = tokio::task::JoinSet::new();
    for i in 0..options.connections {
        let token = target.tokens.get(i).cloned();
        connections.spawn(connection(
            client.clone(),
            url.clone(),
            token,
            body.clone(),
            window,
            end,
        ));
    }
    tokio::time::sleep_until(window.into()).await;
    let (cpu_before, processes_before) = (cpu_ticks(), procstat::processes());
    tokio::time::sleep_until(end.into()).await;
    let (cpu_after, processes_after) = (cpu_ticks(), procstat::processes());
    let cpu_busy = busy_between(cpu_before, cpu_after);
    let total_ticks = match (cpu_before, cpu_after) {
        (Some((_, t0)), Some((_, t1))) => t1.saturating_sub(t0),
        _ => 0,
    };
    let cpu_by_process = cpu_by_process(&processes_before, &processes_after, total_ticks);
    let mut result = Window {
        round,
        target: index,
        seconds: options.seconds as f64,
        completed: 0,
        latencies: Vec::new(),
        statuses: BTreeMap::new(),
        errors: BTreeMap::new(),
        cpu_busy,
        cpu_by_process,
        waited,
    };
    while let Some(samples) = connections.join_next().await {
        let samples = samples.map_err(|e| e.to_string())?;
        result.completed += samples.completed_in_window;
        result.latencies.extend(samples.latencies);
        for (status, n) in samples.statuses {
            *result.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in samples.errors {
            *result.errors.entry(kind).or_default() += n;
        }
    }
    result.latencies.sort();
    if result.latencies.is_empty() || result.statuses.is_empty() {
        return Err(format!(
            "{}: no answer at all in round {round} ({})",
            target.name,
            result.failures()
        ));
    }
    Ok(result)
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn print_header() {
    println!(
        "{:<5} {:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>5} {:>6}  non-201",
        "round",
        "target",
        "requests",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "cpu%",
        "quiet"
    );
}

fn print_window(options: &Options, w: &Window) {
    println!(
        "{:<5} {:<14} {:>8} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>5} {:>5.0}s  {}",
        w.round,
        options.targets[w.target].name,
        w.completed,
        w.rate(),
        percentile(&w.latencies, 50.0),
        percentile(&w.latencies, 90.0),
        percentile(&w.latencies, 99.0),
        percentile(&w.latencies, 100.0),
        w.cpu_busy.map_or("-".into(), |c| format!("{c:.0}")),
        w.waited.as_secs_f64(),
        w.failures(),
    );
    let top: Vec<String> = w
        .cpu_by_process
        .iter()
        .take(8)
        .filter(|(_, share)| *share >= 1.0)
        .map(|(name, share)| format!("{name} {share:.0}"))
        .collect();
    if !top.is_empty() {
        println!("      cpu% by process: {}", top.join(", "));
    }
    // The same shares as CPU time per answered request: what each process spends on one.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_request = |share: f64| share / 100.0 * cores * 1000.0 / w.rate().max(f64::MIN_POSITIVE);
    let costs: Vec<String> = w
        .cpu_by_process
        .iter()
        .take(8)
        .filter(|(_, share)| *share >= 1.0)
        .map(|(name, share)| format!("{name} {:.2}", per_request(*share)))
        .collect();
    if !costs.is_empty() {
        let total: f64 = w.cpu_by_process.iter().map(|(_, s)| per_request(*s)).sum();
        println!(
            "      cpu ms per request: {}; all processes {total:.2}",
            costs.join(", ")
        );
    }
}

fn range(values: impl Iterator<Item = f64>, precision: usize) -> String {
    let values: Vec<f64> = values.collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() == 1 {
        format!("{min:.precision$}")
    } else {
        format!("{min:.precision$}–{max:.precision$}")
    }
}

/// Every round's window of one target pooled: req/s and the latencies of all requests.
struct Pooled {
    rate: f64,
    p50: f64,
    p99: f64,
}

fn pooled(windows: &[&Window]) -> Pooled {
    let completed: usize = windows.iter().map(|w| w.completed).sum();
    let seconds: f64 = windows.iter().map(|w| w.seconds).sum();
    let mut all: Vec<Duration> = windows
        .iter()
        .flat_map(|w| w.latencies.iter().copied())
        .collect();
    all.sort();
    Pooled {
        rate: completed as f64 / seconds,
        p50: percentile(&all, 50.0),
        p99: percentile(&all, 99.0),
    }
}

fn print_summary(options: &Options, windows: &[Window]) {
    println!(
        "\nsummary over {} round(s) of {} s, {} connections (pooled: all rounds' requests together)",
        options.rounds, options.seconds, options.connections
    );
    println!(
        "{:<14} {:>14} {:>14} {:>14}   {:>8} {:>8} {:>8}  non-201",
        "target", "req/s range", "p50 ms range", "p99 ms range", "req/s", "p50 ms", "p99 ms"
    );
    let of =
        |index: usize| -> Vec<&Window> { windows.iter().filter(|w| w.target == index).collect() };
    for (index, target) in options.targets.iter().enumerate() {
        let mine = of(index);
        let all = pooled(&mine);
        let failed: usize = mine.iter().map(|w| w.latencies.len() - w.created()).sum();
        println!(
            "{:<14} {:>14} {:>14} {:>14}   {:>8.1} {:>8.1} {:>8.1}  {}",
            target.name,
            range(mine.iter().map(|w| w.rate()), 1),
            range(mine.iter().map(|w| percentile(&w.latencies, 50.0)), 1),
            range(mine.iter().map(|w| percentile(&w.latencies, 99.0)), 1),
            all.rate,
            all.p50,
            all.p99,
            failed,
        );
    }
    let first = &options.targets[0];
    for (index, other) in options.targets.iter().enumerate().skip(1) {
        let (a, b) = (pooled(&of(0)), pooled(&of(index)));
        // Each round's pair, measured minutes apart at most.
        let per_round: Vec<(f64, f64)> = (1..=options.rounds)
            .filter_map(|round| {
                let x = windows.iter().find(|w| w.round == round && w.target == 0)?;
                let y = windows
                    .iter()
                    .find(|w| w.round == round && w.target == index)?;
                Some((
                    x.rate() / y.rate(),
                    percentile(&x.latencies, 99.0) / percentile(&y.latencies, 99.0),
                ))
            })
            .collect();
        println!(
            "\n{} / {} throughput = {:.1}x, p99 ratio = {:.2}   (per round: throughput {}x, p99 {}; goal 1: >= 5x and <= 0.20)",
            first.name,
            other.name,
            a.rate / b.rate,
            a.p99 / b.p99,
            range(per_round.iter().map(|r| r.0), 1),
            range(per_round.iter().map(|r| r.1), 2),
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let body = new_request(&options.region);
    let body_bytes = Arc::new(serde_json::to_vec(&body).expect("a JSON body"));

    // Setup: tokens where asked for, then one request to each target, which must be a 201.
    let probe = http_client(1);
    for index in 0..options.targets.len() {
        if options.targets[index].mode == TokenMode::Jwt {
            match jwt_setup(&options.targets[index], &options).await {
                Ok(tokens) => options.targets[index].tokens = tokens,
                Err(message) => {
                    eprintln!(
                        "load-bench: setting up {}: {message}",
                        options.targets[index].name
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        let target = &options.targets[index];
        let url = format!("{}/requests", target.url);
        match create(
            &probe,
            &url,
            target.tokens.first().map(String::as_str),
            &body_bytes,
        )
        .await
        {
            Ok(201) => {}
            Ok(status) => {
                eprintln!(
                    "load-bench: {}: POST {url} answered {status}, not 201",
                    target.name
                );
                return ExitCode::FAILURE;
            }
            Err(kind) => {
                eprintln!("load-bench: {}: POST {url}: {kind}", target.name);
                return ExitCode::FAILURE;
            }
        }
    }

    println!(
        "load-bench: POST /requests, {} connections closed-loop, {} s warm-up + {} s timed, {} round(s), region {:?}",
        options.connections,
        options.warmup_seconds,
        options.seconds,
        options.rounds,
        options.region
    );
    for target in &options.targets {
        let auth = match target.mode {
            TokenMode::None => "no Authorization".to_owned(),
            TokenMode::Jwt => format!(
                "JWT: {} customers, a manager of the region",
                target.tokens.len()
            ),
        };
        println!("  {:<14} {}  ({auth})", target.name, target.url);
    }
    println!(
        "  cpu% = the whole machine's CPU use during the window (100 = all cores); quiet = wait before it for CPU < {}% for 3 s\n",
        options.settle_cpu
    );
    print_header();
    let mut windows = Vec::new();
    for round in 1..=options.rounds {
        for index in 0..options.targets.len() {
            match measure(&options, round, index, &body_bytes).await {
                Ok(window) => {
                    print_window(&options, &window);
                    windows.push(window);
                }
                Err(message) => {
                    eprintln!("load-bench: {message}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    print_summary(&options, &windows);
    ExitCode::SUCCESS
}
