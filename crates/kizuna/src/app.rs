//! `kizuna app` and `kizuna staff console`: start a page served by this
//! process and say where to open it.

use std::path::Path;

/// Serves the app of the device under `home` until stopped (Ctrl-C).
pub async fn run(home: &Path, open: bool, port: Option<u16>, json: bool) -> anyhow::Result<()> {
    let app = kizuna_app::start(home, port).await?;
    serve_until_stopped(app, open, json).await
}

/// Prints where `app` is (its address with the one-time secret), opens it
/// if asked, and serves until stopped.
pub async fn serve_until_stopped(
    app: kizuna_app::RunningApp,
    open: bool,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        out!(
            "{}",
            serde_json::json!({ "url": app.open_url, "address": app.local_addr.to_string() })
        );
    } else {
        out!("Kizuna is running at {}", app.local_addr);
        out!("Open this address once (it is for you alone, and works once):");
        out!("  {}", app.open_url);
        out!("Stop with Ctrl-C.");
    }
    if open {
        // The system's own opener; a machine without one still has the
        // printed address.
        if let Err(e) = std::process::Command::new("xdg-open")
            .arg(&app.open_url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            eprintln!("cannot open a browser ({e}); open the address above yourself");
        }
    }
    tokio::select! {
        r = app.wait() => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
