//! Child processes the runner owns: moto's server and the function binaries. Each is killed when
//! its handle is dropped, so a test or a failed demo leaves nothing running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A free TCP port on 127.0.0.1 (bound then released; the caller binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[derive(Debug)]
pub struct Moto {
    _child: Child,
    pub endpoint: String,
}

impl Moto {
    /// `MOTO_SERVER`, or where scripts/install-moto.sh puts it.
    pub fn executable() -> PathBuf {
        std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default())
                    .join(".cache/image-release/venv-moto/bin/moto_server")
            })
    }

    /// Starts `moto_server` on 127.0.0.1 at a free port and waits until it answers.
    pub async fn start(executable: &Path, log: &Path) -> anyhow::Result<Self> {
        Self::start_recording(executable, log, None).await
    }

    /// [`Moto::start`], recording every request (moto's recorder: one JSON line per request,
    /// headers included) into `recording` when given.
    pub async fn start_recording(
        executable: &Path,
        log: &Path,
        recording: Option<&Path>,
    ) -> anyhow::Result<Self> {
        if !executable.exists() {
            anyhow::bail!(
                "{} not found: run scripts/install-moto.sh (or set MOTO_SERVER)",
                executable.display()
            );
        }
        // A free port is only free when it is probed: another local server may take it before
        // moto binds it (moto then exits, and that server answers instead). So moto is ready
        // only when moto itself answers (its /moto-api/data.json), and a lost port is tried
        // again with another.
        for _ in 0..3 {
            let port = free_port()?;
            let log_file = std::fs::File::create(log)?;
            let mut command = Command::new(executable);
            own_group(&mut command);
            if let Some(file) = recording {
                command
                    .env("MOTO_ENABLE_RECORDING", "true")
                    .env("MOTO_RECORDER_FILEPATH", file);
            }
            let mut child = command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::from(log_file.try_clone()?))
                .stderr(Stdio::from(log_file))
                .kill_on_drop(true)
                .spawn()?;
            // Up to 30 s: moto's first start imports a lot of Python, and a 2-core machine
            // running the suite's other tests beside it was seen needing more than 10 s.
            for _ in 0..600 {
                if child.try_wait()?.is_some() {
                    break;
                }
                if answers_as_moto(port).await {
                    return Ok(Self {
                        _child: child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if child.try_wait()?.is_none() {
                anyhow::bail!(
                    "moto did not start on port {port} within 30 s (see {})",
                    log.display()
                );
            }
        }
        anyhow::bail!(
            "moto exited three times at start, each port taken meanwhile (see {})",
            log.display()
        )
    }
}

/// Whether moto answers on `port`: a 200 to `GET /moto-api/data.json`, which no other local
/// server serves.
async fn answers_as_moto(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = format!(
        "GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
        .await
        .is_ok_and(|read| read.is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
}

/// Serves `app` on a free port of 127.0.0.1 until the returned sender is dropped or fired:
/// the local servers (Runtime APIs, the authorizing proxy) stop with their owner.
pub async fn serve_locally(
    app: axum::Router,
) -> anyhow::Result<(std::net::SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((addr, stop))
}

/// Where `cargo build` put the function binaries: next to the current executable's `deps/`
/// (tests) or beside it (the runner binary), unless `FUNCTIONS_DIR` says otherwise.
pub fn binaries_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FUNCTIONS_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// A function binary running against a Runtime API, like a warm execution environment.
pub struct FunctionProcess {
    child: Child,
}

impl FunctionProcess {
    pub fn spawn(
        binary: &Path,
        environment: &BTreeMap<String, String>,
        log: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_in(binary, environment, log, None)
    }

    /// [`FunctionProcess::spawn`] inside `cgroup` (its memory and CPU limits) from its first
    /// instruction: a shell writes its own pid into the cgroup, then execs the binary. The log
    /// is appended to, so a reset environment's lines follow the previous one's.
    pub fn spawn_in(
        binary: &Path,
        environment: &BTreeMap<String, String>,
        log: &Path,
        cgroup: Option<&crate::confine::Cgroup>,
    ) -> anyhow::Result<Self> {
        if !binary.exists() {
            anyhow::bail!(
                "{} not found: build the functions first (cargo build --workspace --bins --tests)",
                binary.display()
            );
        }
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = match cgroup {
            Some(cgroup) => cgroup.command(binary, &[]),
            None => Command::new(binary),
        };
        own_group(&mut command);
        let child = command
            .env_clear()
            .envs(environment)
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child })
    }

    /// Waits for the process to end.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.wait().await.ok()
    }

    /// Ends the process (SIGKILL) and waits for it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// The environment Lambda gives every function, plus the SDK endpoint overrides.
/// The local access key of function `name`: `AKID` and its name in capitals without dashes.
pub fn access_key(name: &str) -> String {
    format!("AKID{}", name.replace('-', "").to_ascii_uppercase())
}

pub fn lambda_environment(
    name: &str,
    runtime_api: &str,
    emulator: &str,
    moto: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    // Each function signs with its own key, so the local services can tell whose call it is.
    env.insert("AWS_ACCESS_KEY_ID".to_owned(), access_key(name));
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/local"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_SECRET_ACCESS_KEY", "local-secret"),
        ("AWS_SESSION_TOKEN", "local-session"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_IMAGEBUILDER", emulator),
        ("AWS_ENDPOINT_URL_EC2", emulator),
        ("AWS_ENDPOINT_URL_APPSTREAM", emulator),
        // The emulator's PutEvents puts release events on the local bus.
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", emulator),
        // moto's KMS hashes a DIGEST again; the emulator's signs it as KMS does.
        ("AWS_ENDPOINT_URL_KMS", emulator),
        // moto has SSM, but the emulator checks aws:ec2:image values against its own AMIs.
        ("AWS_ENDPOINT_URL_SSM", emulator),
        ("AWS_ENDPOINT_URL_S3", moto),
        ("AWS_ENDPOINT_URL_CLOUDFRONT", moto),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    env
}

/// Whether the children (moto, the functions) get process groups of their own.
static OWN_GROUPS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Puts every child started from now on in a process group of its own, so that Ctrl-C at the
/// terminal reaches `local-release` alone: a kept stack then stops in order (the last ticks
/// settle, the report is read) before its children are stopped with it. Tests leave it off,
/// so that a test runner stopping a test's process group stops its children too.
pub fn detach_children_from_terminal() {
    OWN_GROUPS.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn own_group(command: &mut Command) {
    if OWN_GROUPS.load(std::sync::atomic::Ordering::Relaxed) {
        command.process_group(0);
    }
}
