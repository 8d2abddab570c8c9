//! `kizuna serve`: a node on the command line, until it is told to stop.

use crate::admin;
use crate::cli::ServeArgs;

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KIZUNA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if a.log_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let mut config = kizuna_server::ServerConfig::new(&a.data_dir, a.listen);
    config.regions = admin::regions(a.config.as_deref())?;
    config.staff_listen = Some(a.staff_listen.unwrap_or_else(|| staff_beside(a.listen)));
    config.ops_listen = Some(a.ops_listen.unwrap_or_else(|| ops_beside(a.listen)));
    config.policy = admin::policy_path(a.policy.as_deref(), a.config.as_deref());
    config.anomaly = kizuna_server::AnomalyLimits {
        denials_per_hour: a.staff_max_refusals_per_hour,
        people_per_hour: a.staff_max_people_per_hour,
    };
    config.limits.requests_per_second = a.rate_limit;
    config.limits.request_burst = a.rate_limit.saturating_mul(2);
    config.limits.signups_per_minute = a.signups_per_minute;
    config.limits.websockets_per_device = a.websockets_per_device;
    config.edge = kizuna_server::Edge {
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(kizuna_server::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        trusted_proxies: a.trusted_proxies.clone(),
        max_connections: a.max_connections,
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        body_timeout: std::time::Duration::from_secs(a.body_timeout.max(1)),
        idle_timeout: std::time::Duration::from_secs(a.idle_timeout.max(1)),
    };
    let config_region = config.regions.node_region().id.clone();
    let config_ids = config.regions.ids().join(", ");
    let server = kizuna_server::RunningServer::start(config).await?;
    if a.json {
        out!(
            "{}",
            serde_json::json!({
                "user_api": server.url(),
                "staff_api": server.staff_addr.map(|s| format!("{}://{s}", server.scheme)),
                "operations": server.ops_addr.map(|s| format!("http://{s}")),
                "data_dir": a.data_dir.display().to_string(),
                "node_region": config_region,
                "regions": config_ids,
            })
        );
    } else {
        out!(
            "Kizuna user API listening on {} (data in {}; node region {}, regions {})",
            server.url(),
            a.data_dir.display(),
            config_region,
            config_ids
        );
        if let Some(staff) = server.staff_addr {
            out!("Kizuna staff API listening on {}://{staff}", server.scheme);
        }
        if let Some(ops) = server.ops_addr {
            out!("Kizuna operations (/healthz, /readyz, /metrics) on http://{ops}");
        }
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing in-flight requests");
    server.shutdown().await;
    eprintln!("stopped cleanly");
    Ok(())
}

/// The staff listener a node gets when none is named: on loopback, on the
/// port after the user API's, so nodes started with only `--listen` on
/// different ports never collide on a shared staff port.
fn staff_beside(user: std::net::SocketAddr) -> std::net::SocketAddr {
    let port = match user.port() {
        0 => 0,
        p => p.checked_add(1).unwrap_or(p - 1),
    };
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// The operations listener a node gets when none is named: on loopback, two
/// ports after the user API's (the staff API has the one between).
fn ops_beside(user: std::net::SocketAddr) -> std::net::SocketAddr {
    let port = match user.port() {
        0 => 0,
        p => p.checked_add(2).unwrap_or(p - 2),
    };
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
