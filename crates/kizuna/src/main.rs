//! `kizuna`: one binary that wires the crates together — the server
//! (`serve`), the client (`register`, `chat`, `send`, `sync`, ...) and the
//! demo. It holds no logic of its own beyond argument parsing and printing:
//! the commands are defined in `cli`, and each is handled by its area's
//! module.

/// Prints a line to standard output. A reader that went away (`| head`)
/// ends the command quietly: what was printed had already been stored.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e)
        }
    }};
}

mod admin;
mod app;
mod audit;
mod bench;
mod bot;
mod chat;
mod cli;
mod consent;
mod demo;
mod device;
mod exit;
mod me;
mod messages;
mod official;
mod serve;
mod staff;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Standard output could not be written. A closed pipe is how a reader
/// such as `head` says it has read enough: end quietly.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if exit::wants_json() && e.use_stderr() => {
            let message = e.render().to_string().trim().to_string();
            println!("{}", exit::json_error("usage", &message));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if exit::wants_json() {
                println!(
                    "{}",
                    exit::json_error(&exit::error_code(&e), &format!("{e:#}"))
                );
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(exit::exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve::run(a).await,
        Command::Register(a) => device::register(a).await,
        Command::Me {
            home,
            what: Some(what),
            ..
        } => me::run(&home.home, what).await,
        Command::Admin(a) => admin::run(a).await,
        Command::Config(c) => admin::config(c).await,
        Command::Audit(a) => audit::run(a).await,
        Command::Staff(a) => staff::run(a).await,
        Command::Me { home, json, .. } => me::show(&home.home, json).await,
        Command::Lookup { home, phone, json } => chat::lookup(&home, &phone, json).await,
        Command::Chat(cmd) => chat::run(cmd).await,
        Command::Official(a) => official::run(a).await,
        Command::Bot(a) => bot::run(a).await,
        Command::Verify(a) => chat::verify(&a.home, &a.handle, a.confirm, a.json).await,
        Command::Block { home, handle, json } => {
            chat::blocks(&home, chat::BlockAction::Block(handle), json).await
        }
        Command::Unblock { home, handle, json } => {
            chat::blocks(&home, chat::BlockAction::Unblock(handle), json).await
        }
        Command::Blocked { home, json } => chat::blocks(&home, chat::BlockAction::List, json).await,
        Command::Send {
            home,
            chat,
            text,
            file,
            caption,
            keep_metadata,
            json,
        } => match file {
            Some(path) => {
                messages::send_file(&home, &chat, &path, caption.as_deref(), keep_metadata, json)
                    .await
            }
            None => messages::send(&home, &chat, text.as_deref().unwrap_or_default(), json).await,
        },
        Command::Save {
            home,
            chat,
            message,
            out,
            json,
        } => messages::save(&home, &chat, message, out.as_deref(), json).await,
        Command::Report {
            home,
            chat,
            message,
            reason,
            note,
            preceding,
            json,
        } => {
            messages::report(
                &home,
                &chat,
                message,
                reason,
                note.as_deref(),
                preceding,
                json,
            )
            .await
        }
        Command::Answer {
            home,
            chat,
            message,
            choice,
            fields,
            json,
        } => official::answer(&home, &chat, message, choice, fields, json).await,
        Command::Sync { home, json } => messages::sync(&home, json).await,
        Command::Watch { home, json } => messages::watch(&home, json).await,
        Command::App {
            home,
            open,
            port,
            json,
        } => app::run(&home.home, open, port, json).await,
        Command::Chats { home, json } => messages::chats(&home, json).await,
        Command::History { home, chat, json } => messages::history(&home, &chat, json).await,
        Command::Device(cmd) => device::run(cmd).await,
        Command::Demo { json } => demo::run(json).await,
        Command::Bench(a) => bench::run(a).await,
    }
}
