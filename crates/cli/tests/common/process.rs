//! `optout-relay` as a child process: every child is owned by a guard that kills it when the
//! test ends, whatever happens, and every wait on a child has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_optout-relay");
/// The admin token the tests configure (`serve` wants at least 16 characters).
pub const ADMIN_TOKEN: &str = "cli-test-admin-token-0123456789";
/// A master key (base64 of 32 bytes) for tests whose nodes must share one: several nodes on a
/// PostgreSQL database would otherwise each generate their own, in the working directory.
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// How long a short command may run, `serve` may take to start listening, or a child may take
/// to stop after SIGTERM.
pub const PATIENCE: Duration = Duration::from_secs(15);
/// How often a running child is looked at.
const POLL: Duration = Duration::from_millis(20);

/// The binary with a clean environment: no colours, and no `OPTOUT_RELAY_*` leaking in from the
/// developer's shell.
pub fn relay() -> Command {
    let mut command = Command::new(BINARY);
    command.env("NO_COLOR", "1").env("RUST_LOG", "info");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OPTOUT_RELAY_") {
            command.env_remove(name);
        }
    }
    command
}

/// The database URL of a test's directory.
pub fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("optout-relay.db").display())
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for end in chars.by_ref() {
                    if end.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Kills the child when dropped, unless it has exited.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs `command` to completion within [`PATIENCE`]; kills it and fails if it takes longer.
pub fn run(command: &mut Command) -> Output {
    run_watched(command, PATIENCE, |_| {})
}

/// Runs `command` to completion within `patience`, calling `watch` with the child's pid every
/// few milliseconds while it runs; kills it and fails if it takes longer.
pub fn run_watched(
    command: &mut Command,
    patience: Duration,
    mut watch: impl FnMut(u32),
) -> Output {
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn optout-relay"),
    );
    let stdout = drain(
        child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = child.0.id();
    let deadline = Instant::now() + patience;
    let status = loop {
        watch(pid);
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "optout-relay did not finish within {patience:?}"
        );
        std::thread::sleep(POLL);
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `command` with `input` on its stdin, to completion within [`PATIENCE`]; kills it and
/// fails if it takes longer.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn optout-relay"),
    );
    let mut stdin = child.0.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // Written on a thread and then closed, so a child that never reads cannot block the test.
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let stdout = drain(
        child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "optout-relay did not finish within {PATIENCE:?}"
        );
        std::thread::sleep(POLL);
    };
    writer.join().expect("stdin writer");
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Reads a pipe to its end on a thread, so the child never blocks on a full pipe.
fn drain(pipe: Option<Box<dyn Read + Send>>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// What a command printed on stdout.
pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What a command printed on stderr, without colours.
pub fn stderr_of(output: &Output) -> String {
    strip_ansi(&String::from_utf8_lossy(&output.stderr))
}

/// Sends `signal` (e.g. `-TERM`, `-KILL`) to `pid` with `kill(1)`.
pub fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} {pid} failed");
}

/// A long-running child (`serve`, `worker`): killed when dropped whatever happens in the test,
/// its stderr collected for the whole of its life.
#[derive(Debug)]
pub struct Daemon {
    child: KillOnDrop,
    stderr: Arc<Mutex<String>>,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Starts `command` with stderr piped.
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn optout-relay");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sender, lines) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let collected = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                {
                    let mut all = collected.lock().expect("stderr lock");
                    all.push_str(&line);
                    all.push('\n');
                }
                let _ = sender.send(line);
            }
        });
        Self {
            child: KillOnDrop(child),
            stderr,
            lines,
            reader: Some(reader),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Everything the child logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Waits, within `patience`, for a log line containing `needle`, and returns it.
    pub fn wait_for_line(&self, needle: &str, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no log line with {needle:?} within {patience:?}; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// Whether the child has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(Some(_)))
    }

    /// Sends SIGTERM and waits, within [`PATIENCE`], for the exit; kills and fails on timeout.
    pub fn terminate(&mut self) -> ExitStatus {
        send_signal(self.pid(), "-TERM");
        self.wait_for_exit(PATIENCE)
    }

    /// Sends SIGKILL (no chance to clean up) and reaps the child.
    pub fn kill_hard(&mut self) -> ExitStatus {
        send_signal(self.pid(), "-KILL");
        self.wait_for_exit(PATIENCE)
    }

    /// Waits, within `patience`, for the exit; kills and fails on timeout.
    pub fn wait_for_exit(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.0.try_wait().expect("try_wait") {
                if let Some(reader) = self.reader.take() {
                    reader.join().expect("stderr reader joins");
                }
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.0.kill();
                let _ = self.child.0.wait();
                panic!(
                    "optout-relay did not exit within {patience:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

/// A running `serve`, killed when dropped.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub daemon: Daemon,
    address: String,
}

impl Server {
    /// Starts `serve` on port 0 with `args`, on the database of `dir`, and waits for its
    /// "listening" log line.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_on(&database_url(dir), args)
    }

    /// Starts `serve` on port 0 with `args`, on the database named by `database_url` (e.g. a
    /// PostgreSQL database several servers share), and waits for its "listening" log line.
    pub fn start_on(database_url: &str, args: &[&str]) -> Self {
        let daemon = Daemon::spawn(
            relay()
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(["--database-url", database_url])
                .args(args),
        );
        let line = daemon.wait_for_line("optout-relay listening", PATIENCE);
        // `address=127.0.0.1:PORT` in text logs, `"address":"127.0.0.1:PORT"` in JSON logs.
        let address = line
            .split("address=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .or_else(|| {
                line.split("\"address\":\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
            })
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self {
            address: format!("http://{address}"),
            daemon,
        }
    }

    /// The full URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Everything the server logged so far.
    pub fn stderr(&self) -> String {
        self.daemon.stderr()
    }

    /// Sends SIGTERM and waits for the exit; see [`Daemon::terminate`].
    pub fn terminate(&mut self) -> ExitStatus {
        self.daemon.terminate()
    }

    /// Sends SIGKILL; see [`Daemon::kill_hard`].
    pub fn kill_hard(&mut self) -> ExitStatus {
        self.daemon.kill_hard()
    }
}

/// What `account create` printed.
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    /// The account id.
    pub id: String,
    /// Its first API key.
    pub api_key: String,
}

/// Runs `account create` on the database of `dir`, with `extra` flags.
pub fn create_account(dir: &Path, extra: &[&str]) -> CreatedAccount {
    let output = run(relay()
        .args(["account", "create", "--name", "Acme Corp"])
        .args(extra)
        .args(["--database-url", &database_url(dir)]));
    assert!(
        output.status.success(),
        "account create failed: {}",
        stderr_of(&output)
    );
    let stdout = stdout_of(&output);
    CreatedAccount {
        id: printed_field(&stdout, "account id:"),
        api_key: printed_field(&stdout, "api key:"),
    }
}

/// The value printed after `label` on a line of `stdout`, trimmed.
pub fn printed_field(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label:?} line in {stdout}"))
}
