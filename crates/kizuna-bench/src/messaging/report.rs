//! The messaging run's report: what the devices saw, what the node(s) used,
//! and what an acknowledgement meant.

use crate::governed;

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub devices: usize,
    pub group_size: usize,
    pub messages_sent: u64,
    pub send_errors: u64,
    /// The send errors by what the node answered (status and error code).
    pub send_refusals: std::collections::BTreeMap<String, u64>,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub offered_rate: f64,
    pub delivered_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// From scheduled send to the sender's acknowledgement (durable).
    pub send_p50_ms: f64,
    pub send_p99_ms: f64,
    pub server_peak_rss_kib: u64,
    pub idle_bytes_per_connection: f64,
    pub decrypted_sample: usize,
    pub decrypted_ok: usize,
    pub pinned: bool,
    /// Nodes the devices were spread over; more than one is a cluster on
    /// PostgreSQL and NATS.
    pub nodes: usize,
    pub durability: String,
    /// Where one node's sequencer spent its time, from its metrics.
    pub commits: Option<super::commits::CommitBreakdown>,
    /// The governed reads made beside the messages, if any were asked for.
    pub governed: Option<governed::GovernedReport>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "devices            {} in groups of {}",
            self.devices, self.group_size
        )?;
        writeln!(
            f,
            "offered            {:.0} messages/s ({:.0} deliveries/s)",
            self.offered_rate,
            self.offered_rate * (self.group_size as f64 - 1.0)
        )?;
        write!(
            f,
            "sent               {} (errors: {}",
            self.messages_sent, self.send_errors
        )?;
        for (i, (why, n)) in self.send_refusals.iter().enumerate() {
            write!(f, "{} {n} × {why}", if i == 0 { ":" } else { "," })?;
        }
        writeln!(f, ")")?;
        writeln!(
            f,
            "delivered          {} of {} expected",
            self.delivered, self.expected_deliveries
        )?;
        writeln!(
            f,
            "throughput         {:.0} delivered messages/s",
            self.delivered_per_sec
        )?;
        writeln!(
            f,
            "latency            p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms
        )?;
        writeln!(
            f,
            "sender answered    p50 {:.2} ms, p99 {:.2} ms ({})",
            self.send_p50_ms,
            self.send_p99_ms,
            if self.nodes > 1 {
                "message committed in PostgreSQL"
            } else {
                "message on disk"
            }
        )?;
        writeln!(
            f,
            "lost / dup / ooo   {} / {} / {}",
            self.lost, self.duplicated, self.out_of_order
        )?;
        if self.nodes > 1 {
            writeln!(f, "nodes              {} (PostgreSQL + NATS)", self.nodes)?;
            writeln!(
                f,
                "server peak RSS    {} KiB (sum over the {} nodes' peaks)",
                self.server_peak_rss_kib, self.nodes
            )?;
        } else {
            writeln!(f, "server peak RSS    {} KiB", self.server_peak_rss_kib)?;
        }
        writeln!(
            f,
            "idle connection    {:.1} KiB of server memory each{}",
            self.idle_bytes_per_connection / 1024.0,
            if self.nodes > 1 { " (all nodes)" } else { "" }
        )?;
        writeln!(
            f,
            "decrypted sample   {}/{} arrivals opened with the receivers' MLS state",
            self.decrypted_ok, self.decrypted_sample
        )?;
        writeln!(
            f,
            "cores              {}",
            if self.pinned {
                "server on core 0, load generator on core 1".to_string()
            } else if self.nodes > 1 {
                format!(
                    "not pinned: {} nodes, PostgreSQL, NATS and the load generator share {}",
                    self.nodes,
                    match std::thread::available_parallelism() {
                        Ok(n) => format!("{n} cores"),
                        Err(_) => "the machine's cores".into(),
                    }
                )
            } else {
                "not pinned".to_string()
            }
        )?;
        write!(f, "durability         {}", self.durability)?;
        if let Some(c) = &self.commits {
            write!(f, "\n{c}")?;
        }
        if let Some(g) = &self.governed {
            write!(f, "\n{g}")?;
        }
        Ok(())
    }
}
