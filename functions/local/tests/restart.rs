//! The local binary as a user runs it: started with no flags it keeps its data in
//! `.studio-data`, serves the API, and still has a project after being killed and
//! started again.

mod server;

use std::path::Path;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Starts studio-local in `dir` on a free port; returns the process and its base URL.
async fn start(dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-local"));
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(dir)
        .env_remove("STUDIO_DATA_DIR")
        .env_remove("STUDIO_BACKEND")
        .env_remove("STUDIO_LISTEN");
    server::listening(command).await
}

#[tokio::test]
async fn a_project_created_over_http_survives_a_kill_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    shared::tls::install_default_provider();
    let client = reqwest::Client::new();
    let (mut first, url) = start(dir.path(), &[]).await;
    let created: Value = client
        .post(format!("{url}/projects"))
        .json(&json!({"name": "clinic"}))
        .send()
        .await
        .expect("POST /projects")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let token = created["token"].as_str().expect("token").to_owned();
    // SIGKILL, not a polite stop: what was acknowledged must already be on disk.
    first.kill().await.expect("kill");

    let data = dir.path().join(".studio-data");
    assert!(
        data.join("studio.redb").is_file(),
        "the default data folder is .studio-data"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))
            .expect("master key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (_second, url) = start(dir.path(), &[]).await;
    let read = client
        .get(format!("{url}/projects/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET project");
    assert_eq!(read.status(), 200);
    let body: Value = read.json().await.expect("json");
    assert_eq!(body["name"], "clinic");
}

#[tokio::test]
async fn the_data_folder_can_be_chosen_with_a_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chosen = dir.path().join("elsewhere");
    let (_child, url) = start(dir.path(), &["--data-dir", chosen.to_str().expect("utf-8")]).await;
    shared::tls::install_default_provider();
    let status = reqwest::Client::new()
        .post(format!("{url}/projects"))
        .json(&json!({"name": "clinic"}))
        .send()
        .await
        .expect("POST")
        .status();
    assert_eq!(status, 201);
    assert!(chosen.join("studio.redb").is_file());
    assert!(!dir.path().join(".studio-data").exists());
}
