//! Confines a function process as Lambda confines an execution environment, with one
//! mechanism for both limits: a cgroup (v1 or v2, whichever the machine has).
//! * Memory: the function's `MemorySize` is all it gets (`memory.limit_in_bytes` and, where the
//!   kernel accounts swap, `memory.memsw.limit_in_bytes`; v2 `memory.max` and `memory.swap.max
//!   = 0`). Past it the kernel's OOM killer ends the process, and the invocation fails as
//!   Lambda's does when a function runs out of memory.
//! * CPU (when asked): Lambda gives CPU in proportion to memory, 1,769 MB being one vCPU
//!   (Lambda developer guide, "Memory and computing power"): a CFS quota of
//!   `MemorySize / 1769` of one CPU per period.
//!
//! Creating cgroups needs root (or a delegated cgroup); without it the runner says so once and
//! runs the function unconfined.

use std::path::{Path, PathBuf};

/// One vCPU's worth of memory on Lambda.
pub const MB_PER_VCPU: f64 = 1769.0;
const PERIOD_US: u64 = 100_000;

/// What a function may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub memory_mb: u32,
    /// Also confine the CPU to the share Lambda gives `memory_mb`.
    pub cpu_share: bool,
}

impl Limits {
    /// The fraction of one CPU Lambda gives this memory size.
    pub fn cpu_fraction(&self) -> f64 {
        f64::from(self.memory_mb) / MB_PER_VCPU
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Why a cgroup could not be made (the runner then runs the function unconfined, and says so).
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("no cgroup file system at {0}")]
    NoCgroups(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

/// A cgroup holding one function process. Removed when dropped (after its process is gone).
#[derive(Debug)]
pub struct Cgroup {
    version: Version,
    /// v1: one directory per controller (memory, cpu); v2: the one directory.
    dirs: Vec<PathBuf>,
    memory_dir: PathBuf,
}

fn root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("IMAGE_RELEASE_CGROUP_ROOT").unwrap_or_else(|| "/sys/fs/cgroup".into()),
    )
}

fn version() -> Option<Version> {
    let root = root();
    if root.join("cgroup.controllers").exists() {
        Some(Version::V2)
    } else if root.join("memory").is_dir() {
        Some(Version::V1)
    } else {
        None
    }
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

impl Cgroup {
    /// A new cgroup `image-release/<name>` with `limits`, or why the machine cannot make one.
    pub fn create(name: &str, limits: Limits) -> Result<Self, ConfineError> {
        let version =
            version().ok_or_else(|| ConfineError::NoCgroups(root().display().to_string()))?;
        // Unique per process and per cgroup: stacks run side by side in one test process.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let leaf = format!("image-release/{name}-{}-{serial}", std::process::id());
        let bytes = u64::from(limits.memory_mb) * 1024 * 1024;
        let quota = ((limits.cpu_fraction() * PERIOD_US as f64) as u64).max(1_000);
        let fail = |what: &'static str, source: std::io::Error| ConfineError::Io { what, source };
        match version {
            Version::V1 => {
                let memory = root().join("memory").join(&leaf);
                std::fs::create_dir_all(&memory)
                    .map_err(|e| fail("creating the memory cgroup", e))?;
                write(&memory.join("memory.limit_in_bytes"), &bytes.to_string())
                    .map_err(|e| fail("memory.limit_in_bytes", e))?;
                // Without swap accounting the file is absent: memory alone is the limit.
                let _ = write(
                    &memory.join("memory.memsw.limit_in_bytes"),
                    &bytes.to_string(),
                );
                let mut dirs = vec![memory.clone()];
                if limits.cpu_share {
                    let cpu = root().join("cpu").join(&leaf);
                    std::fs::create_dir_all(&cpu)
                        .map_err(|e| fail("creating the cpu cgroup", e))?;
                    write(&cpu.join("cpu.cfs_period_us"), &PERIOD_US.to_string())
                        .map_err(|e| fail("cpu.cfs_period_us", e))?;
                    write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())
                        .map_err(|e| fail("cpu.cfs_quota_us", e))?;
                    dirs.push(cpu);
                }
                Ok(Self {
                    version,
                    dirs,
                    memory_dir: memory,
                })
            }
            Version::V2 => {
                let parent = root().join("image-release");
                std::fs::create_dir_all(&parent).map_err(|e| fail("creating the cgroup", e))?;
                let _ = write(&root().join("cgroup.subtree_control"), "+memory +cpu");
                let _ = write(&parent.join("cgroup.subtree_control"), "+memory +cpu");
                let dir = root().join(&leaf);
                std::fs::create_dir_all(&dir).map_err(|e| fail("creating the cgroup", e))?;
                write(&dir.join("memory.max"), &bytes.to_string())
                    .map_err(|e| fail("memory.max", e))?;
                let _ = write(&dir.join("memory.swap.max"), "0");
                if limits.cpu_share {
                    write(&dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))
                        .map_err(|e| fail("cpu.max", e))?;
                }
                Ok(Self {
                    version,
                    dirs: vec![dir.clone()],
                    memory_dir: dir,
                })
            }
        }
    }

    /// The `cgroup.procs` files a process must be written into (one per controller on v1).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// `program args…` inside this cgroup from its first instruction: a shell writes its own
    /// pid into the cgroup, then execs the program with its arguments.
    pub fn command(&self, program: &Path, args: &[&str]) -> tokio::process::Command {
        let files = self.procs_files();
        let mut script = String::new();
        for i in 0..files.len() {
            script.push_str(&format!("echo $$ > \"${}\" && ", i + 1));
        }
        script.push_str(&format!("shift {} && exec \"$0\" \"$@\"", files.len()));
        let mut command = tokio::process::Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(script)
            .arg(program)
            .args(&files)
            .args(args);
        command
    }

    /// How many processes of this cgroup the kernel's OOM killer has killed so far (v1 kernels
    /// without the `oom_kill` counter: how often the limit was hit).
    pub fn oom_kills(&self) -> u64 {
        let (file, fallback) = match self.version {
            Version::V1 => ("memory.oom_control", self.failcnt()),
            Version::V2 => ("memory.events", 0),
        };
        std::fs::read_to_string(self.memory_dir.join(file))
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
            })
            .unwrap_or(fallback)
    }

    fn failcnt(&self) -> u64 {
        std::fs::read_to_string(self.memory_dir.join("memory.failcnt"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The most memory the cgroup's processes used at once, in bytes.
    pub fn peak_bytes(&self) -> Option<u64> {
        let file = match self.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        std::fs::read_to_string(self.memory_dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cgroup {
    /// Removes the cgroup once its processes are gone (a killed process may take a moment to
    /// be reaped: the kernel refuses to remove a cgroup with members).
    fn drop(&mut self) {
        for dir in &self.dirs {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}
