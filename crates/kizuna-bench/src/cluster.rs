//! A cluster set up for one run, as an operator sets one up: three fresh
//! PostgreSQL databases (the node store, region jp, region kr), a cluster
//! configuration naming them and the NATS servers, the schemas and keys made
//! once with `kizuna admin`, and a copy of the keys in every node's data
//! directory. The databases are dropped when the run ends, however it ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::node::Node;
use crate::BenchError;

/// The environment variable through which the nodes are given the
/// PostgreSQL password, when the server URL carries one: a configuration
/// file never holds a password.
const PASSWORD_ENV: &str = "KIZUNA_BENCH_POSTGRES_PASSWORD";

/// Where the cluster's shared services are.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// A database URL on the PostgreSQL server the run's databases are
    /// created on (the database itself is only connected to).
    pub postgres: String,
    /// The NATS server the nodes wake each other through.
    pub nats: String,
}

/// The nodes a run talks to; with a cluster, the databases behind them,
/// dropped after the nodes are stopped.
pub(crate) struct Deployment {
    pub(crate) nodes: Vec<Node>,
    pub(crate) databases: Option<Databases>,
    /// The server's `synchronous_commit`, which decides what a commit the
    /// sender waited for means.
    pub(crate) synchronous_commit: Option<String>,
}

impl Deployment {
    /// Sets up a cluster of `n` nodes under `work_dir`.
    pub(crate) async fn cluster(
        kizuna_bin: &Path,
        work_dir: &Path,
        n: usize,
        opts: &ClusterOptions,
    ) -> Result<Deployment, BenchError> {
        let _ = std::fs::remove_dir_all(work_dir);
        std::fs::create_dir_all(work_dir).map_err(|e| setup("the work directory", e))?;
        let server = Server::parse(&opts.postgres)?;
        let name = cluster_name();
        let databases = Databases::create(&server, &name).await?;
        let synchronous_commit = server.synchronous_commit().await?;
        let toml = cluster_toml(
            kizuna_config::DEFAULT_TOML,
            &name,
            &databases.urls(),
            &opts.nats,
            server.password.is_some(),
        )?;
        let config = work_dir.join("cluster.toml");
        std::fs::write(&config, toml).map_err(|e| setup("the cluster configuration", e))?;
        let env: Vec<(&str, String)> = server
            .password
            .iter()
            .map(|p| (PASSWORD_ENV, p.clone()))
            .collect();
        let data_dirs: Vec<PathBuf> = (0..n).map(|i| work_dir.join(format!("n{i}"))).collect();
        for step in ["migrate", "init-keys"] {
            admin(kizuna_bin, step, &config, &data_dirs[0], &env)?;
        }
        for d in &data_dirs[1..] {
            copy_dir(&data_dirs[0].join("keys"), &d.join("keys"))?;
        }
        let mut nodes = Vec::with_capacity(n);
        for d in &data_dirs {
            nodes.push(Node::spawn(kizuna_bin, d, Some((&config, &env)), false, false).await?);
        }
        Ok(Deployment {
            nodes,
            databases: Some(databases),
            synchronous_commit: Some(synchronous_commit),
        })
    }

    /// Stops the nodes, then drops the cluster's databases.
    pub(crate) async fn stop(mut self) -> Result<(), BenchError> {
        self.nodes.clear();
        match self.databases.take() {
            Some(d) => d.drop_all().await,
            None => Ok(()),
        }
    }
}

fn setup(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(format!("{what}: {e}"))
}

/// A name no other run's NATS subjects share: "bench-" and ten hex digits.
fn cluster_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("bench-{:010x}", h.finish() >> 24)
}

/// The PostgreSQL server a run's databases are made on.
struct Server {
    url: reqwest::Url,
    password: Option<String>,
}

impl Server {
    fn parse(url: &str) -> Result<Server, BenchError> {
        let mut parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "postgres" | "postgresql") && u.has_host())
            .ok_or_else(|| {
                BenchError::Setup(format!(
                    "--postgres {url:?} is not a PostgreSQL URL like postgres://postgres@127.0.0.1:5432/test"
                ))
            })?;
        let password = parsed.password().map(str::to_string);
        let _ = parsed.set_password(None);
        Ok(Server {
            url: parsed,
            password,
        })
    }

    /// The URL of database `name` on this server, without the password.
    fn database(&self, name: &str) -> String {
        let mut u = self.url.clone();
        u.set_path(&format!("/{name}"));
        u.to_string()
    }

    fn connect_options(&self) -> Result<PgConnectOptions, BenchError> {
        let o: PgConnectOptions = self
            .url
            .as_str()
            .parse()
            .map_err(|e| setup("the --postgres URL", e))?;
        Ok(match &self.password {
            Some(p) => o.password(p),
            None => o,
        })
    }

    async fn connect(&self) -> Result<PgConnection, BenchError> {
        PgConnection::connect_with(&self.connect_options()?)
            .await
            .map_err(|e| {
                BenchError::Setup(format!(
                    "cannot reach PostgreSQL at {} (start it, or name another with --postgres): {e}",
                    self.url
                ))
            })
    }

    async fn synchronous_commit(&self) -> Result<String, BenchError> {
        let mut conn = self.connect().await?;
        let (v,): (String,) = sqlx::query_as("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| setup("SHOW synchronous_commit", e))?;
        let _ = conn.close().await;
        Ok(v)
    }
}

/// The run's three databases: node store, region jp, region kr.
pub(crate) struct Databases {
    admin: PgConnectOptions,
    urls: [String; 3],
    names: Vec<String>,
}

impl Databases {
    async fn create(server: &Server, cluster: &str) -> Result<Databases, BenchError> {
        let mut conn = server.connect().await?;
        let mut made = Databases {
            admin: server.connect_options()?,
            urls: Default::default(),
            names: Vec::new(),
        };
        for (i, what) in ["node", "jp", "kr"].into_iter().enumerate() {
            let name = format!("kizuna_{}_{what}", cluster.replace('-', "_"));
            sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .map_err(|e| setup(&format!("CREATE DATABASE {name}"), e))?;
            made.urls[i] = server.database(&name);
            made.names.push(name);
        }
        let _ = conn.close().await;
        Ok(made)
    }

    fn urls(&self) -> [&str; 3] {
        [&self.urls[0], &self.urls[1], &self.urls[2]]
    }

    async fn drop_all(mut self) -> Result<(), BenchError> {
        let names = std::mem::take(&mut self.names);
        drop_databases(&self.admin, &names).await
    }
}

async fn drop_databases(admin: &PgConnectOptions, names: &[String]) -> Result<(), BenchError> {
    if names.is_empty() {
        return Ok(());
    }
    let left = || format!("the databases {} were left behind", names.join(", "));
    let mut conn = PgConnection::connect_with(admin)
        .await
        .map_err(|e| BenchError::Setup(format!("{}: {e}", left())))?;
    for name in names {
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .map_err(|e| BenchError::Setup(format!("{}: {e}", left())))?;
    }
    let _ = conn.close().await;
    Ok(())
}

impl Drop for Databases {
    /// A run that failed or was interrupted drops its databases here, on a
    /// runtime of its own: `drop` cannot wait on the run's.
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        let admin = self.admin.clone();
        let names = std::mem::take(&mut self.names);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            rt.block_on(drop_databases(&admin, &names))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("{e}"),
            Err(_) => eprintln!("dropping the run's databases failed"),
        }
    }
}

/// The default configuration with the node store and both regions in
/// `databases` (node, jp, kr) and the cluster `name` on `nats`. With
/// `password_env`, every store takes its password from [`PASSWORD_ENV`].
pub fn cluster_toml(
    default_toml: &str,
    name: &str,
    databases: &[&str; 3],
    nats: &str,
    password_env: bool,
) -> Result<String, BenchError> {
    let store = |url: &str| match password_env {
        true => format!("{{ postgres = \"{url}\", password_env = \"{PASSWORD_ENV}\" }}"),
        false => format!("{{ postgres = \"{url}\" }}"),
    };
    let mut toml = default_toml.to_string();
    for (region, url) in [("jp", databases[1]), ("kr", databases[2])] {
        let sqlite = format!("{{ sqlite = \"regions/{region}.sqlite\" }}");
        if !toml.contains(&sqlite) {
            return Err(BenchError::Setup(format!(
                "the default configuration no longer keeps region {region} in {sqlite}"
            )));
        }
        toml = toml.replace(&sqlite, &store(url));
    }
    let at = toml
        .find("[regions.")
        .ok_or_else(|| BenchError::Setup("the default configuration names no region".into()))?;
    let toml = format!(
        "{}node_store = {}\n\n[cluster]\nname = \"{name}\"\nnats = [\"{nats}\"]\n\n{}",
        &toml[..at],
        store(databases[0]),
        &toml[at..]
    );
    kizuna_config::Regions::parse(&toml, "the benchmark's cluster configuration")
        .map_err(|e| setup("the cluster configuration", e))?;
    Ok(toml)
}

/// `kizuna admin <step>` on the cluster configuration, as an operator runs it.
fn admin(
    kizuna_bin: &Path,
    step: &str,
    config: &Path,
    data_dir: &Path,
    env: &[(&str, String)],
) -> Result<(), BenchError> {
    let out = Command::new(kizuna_bin)
        .args(["admin", step, "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| setup(&format!("kizuna admin {step}"), e))?;
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "kizuna admin {step} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    let copy = |e: std::io::Error| setup(&format!("copying {}", from.display()), e);
    std::fs::create_dir_all(to).map_err(copy)?;
    for e in std::fs::read_dir(from).map_err(copy)? {
        let e = e.map_err(copy)?;
        std::fs::copy(e.path(), to.join(e.file_name())).map_err(copy)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DBS: [&str; 3] = [
        "postgres://postgres@127.0.0.1:5432/kizuna_x_node",
        "postgres://postgres@127.0.0.1:5432/kizuna_x_jp",
        "postgres://postgres@127.0.0.1:5432/kizuna_x_kr",
    ];

    #[test]
    fn the_cluster_configuration_places_every_store_in_postgres() {
        let toml = cluster_toml(
            kizuna_config::DEFAULT_TOML,
            "bench-0123456789",
            &DBS,
            "nats://127.0.0.1:4222",
            false,
        )
        .unwrap();
        let r = kizuna_config::Regions::parse(&toml, "test").unwrap();
        assert_eq!(r.cluster.as_ref().unwrap().name, "bench-0123456789");
        assert_eq!(r.node_store.as_ref().unwrap().url, DBS[0]);
        assert!(!toml.contains("sqlite = \"regions/"));
        assert!(toml.contains(DBS[1]) && toml.contains(DBS[2]));
        assert!(!toml.contains("password_env"));
    }

    #[test]
    fn a_password_goes_through_the_environment_not_the_file() {
        let server = Server::parse("postgres://bench:s3cret@db.example:5433/test").unwrap();
        assert_eq!(server.password.as_deref(), Some("s3cret"));
        let url = server.database("kizuna_x_jp");
        assert_eq!(url, "postgres://bench@db.example:5433/kizuna_x_jp");
        let toml = cluster_toml(
            kizuna_config::DEFAULT_TOML,
            "bench-0123456789",
            &DBS,
            "nats://127.0.0.1:4222",
            true,
        )
        .unwrap();
        assert!(!toml.contains("s3cret"));
        assert_eq!(toml.matches(PASSWORD_ENV).count(), 3);
    }

    #[test]
    fn what_is_not_a_postgres_url_is_refused() {
        assert!(Server::parse("nats://127.0.0.1:4222").is_err());
        assert!(Server::parse("127.0.0.1:5432").is_err());
    }

    #[test]
    fn cluster_names_are_valid_and_differ() {
        let a = cluster_name();
        assert!(a.len() <= 16 && a.starts_with("bench-"), "{a}");
        assert_ne!(a, cluster_name());
    }
}
