//! Limits a node enforces, each with its own error, and the token buckets
//! that rate-limit by key: in the node's memory, or, for the limits a
//! cluster must hold as one, in the Redis its nodes share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest application message, in bytes of MLS ciphertext.
    pub max_message_bytes: usize,
    /// Largest commit or Welcome (they grow with the group).
    pub max_handshake_bytes: usize,
    /// Most member devices in one group.
    pub max_group_devices: usize,
    /// Most one-time key packages a device may keep on the server.
    pub max_key_packages: u32,
    /// Below this many one-time key packages a device is told to upload more.
    pub low_key_packages: u32,
    /// Sustained requests per device per second, and the burst above it.
    pub requests_per_second: u32,
    pub request_burst: u32,
    /// Phone-number lookups per device, and per network address, per
    /// minute; a registration refused because its number is taken counts
    /// as a lookup from its address.
    pub phone_lookups_per_minute: u32,
    /// New accounts and device-link requests per network address per
    /// minute (the burst is the same number): nobody needs a token for
    /// either, so they are limited by where they come from.
    pub signups_per_minute: u32,
    pub token_ttl_secs: u64,
    /// Live WebSockets one device may hold at once: a device needs one
    /// (two while it reconnects); more is a device misbehaving.
    pub websockets_per_device: usize,
    /// In a cluster, how often a live connection re-reads its queue on its
    /// own: how late a message arrives whose wake-up NATS lost.
    pub cluster_reread: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_handshake_bytes: 4 * 1024 * 1024,
            max_group_devices: 1000,
            max_key_packages: 200,
            low_key_packages: 10,
            requests_per_second: 50,
            request_burst: 100,
            phone_lookups_per_minute: 5,
            signups_per_minute: 60,
            token_ttl_secs: 15 * 60,
            websockets_per_device: 4,
            cluster_reread: std::time::Duration::from_secs(2),
        }
    }
}

/// How long a node waits for the shared buckets before it counts on its own.
const SHARED_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Refills and takes from one bucket, atomically, by the Redis server's
/// clock, so nodes whose clocks differ still share one bucket. Answers 1
/// when a token is there (taken when ARGV[3] is 1), else 0.
const TAKE_SCRIPT: &str = r#"
local per_sec = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local take = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * per_sec)
local ok = 0
if tokens >= 1 then ok = 1 end
if take == 1 then
  if ok == 1 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_sec * 1000) + 1000)
end
return ok
"#;

#[derive(Debug, thiserror::Error)]
#[error("cannot reach the cluster's Redis at {place} (`[cluster] redis`), where the nodes count the limits they share: {reason}")]
pub struct RedisUnreachable {
    place: String,
    reason: String,
}

/// Token buckets the nodes of a cluster share in Redis (`[cluster] redis`):
/// a limit meant for a person or an address holds for the whole cluster,
/// not once per node.
pub struct SharedBuckets {
    conn: redis::aio::ConnectionManager,
    /// `kz:<cluster>:rl:`, so two clusters can share a Redis.
    prefix: String,
    script: redis::Script,
    /// Whether Redis is failing now, so an outage is logged once.
    failing: AtomicBool,
    place: String,
}

impl SharedBuckets {
    /// Connects to the Redis at `url` for the cluster `cluster`.
    pub async fn connect(url: &str, cluster: &str) -> Result<SharedBuckets, RedisUnreachable> {
        let unreachable = |e: redis::RedisError| RedisUnreachable {
            place: url.split('@').next_back().unwrap_or(url).to_string(),
            reason: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(unreachable)?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(unreachable)?;
        Ok(SharedBuckets {
            conn,
            prefix: format!("kz:{cluster}:rl:"),
            script: redis::Script::new(TAKE_SCRIPT),
            failing: AtomicBool::new(false),
            place: url.split('@').next_back().unwrap_or(url).to_string(),
        })
    }

    async fn take(
        &self,
        limit: &str,
        key: &str,
        per_sec: f64,
        burst: f64,
        take: bool,
    ) -> Result<bool, redis::RedisError> {
        let mut conn = self.conn.clone();
        let mut script = self.script.key(format!("{}{limit}:{key}", self.prefix));
        script.arg(per_sec).arg(burst).arg(i64::from(take));
        // A Redis that accepts but does not answer must not hold up sign-ups
        // and look-ups: past the wait, the node counts on its own.
        match tokio::time::timeout(SHARED_WAIT, script.invoke_async::<i64>(&mut conn)).await {
            Ok(r) => Ok(r? == 1),
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis did not answer in time",
            ))),
        }
    }

    /// Notes how the last call went; an outage and its end are logged once.
    fn went(&self, r: &Result<bool, redis::RedisError>) {
        match r {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(redis = %self.place, "shared rate limits are counted in Redis again");
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(redis = %self.place, error = %e, "Redis cannot be reached: each node counts the shared rate limits on its own until it can");
                }
            }
        }
    }
}

/// A token bucket per key (a device id, an address), in this node's memory
/// or, when given shared buckets, in the cluster's Redis, with this node's
/// own as the fallback while Redis cannot be reached.
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    shared: Option<(Arc<SharedBuckets>, &'static str)>,
}

impl RateLimiter {
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter {
            per_sec,
            burst,
            buckets: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts in `shared`, if given, under the limit's name `limit`.
    pub fn shared_in(mut self, shared: Option<Arc<SharedBuckets>>, limit: &'static str) -> Self {
        self.shared = shared.map(|s| (s, limit));
        self
    }

    /// Whether the key has a token to take, without taking it: for a
    /// request that is charged only by how it turns out.
    pub async fn has_token(&self, key: &str) -> bool {
        if let Some((shared, limit)) = &self.shared {
            let r = shared
                .take(limit, key, self.per_sec, self.burst, false)
                .await;
            shared.went(&r);
            if let Ok(ok) = r {
                return ok;
            }
        }
        self.has_local_token(key)
    }

    /// Takes one token; false when the key is over its rate.
    pub async fn allow(&self, key: &str) -> bool {
        if let Some((shared, limit)) = &self.shared {
            let r = shared
                .take(limit, key, self.per_sec, self.burst, true)
                .await;
            shared.went(&r);
            if let Ok(ok) = r {
                return ok;
            }
        }
        self.allow_local(key)
    }

    fn has_local_token(&self, key: &str) -> bool {
        let now = Instant::now();
        let b = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        b.get(key).is_none_or(|(tokens, at)| {
            tokens + now.duration_since(*at).as_secs_f64() * self.per_sec >= 1.0
        })
    }

    /// Takes one token from this node's own bucket for the key.
    pub fn allow_local(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut b = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        if b.len() > 100_000 {
            // Full buckets carry no information; dropping them bounds memory.
            let (per_sec, burst) = (self.per_sec, self.burst);
            b.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * per_sec < burst);
        }
        let e = b.entry(key.to_string()).or_insert((self.burst, now));
        e.0 = (e.0 + now.duration_since(e.1).as_secs_f64() * self.per_sec).min(self.burst);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{RateLimiter, SharedBuckets};

    #[tokio::test]
    async fn bucket_refuses_past_burst() {
        let r = RateLimiter::new(0.001, 3.0);
        assert!(r.allow("d").await && r.allow("d").await && r.allow("d").await);
        assert!(!r.allow("d").await);
        assert!(r.allow("other").await);
    }

    #[tokio::test]
    async fn looking_at_a_bucket_takes_nothing() {
        let r = RateLimiter::new(0.001, 1.0);
        assert!(r.has_token("d").await && r.has_token("d").await);
        assert!(r.allow("d").await);
        assert!(!r.has_token("d").await);
    }

    /// Two nodes' limiters on the Redis the tests are given
    /// (`KIZUNA_TEST_REDIS`, by default the local one): one bucket for both.
    #[tokio::test]
    async fn nodes_sharing_redis_share_one_bucket() {
        let url =
            std::env::var("KIZUNA_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let cluster = format!("t{:012x}", rand::random::<u64>() >> 16);
        let node = || async {
            let shared = SharedBuckets::connect(&url, &cluster).await.unwrap_or_else(|e| {
                panic!("this test needs Redis (set KIZUNA_TEST_REDIS, or run scripts/services-up): {e}")
            });
            RateLimiter::new(0.001, 3.0).shared_in(Some(Arc::new(shared)), "phone")
        };
        let (a, b) = (node().await, node().await);
        assert!(a.allow("probe").await && b.allow("probe").await);
        assert!(a.has_token("probe").await && b.has_token("probe").await);
        assert!(b.allow("probe").await);
        // Three taken between them: neither node has one left.
        assert!(!a.has_token("probe").await && !a.allow("probe").await);
        assert!(!b.allow("probe").await);
        // Other keys and other limits are buckets of their own.
        assert!(a.allow("other").await);
        let signups = RateLimiter::new(0.001, 1.0)
            .shared_in(a.shared.as_ref().map(|s| s.0.clone()), "signup");
        assert!(signups.allow("probe").await);
    }
}
