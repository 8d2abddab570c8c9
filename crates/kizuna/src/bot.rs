//! `kizuna bot`: an official account's daemon, run by its organisation
//! with the account's device home on its own machines.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use kizuna_bot::{secret_from, BotConfig, RunningBot, DEFAULT_BOT_PORT};

use crate::cli::Home;

#[derive(Args)]
pub struct BotArgs {
    #[command(flatten)]
    pub home: Home,
    /// The organisation's webhook: each follower, and each message a
    /// follower sends (an answer to a card, an erasure request), is POSTed
    /// there as JSON with `Authorization: Bearer SECRET`, in order per chat,
    /// until it answers 2xx.
    #[arg(long, env = "KIZUNA_BOT_WEBHOOK")]
    pub webhook: String,
    /// Where the daemon's own API listens: POST /v1/messages (a reply, a
    /// card, a form), POST /v1/notices (to a segment's followers), GET
    /// /v1/followers; each needs `Authorization: Bearer SECRET`.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_BOT_PORT)))]
    pub listen: SocketAddr,
    /// The file holding the secret both directions carry; made, for its
    /// owner only, when it does not exist (default: bot-secret in the home).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// Print where it listens as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: BotArgs) -> anyhow::Result<()> {
    let secret_file = a
        .secret_file
        .unwrap_or_else(|| a.home.home.join("bot-secret"));
    let secret = secret_from(&secret_file)?;
    let bot = RunningBot::start(BotConfig {
        home: a.home.home.clone(),
        webhook: a.webhook.clone(),
        listen: a.listen,
        secret,
    })
    .await?;
    if a.json {
        out!(
            "{}",
            serde_json::json!({
                "api": format!("http://{}", bot.addr),
                "webhook": a.webhook,
                "secret_file": secret_file,
            })
        );
    } else {
        out!(
            "the official account's daemon runs: its API at http://{}",
            bot.addr
        );
        out!(
            "  followers' messages go to {}; both sides carry the secret in {}",
            a.webhook,
            secret_file.display()
        );
    }
    crate::serve::shutdown_signal().await;
    bot.stop().await;
    Ok(())
}
