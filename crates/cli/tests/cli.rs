//! Integration tests of the `optout-relay` binary: its subcommands run as child processes.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_optout-relay");
const ADMIN_TOKEN: &str = "cli-test-admin-token-0123456789";
/// How long `serve` may take to start listening, or to stop after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(15);

/// Every flag of `serve` and its environment twin.
const SERVE_FLAGS: [(&str, &str); 6] = [
    ("--listen", "OPTOUT_RELAY_LISTEN"),
    ("--database-url", "OPTOUT_RELAY_DATABASE_URL"),
    ("--admin-token", "OPTOUT_RELAY_ADMIN_TOKEN"),
    ("--allow-insecure-urls", "OPTOUT_RELAY_ALLOW_INSECURE_URLS"),
    (
        "--allow-private-targets",
        "OPTOUT_RELAY_ALLOW_PRIVATE_TARGETS",
    ),
    ("--no-url-challenge", "OPTOUT_RELAY_NO_URL_CHALLENGE"),
];

/// The binary with a clean environment: no colours, and no `OPTOUT_RELAY_*` leaking in from the
/// developer's shell.
fn relay() -> Command {
    let mut command = Command::new(BINARY);
    command.env("NO_COLOR", "1").env("RUST_LOG", "info");
    for (_, env) in SERVE_FLAGS {
        command.env_remove(env);
    }
    command
}

fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("optout-relay.db").display())
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
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
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs `command` to completion within [`PATIENCE`]; kills it and fails if it takes longer.
fn run(command: &mut Command) -> Output {
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn optout-relay"),
    );
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
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
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `account create` printed.
#[derive(Debug)]
struct CreatedAccount {
    id: String,
    api_key: String,
}

fn create_account(dir: &Path, extra: &[&str]) -> CreatedAccount {
    let output = run(relay()
        .args(["account", "create", "--name", "Acme Corp"])
        .args(extra)
        .args(["--database-url", &database_url(dir)]));
    assert!(
        output.status.success(),
        "account create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = stdout_of(&output);
    let field = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label:?} line in {stdout}"))
    };
    CreatedAccount {
        id: field("account id:"),
        api_key: field("api key:"),
    }
}

/// A running `serve`, killed when dropped whatever happens in the test.
struct Server {
    child: KillOnDrop,
    address: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `serve` on port 0 with `args`, and waits for its "listening" log line.
    fn start(dir: &Path, args: &[&str]) -> Self {
        let mut child = relay()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--database-url", &database_url(dir)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (lines, received) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let collected = Arc::clone(&stderr);
        // Drains stderr for the whole life of the child, so it never blocks on a full pipe.
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                collected.lock().expect("stderr lock").push_str(&line);
                collected.lock().expect("stderr lock").push('\n');
                let _ = lines.send(line);
            }
        });
        let mut server = Self {
            child: KillOnDrop(child),
            address: String::new(),
            stderr,
            reader: Some(reader),
        };
        server.address = server.wait_for_address(&received);
        server
    }

    fn wait_for_address(&mut self, lines: &Receiver<String>) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains("optout-relay listening") => {
                    let address = line
                        .split("address=")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .unwrap_or_else(|| panic!("no address in {line:?}"));
                    return format!("http://{address}");
                }
                Ok(_) => {}
                Err(_) => panic!(
                    "serve did not log its address within {PATIENCE:?}; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Sends SIGTERM and waits, within [`PATIENCE`], for the exit; kills and fails on timeout.
    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + PATIENCE;
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
                    "serve did not exit within {PATIENCE:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[test]
fn account_create_prints_an_account_id_and_an_api_key() {
    let dir = tempfile::tempdir().unwrap();

    let account = create_account(dir.path(), &[]);

    assert!(
        !account.id.is_empty() && account.id.bytes().all(|b| b.is_ascii_digit()),
        "account id {:?}",
        account.id
    );
    assert!(account.api_key.starts_with("oor_"), "{:?}", account.api_key);
    assert_eq!(account.api_key.len(), 4 + 32 + 6);
    assert!(dir.path().join("optout-relay.db").exists());
}

#[test]
fn account_create_uses_a_chosen_account_id_and_refuses_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();

    let account = create_account(dir.path(), &["--account-id", "431705"]);
    let duplicate = run(relay()
        .args([
            "account",
            "create",
            "--name",
            "Again",
            "--account-id",
            "431705",
        ])
        .args(["--database-url", &database_url(dir.path())]));

    assert_eq!(account.id, "431705");
    assert!(!duplicate.status.success(), "a duplicate id is refused");
    assert!(
        !stdout_of(&duplicate).contains("oor_"),
        "no key for a refused account"
    );
}

#[test]
fn account_create_refuses_a_non_numeric_account_id() {
    let dir = tempfile::tempdir().unwrap();

    let output = run(relay()
        .args(["account", "create", "--name", "Acme", "--account-id", "12a"])
        .args(["--database-url", &database_url(dir.path())]));

    assert!(!output.status.success());
    assert!(!stdout_of(&output).contains("oor_"));
}

#[test]
fn serve_accepts_the_printed_key_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let account = create_account(dir.path(), &[]);
    let mut server = Server::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--allow-insecure-urls",
            "--allow-private-targets",
            "--no-url-challenge",
        ],
    );
    let client = client();

    let response = client
        .get(server.url("/api/account/secret"))
        .header("api_key", &account.api_key)
        .send()
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
    let body: Value = response.json().unwrap();
    assert_eq!(
        body,
        json!({ "statusCode": 404, "message": "Account secret not found. Please generate one first." })
    );
    let admin = client
        .post(server.url("/admin/accounts"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "Second" }))
        .send()
        .unwrap();
    assert_eq!(
        admin.status(),
        reqwest::StatusCode::CREATED,
        "the configured token works"
    );

    let status = server.terminate();

    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
}

#[test]
fn serve_exits_0_on_sigterm_sent_as_soon_as_it_logs_listening() {
    // Once `serve` says it is listening, an orchestrator may stop it at any moment; the
    // graceful shutdown must already be armed. The race is narrow, so try several times.
    const ATTEMPTS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..ATTEMPTS {
        let mut server = Server::start(dir.path(), &["--admin-token", ADMIN_TOKEN]);
        statuses.push(server.terminate());
    }
    let failed: Vec<&ExitStatus> = statuses
        .iter()
        .filter(|status| status.code() != Some(0))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {ATTEMPTS} starts did not exit 0 on SIGTERM: {failed:?}",
        failed.len()
    );
}

#[test]
fn serve_help_lists_every_flag_with_its_environment_twin() {
    let output = run(relay().args(["serve", "--help"]));

    assert!(output.status.success());
    let help = stdout_of(&output);
    for (flag, env) in SERVE_FLAGS {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
        assert!(help.contains(env), "{env} missing from:\n{help}");
    }
    // Every flag shown, not only the known ones, has its twin.
    let shown: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '<')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .collect();
    for flag in shown {
        if flag == "--help" || flag == "--version" {
            continue;
        }
        let env = format!(
            "OPTOUT_RELAY_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        assert!(help.contains(&env), "{flag} has no {env} twin in:\n{help}");
    }
}

#[test]
fn serve_without_an_admin_token_creates_a_private_token_file_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let token_file: PathBuf = data.join("admin-token");

    let mode = std::fs::metadata(&token_file)
        .expect("admin-token exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() >= 16, "token too short");
    let response = client()
        .post(server.url("/admin/accounts"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Via file token" }))
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        reqwest::StatusCode::CREATED,
        "the file's token is the one in force"
    );

    let status = server.terminate();

    assert_eq!(status.code(), Some(0));
    let stderr = server.stderr();
    assert!(stderr.contains("optout-relay listening"));
    assert!(
        !stderr.contains(&token),
        "the token appears in the log:\n{stderr}"
    );
}

#[test]
fn serve_reuses_the_token_file_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path(), &[]);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let health = client().get(first.url("/healthz")).send().unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    assert_eq!(first.terminate().code(), Some(0));

    let mut second = Server::start(dir.path(), &[]);

    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin-token")).unwrap(),
        token
    );
    let response = client()
        .post(second.url("/admin/accounts"))
        .bearer_auth(token.trim())
        .json(&json!({ "name": "Again" }))
        .send()
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    assert_eq!(second.terminate().code(), Some(0));
}

#[test]
fn serve_refuses_a_short_admin_token() {
    let dir = tempfile::tempdir().unwrap();

    let output = run(relay()
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", "short"])
        .args(["--database-url", &database_url(dir.path())]));

    assert!(!output.status.success());
    let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
    assert!(stderr.contains("at least 16"), "{stderr}");
}

#[test]
fn openapi_prints_the_document_as_valid_json() {
    let output = run(relay().arg("openapi"));

    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let generated: Value = serde_json::from_str(&optout_server::openapi_document()).unwrap();
    assert_eq!(printed, generated);
    assert!(printed["paths"]["/api/subscriptions/opt-out"].is_object());
}
