//! Where the stores live, and the cluster a node belongs to: one node on its
//! own data directory (SQLite, the default), or many nodes sharing
//! PostgreSQL databases and a NATS server.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a store lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoreLocation {
    /// A SQLite file, relative to the data directory unless absolute.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresDatabase),
}

/// A PostgreSQL database and where its password comes from. The password is
/// never in the file: configuration files get copied, pasted and committed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostgresDatabase {
    /// `postgres://user@host:port/database`, without a password.
    pub url: String,
    /// The environment variable holding the password, if one is needed.
    pub password_env: Option<String>,
}

impl PostgresDatabase {
    /// The password from the environment, or a message naming the variable.
    pub fn password(&self) -> Result<Option<String>, String> {
        match &self.password_env {
            None => Ok(None),
            Some(var) => std::env::var(var).map(Some).map_err(|_| {
                format!(
                    "the password of {} is to come from the environment variable {var}, which is not set",
                    self.url
                )
            }),
        }
    }

    /// Host, port and database, lowercased: two spellings of one database
    /// compare equal.
    fn identity(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.url);
        let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
        let rest = rest.split('?').next().unwrap_or(rest);
        let (host, db) = rest.split_once('/').unwrap_or((rest, ""));
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        };
        format!("{}/{}", host.to_ascii_lowercase(), db)
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "SQLite file {}", p.display()),
            StoreLocation::Postgres(db) => write!(f, "PostgreSQL database {}", db.url),
        }
    }
}

/// `store = { sqlite = "…" }` or `store = { postgres = "…", password_env = "…" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreFile {
    sqlite: Option<PathBuf>,
    postgres: Option<String>,
    password_env: Option<String>,
}

impl StoreFile {
    /// The location, or the problem with it.
    pub(crate) fn location(self) -> Result<StoreLocation, String> {
        match (self.sqlite, self.postgres, self.password_env) {
            (Some(p), None, None) => Ok(StoreLocation::Sqlite(crate::lexical(&p))),
            (Some(_), None, Some(_)) => {
                Err("password_env goes with a PostgreSQL store, not a SQLite file".into())
            }
            (None, Some(url), password_env) => {
                let url = url.trim().trim_end_matches('/').to_string();
                let Some(rest) = url
                    .strip_prefix("postgres://")
                    .or_else(|| url.strip_prefix("postgresql://"))
                else {
                    return Err(format!(
                        "\"{url}\" is not a PostgreSQL URL like \"postgres://kizuna@db.example:5432/kizuna_jp\""
                    ));
                };
                let authority = rest.split('/').next().unwrap_or("");
                if let Some((userinfo, _)) = authority.rsplit_once('@') {
                    if userinfo.contains(':') {
                        return Err(
                            "the URL carries a password; name an environment variable that holds it with password_env instead".into(),
                        );
                    }
                }
                let database = rest.split_once('/').map(|(_, d)| d).unwrap_or("");
                if database.split('?').next().unwrap_or("").is_empty() {
                    return Err(format!(
                        "\"{url}\" names no database; each store needs its own, like …/kizuna_jp"
                    ));
                }
                if let Some(var) = &password_env {
                    let valid = !var.is_empty()
                        && !var.as_bytes()[0].is_ascii_digit()
                        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !valid {
                        return Err(format!(
                            "password_env \"{var}\" is not an environment variable's name"
                        ));
                    }
                }
                Ok(StoreLocation::Postgres(PostgresDatabase {
                    url,
                    password_env,
                }))
            }
            (None, None, _) => Err("say where: { sqlite = \"…\" } or { postgres = \"…\" }".into()),
            (Some(_), Some(_), _) => Err("a store is either sqlite or postgres, not both".into()),
        }
    }
}

impl StoreLocation {
    /// What makes two locations the same store.
    pub(crate) fn identity(&self) -> String {
        match self {
            StoreLocation::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreLocation::Postgres(db) => format!("postgres:{}", db.identity()),
        }
    }

    pub(crate) fn file(&self) -> Option<&Path> {
        match self {
            StoreLocation::Sqlite(p) => Some(p),
            StoreLocation::Postgres(_) => None,
        }
    }
}

/// The nodes a node serves beside: the NATS server(s) that carry wake-ups
/// and notices between them, and the Redis shared rate limits are counted in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Names the cluster's subjects and streams, so that two clusters can
    /// share a NATS server without hearing each other.
    pub name: String,
    pub nats: Vec<String>,
    /// Where rate limits are counted across nodes; without it each node
    /// counts its own.
    pub redis: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterFile {
    name: String,
    nats: Vec<String>,
    redis: Option<String>,
}

impl ClusterFile {
    pub(crate) fn cluster(self) -> Result<Cluster, (String, String)> {
        if !crate::valid_id(&self.name) {
            return Err((
                "cluster.name".into(),
                "a cluster name is 1-16 lowercase letters, digits or '-', starting with a letter"
                    .into(),
            ));
        }
        if self.nats.is_empty() {
            return Err((
                "cluster.nats".into(),
                "name at least one NATS server, like \"nats://127.0.0.1:4222\"".into(),
            ));
        }
        for url in &self.nats {
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                return Err((
                    "cluster.nats".into(),
                    format!("\"{url}\" is not a NATS URL like \"nats://127.0.0.1:4222\""),
                ));
            }
        }
        if let Some(url) = &self.redis {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err((
                    "cluster.redis".into(),
                    format!("\"{url}\" is not a Redis URL like \"redis://127.0.0.1:6379\""),
                ));
            }
        }
        Ok(Cluster {
            name: self.name,
            nats: self.nats,
            redis: self.redis,
        })
    }
}

/// What may go with what: many nodes need every store where all of them
/// reach it, and something to wake each other with.
pub(crate) fn check_cluster(
    node_store: Option<StoreFile>,
    cluster: Option<ClusterFile>,
    regions: &[crate::Region],
) -> Result<(Option<PostgresDatabase>, Option<Cluster>), (String, String)> {
    let node_store = match node_store.map(StoreFile::location).transpose() {
        Err(problem) => return Err(("node_store".into(), problem)),
        Ok(None) => None,
        Ok(Some(StoreLocation::Postgres(db))) => Some(db),
        Ok(Some(StoreLocation::Sqlite(_))) => {
            return Err((
                "node_store".into(),
                "the embedded node store is always the data directory's node.sqlite; \
                 leave node_store out for it, or place it in PostgreSQL"
                    .into(),
            ))
        }
    };
    let cluster = cluster.map(ClusterFile::cluster).transpose()?;
    match (&node_store, &cluster) {
        (Some(_), None) => {
            return Err((
                "cluster".into(),
                "a node store in PostgreSQL is shared by many nodes: name their NATS server(s) \
                 in [cluster] so that a message sent through one reaches devices on the others"
                    .into(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                "node_store".into(),
                "the nodes of a [cluster] share one node store: place it in PostgreSQL \
                 (node_store = { postgres = \"…\" })"
                    .into(),
            ))
        }
        _ => {}
    }
    if let Some(node_db) = &node_store {
        for r in regions {
            match &r.store {
                StoreLocation::Sqlite(p) => {
                    return Err((
                        format!("regions.{}.store", r.id),
                        format!(
                            "{} is a file on one machine, which the cluster's other nodes cannot reach; \
                             place the region in a PostgreSQL database of its own",
                            p.display()
                        ),
                    ))
                }
                StoreLocation::Postgres(db) if db.identity() == node_db.identity() => {
                    return Err((
                        format!("regions.{}.store", r.id),
                        "the region shares the node store's database; each region's sealed data \
                         needs a database of its own, in its own country"
                            .into(),
                    ))
                }
                StoreLocation::Postgres(_) => {}
            }
        }
    }
    Ok((node_store, cluster))
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, Regions, StoreLocation, DEFAULT_TOML};

    const CLUSTER: &str = r#"
node_store = { postgres = "postgres://kizuna@db.jp.example/kizuna_node", password_env = "KIZUNA_NODE_DB_PASSWORD" }

[cluster]
name = "tokyo"
nats = ["nats://127.0.0.1:4222"]
redis = "redis://127.0.0.1:6379"
"#;

    /// The default file made a cluster's: the node store and both regions
    /// in PostgreSQL.
    fn cluster_toml() -> String {
        let regions = DEFAULT_TOML
            .replace(
                "{ sqlite = \"regions/jp.sqlite\" }",
                "{ postgres = \"postgres://kizuna@db.jp.example/kizuna_jp\" }",
            )
            .replace(
                "{ sqlite = \"regions/kr.sqlite\" }",
                "{ postgres = \"postgres://kizuna@db.kr.example:5433/kizuna_kr\", password_env = \"KR_DB_PASSWORD\" }",
            );
        let at = regions.find("[regions.jp]").unwrap();
        format!("{}{CLUSTER}\n{}", &regions[..at], &regions[at..])
    }

    fn problem(text: &str) -> String {
        match Regions::parse(text, "c.toml") {
            Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_cluster_places_every_store_in_postgres() {
        let c = Regions::parse(&cluster_toml(), "c.toml").unwrap();
        assert_eq!(c.cluster.as_ref().unwrap().name, "tokyo");
        assert_eq!(
            c.node_store.as_ref().unwrap().password_env.as_deref(),
            Some("KIZUNA_NODE_DB_PASSWORD")
        );
        match &c.region("kr").unwrap().store {
            StoreLocation::Postgres(db) => {
                assert_eq!(db.url, "postgres://kizuna@db.kr.example:5433/kizuna_kr");
                assert_eq!(db.password_env.as_deref(), Some("KR_DB_PASSWORD"));
            }
            other => panic!("{other:?}"),
        }
        // The embedded default has neither.
        let d = Regions::embedded();
        assert!(d.cluster.is_none() && d.node_store.is_none());
    }

    #[test]
    fn what_cannot_be_mixed_is_refused_naming_its_place() {
        let full = cluster_toml();
        // A region left in a SQLite file beside a shared node store.
        let e = problem(&full.replace(
            "{ postgres = \"postgres://kizuna@db.jp.example/kizuna_jp\" }",
            "{ sqlite = \"regions/jp.sqlite\" }",
        ));
        assert!(
            e.contains("[regions.jp.store]") && e.contains("cannot reach"),
            "{e}"
        );
        // A shared node store without a cluster, and a cluster without one.
        let no_cluster = full.replace("[cluster]\nname = \"tokyo\"\nnats = [\"nats://127.0.0.1:4222\"]\nredis = \"redis://127.0.0.1:6379\"\n", "");
        assert!(problem(&no_cluster).contains("[cluster]"), "{no_cluster}");
        let no_node_store = full.replace(
            "node_store = { postgres = \"postgres://kizuna@db.jp.example/kizuna_node\", password_env = \"KIZUNA_NODE_DB_PASSWORD\" }\n",
            "",
        );
        assert!(problem(&no_node_store).contains("[node_store]"));
        // A region sharing the node store's database, spelled differently.
        let e = problem(&full.replace(
            "postgres://kizuna@db.jp.example/kizuna_jp",
            "postgresql://other@DB.jp.example:5432/kizuna_node",
        ));
        assert!(e.contains("[regions.jp.store]") && e.contains("own"), "{e}");
        // Two regions in one database.
        let e = problem(&full.replace(
            "postgres://kizuna@db.kr.example:5433/kizuna_kr",
            "postgres://kizuna@db.jp.example/kizuna_jp",
        ));
        assert!(
            e.contains("[regions.kr.store]") && e.contains("already uses"),
            "{e}"
        );
    }

    #[test]
    fn a_postgres_location_is_checked() {
        let full = cluster_toml();
        let jp = "{ postgres = \"postgres://kizuna@db.jp.example/kizuna_jp\" }";
        for (bad, says) in [
            (
                "{ postgres = \"postgres://kizuna:hunter2@db.jp.example/kizuna_jp\" }",
                "password_env",
            ),
            (
                "{ postgres = \"mysql://db.jp.example/kizuna_jp\" }",
                "not a PostgreSQL URL",
            ),
            (
                "{ postgres = \"postgres://db.jp.example\" }",
                "names no database",
            ),
            (
                "{ postgres = \"postgres://db.jp.example/x\", password_env = \"1X\" }",
                "not an environment variable",
            ),
            (
                "{ sqlite = \"regions/jp.sqlite\", password_env = \"X\" }",
                "password_env goes with",
            ),
            (
                "{ sqlite = \"a\", postgres = \"postgres://h/d\" }",
                "not both",
            ),
            ("{ }", "say where"),
        ] {
            let e = problem(&full.replace(jp, bad));
            assert!(
                e.contains("[regions.jp.store]") && e.contains(says),
                "{bad}: {e}"
            );
        }
        let e = problem(&full.replace("nats = [\"nats://127.0.0.1:4222\"]", "nats = []"));
        assert!(e.contains("[cluster.nats]"), "{e}");
        let e = problem(&full.replace("redis://127.0.0.1:6379", "127.0.0.1:6379"));
        assert!(e.contains("[cluster.redis]"), "{e}");
        let e = problem(&full.replace("name = \"tokyo\"", "name = \"Tokyo One\""));
        assert!(e.contains("[cluster.name]"), "{e}");
    }

    #[test]
    fn a_missing_password_names_its_variable() {
        let c = Regions::parse(&cluster_toml(), "c.toml").unwrap();
        let db = c.node_store.unwrap();
        std::env::remove_var("KIZUNA_NODE_DB_PASSWORD");
        let e = db.password().unwrap_err();
        assert!(e.contains("KIZUNA_NODE_DB_PASSWORD"), "{e}");
    }
}
