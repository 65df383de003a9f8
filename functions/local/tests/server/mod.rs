//! Starting the local binary for a test: spawn it, and wait for the line that says where
//! it listens (it listens on a free port).

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Spawns `command` (studio-local with its arguments and environment) with stdout read,
/// stderr dropped and the process killed on drop; returns it and the base URL it prints.
pub async fn listening(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("studio-local starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("it says where it listens in time")
        .expect("read")
        .expect("a line");
    let url = line.rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (child, url)
}
