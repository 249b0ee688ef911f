//! Runs a measured program as Lambda would give it CPU and memory: in a cgroup (v1 or v2) with
//! a CPU quota of `MemorySize / 1,769` of one CPU and a memory limit of `MemorySize`
//! ([`runner::confine`], the same mechanism as the local runner's). Creating the cgroup needs
//! root; without it the bench says so and the figure is marked unconfined.

use runner::confine::{Cgroup, Limits};
use std::path::Path;
use tokio::process::Command;

/// Where a figure was measured: at a Lambda memory size's share, or on the whole machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Share {
    Lambda(u32),
    Unconfined,
}

impl Share {
    pub fn label(self) -> String {
        match self {
            Share::Lambda(mb) => {
                format!("{mb} MB ({:.1}% of a vCPU)", 100.0 * f64::from(mb) / 1769.0)
            }
            Share::Unconfined => "unconfined (whole machine)".to_owned(),
        }
    }
}

/// `program args…` in a new cgroup for `memory_mb` (kept alive as long as the returned
/// [`Cgroup`]), or unconfined with the reason when the machine cannot make one.
pub fn command(program: &Path, args: &[&str], memory_mb: u32) -> (Command, Option<Cgroup>, Share) {
    let limits = Limits {
        memory_mb,
        cpu_share: true,
    };
    match Cgroup::create("bench", limits) {
        Ok(cgroup) => (
            cgroup.command(program, args),
            Some(cgroup),
            Share::Lambda(memory_mb),
        ),
        Err(error) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!("bench: cannot make a cgroup ({error}): measuring unconfined");
            });
            let mut command = Command::new(program);
            command.args(args);
            (command, None, Share::Unconfined)
        }
    }
}

/// Lambda's billed GB-seconds for `seconds` at `memory_mb`.
pub fn gb_seconds(seconds: f64, memory_mb: u32) -> f64 {
    seconds * f64::from(memory_mb) / 1024.0
}
