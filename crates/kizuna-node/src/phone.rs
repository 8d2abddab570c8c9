//! Proving a phone number: a one-time code, kept in the region the number
//! is to be registered in, sent through the sender the operator chose.
//!
//! A number is taken, and found by a look-up, only once its holder typed
//! the code back: nobody can register someone else's number and lock its
//! holder out with `phone_taken`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use kizuna_wire::{ErrorCode, PhoneCodeRequest, PhoneCodeSent};

use crate::error::{Kind, NodeError};
use crate::limits::RateLimiter;
use crate::node::Node;

/// Codes one number may be sent an hour. Each costs the operator a text
/// message and its holder an interruption; five covers a person retrying.
pub const CODES_PER_NUMBER_PER_HOUR: f64 = 5.0;

/// Why a code could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the phone outbox {dir}: {error}")]
    Outbox { dir: PathBuf, error: std::io::Error },
    #[error("the SMS gateway {url}: {reason}")]
    Gateway { url: String, reason: String },
}

/// Where a code goes to reach a phone.
#[async_trait]
pub trait CodeSender: Send + Sync + 'static {
    /// Sends `text` to the number `to` (in E.164 form).
    async fn send(&self, to: &str, text: &str) -> Result<(), SendError>;
    /// What it is, for the node's start-up line.
    fn describe(&self) -> String;
}

/// For development and tests: each number's latest message is a file of
/// the outbox directory, named by the number's digits. Nothing reaches a
/// phone, so the node warns when it starts with one.
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>) -> Outbox {
        Outbox { dir: dir.into() }
    }

    /// The file a number's latest message is in.
    pub fn message_file(dir: &Path, phone: &str) -> PathBuf {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        dir.join(format!("{digits}.txt"))
    }

    /// The code in a number's latest message, as a developer (or a test)
    /// reads it off the outbox.
    pub fn latest_code(dir: &Path, phone: &str) -> Option<String> {
        let text = std::fs::read_to_string(Outbox::message_file(dir, phone)).ok()?;
        let after = text.split_once(CODE_IS)?.1;
        let code: String = after.chars().take_while(char::is_ascii_digit).collect();
        (code.len() == 6).then_some(code)
    }
}

/// What comes just before the code in each message.
const CODE_IS: &str = "Your Kizuna code is ";

#[async_trait]
impl CodeSender for Outbox {
    async fn send(&self, to: &str, text: &str) -> Result<(), SendError> {
        let failed = |error| SendError::Outbox {
            dir: self.dir.clone(),
            error,
        };
        let (dir, text) = (self.dir.clone(), text.to_string());
        let file = Outbox::message_file(&dir, to);
        let partial = file.with_extension(format!("{}.partial", crate::accounts::random_id()));
        // The number and its code are the owner's alone to read, like the
        // rest of the data directory; written whole, then renamed, so a
        // reader never sees half a message.
        tokio::task::spawn_blocking(move || {
            kizuna_config::create_private_dir(&dir)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            std::io::Write::write_all(&mut opts.open(&partial)?, text.as_bytes())?;
            std::fs::rename(&partial, &file)
        })
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?
        .map_err(failed)
    }

    fn describe(&self) -> String {
        format!(
            "phone codes are written to {}, not sent to any phone: for real numbers, declare the SMS gateway in the region configuration ([phone_gateway])",
            self.dir.display()
        )
    }
}

/// An SMS gateway over HTTP: each code is a `POST` of `{"to", "text"}` as
/// JSON to its URL with the operator's token as a bearer credential; any
/// 2xx answer means the gateway took the message.
pub struct Gateway {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Gateway {
    /// The gateway the configuration declares, with its token read from
    /// its file under the data directory.
    pub fn configured(
        gateway: &kizuna_config::PhoneGateway,
        dir: &kizuna_config::DataDir,
    ) -> Result<Gateway, SendError> {
        let path = dir.resolve(&gateway.token_file);
        let token = std::fs::read_to_string(&path).map_err(|e| SendError::Gateway {
            url: gateway.url.clone(),
            reason: format!("cannot read its token from {}: {e}", path.display()),
        })?;
        if token.trim().is_empty() {
            return Err(SendError::Gateway {
                url: gateway.url.clone(),
                reason: format!("its token file {} is empty", path.display()),
            });
        }
        Gateway::new(&gateway.url, &token)
    }

    pub fn new(url: &str, token: &str) -> Result<Gateway, SendError> {
        let failed = |reason: String| SendError::Gateway {
            url: url.to_string(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| failed(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(failed("only http:// and https:// URLs are taken".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| failed(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(Gateway {
            url: url.to_string(),
            token: token.trim().to_string(),
            http,
        })
    }
}

#[async_trait]
impl CodeSender for Gateway {
    async fn send(&self, to: &str, text: &str) -> Result<(), SendError> {
        let failed = |reason: String| SendError::Gateway {
            url: self.url.clone(),
            reason,
        };
        let answer = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "to": to, "text": text }))
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(failed(format!("it answered {}", answer.status())))
        }
    }

    fn describe(&self) -> String {
        format!("phone codes are sent through the SMS gateway {}", self.url)
    }
}

/// The node's sender and the count of codes each number asked for.
pub struct PhoneCodes {
    pub sender: Arc<dyn CodeSender>,
    per_number: RateLimiter,
}

impl PhoneCodes {
    pub fn new(
        sender: Arc<dyn CodeSender>,
        shared: Option<Arc<crate::limits::SharedBuckets>>,
    ) -> Self {
        PhoneCodes {
            sender,
            per_number: RateLimiter::new(
                CODES_PER_NUMBER_PER_HOUR / 3600.0,
                CODES_PER_NUMBER_PER_HOUR,
            )
            .shared_in(shared, "phone-code"),
        }
    }
}

impl Node {
    /// Sends a one-time code to a number, to register with it in a region.
    /// The answer is the same whether or not the number is registered: a
    /// code tells only the number's holder anything.
    pub async fn send_phone_code(&self, req: PhoneCodeRequest) -> Result<PhoneCodeSent, NodeError> {
        kizuna_wire::Checked::check(&req)?;
        if self.vault.config().region(&req.region).is_none() {
            return Err(self.unknown_region(&req.region));
        }
        // The number goes nowhere (not even to the gateway the disclosures
        // name) before the person agreed to them, as with registering.
        self.check_registration_agreement(&req.region, req.agreed_disclosures.as_deref())?;
        // Counted under the node's own region's key whichever region is
        // asked for: a number is one person's in every region, so asking
        // for it in another region buys no more codes.
        let tag = self
            .vault
            .phone_tag(&self.vault.config().node_region().id, &req.phone)?;
        if !self.phone_codes.per_number.allow(&tag).await {
            return Err(NodeError::new(
                Kind::RateLimited,
                ErrorCode::RateLimited,
                format!(
                    "this number was sent {CODES_PER_NUMBER_PER_HOUR} codes in the last hour; use the latest one, or try again later"
                ),
            ));
        }
        let issued = self.vault.issue_phone_code(&req.region, &req.phone).await?;
        let text = format!(
            "{CODE_IS}{}. It works for {} minutes. Never give it to anyone: whoever has it can register your number.",
            issued.code,
            kizuna_vault::PHONE_CODE_TTL_MS / 60_000
        );
        if let Err(e) = self.phone_codes.sender.send(&issued.phone, &text).await {
            tracing::error!(error = %e, "a phone code could not be sent");
            // No code stays live that its number never received (a newer
            // one, sent meanwhile, stays).
            if let Err(e) = self.vault.withdraw_phone_code(&issued).await {
                tracing::warn!(error = %e, "a code that was not sent could not be ended; it expires on its own");
            }
            return Err(NodeError {
                cause: Some(e.to_string()),
                ..NodeError::new(
                    Kind::Unavailable,
                    ErrorCode::Unavailable,
                    "the code could not be sent to the phone right now; try again in a minute",
                )
            });
        }
        Ok(PhoneCodeSent {
            expires_at: issued.expires_at,
            tries: kizuna_vault::PHONE_CODE_TRIES,
        })
    }
}
