//! Limits a node enforces, each with its own error, and the per-device
//! request rate limiter.

use std::collections::HashMap;
use std::sync::Mutex;
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

/// A token bucket per key (device id).
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter {
            per_sec,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the key has a token to take, without taking it: for a
    /// request that is charged only by how it turns out.
    pub fn has_token(&self, key: &str) -> bool {
        let now = Instant::now();
        let b = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        b.get(key).is_none_or(|(tokens, at)| {
            tokens + now.duration_since(*at).as_secs_f64() * self.per_sec >= 1.0
        })
    }

    /// Takes one token; false when the key is over its rate.
    pub fn allow(&self, key: &str) -> bool {
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
    #[test]
    fn bucket_refuses_past_burst() {
        let r = super::RateLimiter::new(0.001, 3.0);
        assert!(r.allow("d") && r.allow("d") && r.allow("d"));
        assert!(!r.allow("d"));
        assert!(r.allow("other"));
    }

    #[test]
    fn looking_at_a_bucket_takes_nothing() {
        let r = super::RateLimiter::new(0.001, 1.0);
        assert!(r.has_token("d") && r.has_token("d"));
        assert!(r.allow("d"));
        assert!(!r.has_token("d"));
    }
}
