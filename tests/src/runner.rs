//! The `local-runner` binary as a child process: started on a free port against a template,
//! its stdout collected, stopped with SIGTERM (as Ctrl-C would) when the test is done.

use crate::{binary_path, repo_root, required_env};
use serde_json::Value;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The dev services' variables every function gets instead of the template's values (a Secrets
/// Manager reference for the database URL, say); tools/run-local passes the same.
pub const PASSED_TO_FUNCTIONS: &str = "DATABASE_URL,CLICKHOUSE_URL,KAFKA_BOOTSTRAP_SERVERS,DOCUMENTS_BUCKET,ON_FAILURE_QUEUE_URL,SES_FROM_ADDRESS";

pub struct LocalRunner {
    child: Child,
    pub base_url: String,
    lines: Arc<Mutex<Vec<String>>>,
    /// The last lines of its stderr (a crash's last words: a panic, a librdkafka assertion).
    errors: Arc<Mutex<std::collections::VecDeque<String>>>,
}

impl LocalRunner {
    /// Starts the runner on `template` (relative to the repository root) with the given template
    /// parameters and environment, and waits until it prints that it is ready.
    pub async fn start(
        template: &str,
        parameters: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> LocalRunner {
        Self::launch(template, None, parameters, env).await
    }

    /// [`Self::start`] with a parameters file (relative to the repository root) under the
    /// `parameters`.
    pub async fn start_with_parameters_file(
        template: &str,
        parameters_file: &str,
        parameters: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> LocalRunner {
        Self::launch(template, Some(parameters_file), parameters, env).await
    }

    async fn launch(
        template: &str,
        parameters_file: Option<&str>,
        parameters: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> LocalRunner {
        let mut command = Command::new(binary_path("local-runner"));
        command
            .current_dir(repo_root())
            .arg("--template")
            .arg(Path::new(template))
            // The runner takes a free port and names it: no race with other tests for one.
            .arg("--port")
            .arg("0")
            .env(
                "KAFKA_BOOTSTRAP_SERVERS",
                required_env("KAFKA_BOOTSTRAP_SERVERS"),
            )
            // The dev services in place of what the template points at (as tools/run-local does).
            .env("LOCAL_RUNNER_PASS_ENV", PASSED_TO_FUNCTIONS)
            .env(
                "TEMPLATE_PARAMETER_KafkaBootstrapServers",
                required_env("KAFKA_BOOTSTRAP_SERVERS"),
            )
            .env(
                "FUNCTION_RUST_LOG",
                std::env::var("FUNCTION_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(file) = parameters_file {
            command.arg("--parameters-file").arg(file);
        }
        for (name, value) in parameters {
            command.arg("--parameter").arg(format!("{name}={value}"));
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting local-runner");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let collected = lines.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut address = None;
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(url) = line.trim().strip_prefix("HTTP API") {
                    address = Some(url.trim().to_owned());
                }
                if line.starts_with("ready in ")
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(address.clone());
                }
                collected.lock().unwrap().push(line);
            }
        });
        // stderr still reaches the test's output; its tail also goes into a failure to start.
        let errors = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let kept = errors.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("{line}");
                let mut kept = kept.lock().unwrap();
                if kept.len() == 40 {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        let started = tokio::time::timeout(Duration::from_secs(60), ready_rx).await;
        let Ok(Ok(Some(base_url))) = started else {
            let _ = child.start_kill();
            // Let the readers take what the runner printed before it went.
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "local-runner did not get ready (exit {:?}); its output:\n{}\nthe end of its stderr:\n{}",
                child.try_wait().ok().flatten(),
                lines.lock().unwrap().join("\n"),
                Vec::from(errors.lock().unwrap().clone()).join("\n")
            );
        };
        LocalRunner {
            child,
            base_url,
            lines,
            errors,
        }
    }

    /// `None` while the runner runs; once it has exited, how, with the end of its stderr.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        let tail = Vec::from(self.errors.lock().unwrap().clone()).join("\n");
        Some(format!("{status}; the end of its stderr:\n{tail}"))
    }

    /// The runner's process id (its execution environments are its children).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the runner is running")
    }

    /// Every line printed so far.
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The runner's JSON log lines for invocations (`"message": "invocation"`).
    pub fn invocations(&self) -> Vec<Value> {
        self.output()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["message"] == "invocation")
            .collect()
    }

    /// Sends SIGTERM and waits for the runner to exit.
    pub async fn stop(mut self) -> ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => status.expect("waiting for local-runner"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!("local-runner did not stop within 30 s of SIGTERM");
            }
        }
    }
}
