//! CPU time and memory per process from /proc, for the benchmarks' tables (empty off Linux).

use std::collections::HashMap;

/// Ticks of `/proc/<pid>/stat` (USER_HZ, 100 a second on Linux) in milliseconds.
pub const TICK_MS: f64 = 10.0;

/// One process: the name the benchmarks show it by, and its CPU ticks (user + system) so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub name: String,
    pub ticks: u64,
}

/// Every process by pid. Names: the kernel's command name, except that every kworker is
/// `kworker`, a name the kernel cut at 15 characters is the program's file name (the function
/// binaries), and Python processes are named by what they run (moto, seeds-design), as all are
/// called `python`.
pub fn processes() -> HashMap<u32, Sample> {
    let mut samples = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return samples;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        let (Some(user), Some(system)) = (field(11), field(12)) else {
            continue;
        };
        let cmdline = || {
            let bytes = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        if name.starts_with("kworker") {
            name = "kworker".into();
        } else if name.starts_with("python") || name == "uvicorn" {
            let cmdline = cmdline();
            if cmdline.contains("seeds-design") {
                name = "seeds-design".into();
            } else if cmdline.contains("moto") {
                name = "moto".into();
            }
        } else if name.len() == 15 {
            let cmdline = cmdline();
            let program = cmdline.split('\0').next().unwrap_or_default();
            if let Some(file) = std::path::Path::new(program).file_name() {
                name = file.to_string_lossy().into_owned();
            }
        }
        samples.insert(
            pid,
            Sample {
                name,
                ticks: user + system,
            },
        );
    }
    samples
}

/// CPU ticks per pid between two [`processes`] samples: a process that started in between
/// counts whole, a pid reused by another program counts as new.
pub fn ticks_by_pid(
    before: &HashMap<u32, Sample>,
    after: &HashMap<u32, Sample>,
) -> HashMap<u32, u64> {
    after
        .iter()
        .map(|(pid, sample)| {
            let earlier = match before.get(pid) {
                Some(same) if same.name == sample.name => same.ticks,
                _ => 0,
            };
            (*pid, sample.ticks.saturating_sub(earlier))
        })
        .collect()
}

/// [`ticks_by_pid`] summed per process name.
pub fn ticks_by_name(
    before: &HashMap<u32, Sample>,
    after: &HashMap<u32, Sample>,
) -> HashMap<String, u64> {
    let mut by_name: HashMap<String, u64> = HashMap::new();
    for (pid, ticks) in ticks_by_pid(before, after) {
        *by_name.entry(after[&pid].name.clone()).or_default() += ticks;
    }
    by_name
}

/// The largest resident set (`VmHWM`, kB) any live process named `name` in `samples` has had.
pub fn peak_rss_kb(samples: &HashMap<u32, Sample>, name: &str) -> u64 {
    samples
        .iter()
        .filter(|(_, s)| s.name == name)
        .filter_map(|(pid, _)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

/// The pids of the live children of `parent` whose program is `name` (as [`processes`] names
/// them): the execution environments the local runner keeps for one function.
pub fn children_named(parent: u32, name: &str) -> std::collections::BTreeSet<u32> {
    processes()
        .into_iter()
        .filter(|(_, sample)| sample.name == name)
        .filter(|(pid, _)| parent_of(*pid) == Some(parent))
        .map(|(pid, _)| pid)
        .collect()
}

/// The parent's pid of `pid`, if it is alive.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    // After the command name: state, then the parent's pid.
    stat[close + 1..].split_whitespace().nth(1)?.parse().ok()
}
