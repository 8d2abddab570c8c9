//! A staff member's client of the staff listener: login, organisations and
//! staff, grants, governed reads, moderation and breach scoping, under its
//! own session, kept apart from any device identity of the user realm.

use std::path::{Path, PathBuf};

use kizuna_wire::staff::*;
use reqwest::Method;

use crate::error::{ConsoleError, Result};
use crate::transport::Transport;

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    server: String,
    /// The authority trusted for the staff listener's certificate (PEM),
    /// when it is a private one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_cert: Option<String>,
    session: StaffSession,
}

/// A staff member's session with a node's staff listener. A clone shares
/// the session.
#[derive(Clone)]
pub struct StaffClient {
    transport: Transport,
    session: StaffSession,
}

fn session_file(home: &Path) -> PathBuf {
    home.join("staff-session.json")
}

/// Removes the session kept under `home`, if there is one.
pub fn forget(home: &Path) -> Result<()> {
    match std::fs::remove_file(session_file(home)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ConsoleError::Local {
            path: session_file(home),
            reason: format!("cannot remove the kept staff session: {e}"),
        }),
        _ => Ok(()),
    }
}

impl StaffClient {
    /// Logs in and keeps the session under `home` (readable by its owner
    /// only) for the commands that follow.
    pub async fn login(
        home: &Path,
        server: &str,
        ca_cert: Option<&str>,
        staff_id: &str,
        password: &str,
        totp: &str,
    ) -> Result<StaffClient> {
        let transport = Transport::new(server, ca_cert)?;
        let session: StaffSession = transport
            .call(
                Method::POST,
                "/staff/v1/login",
                None,
                Some(&StaffLogin {
                    staff_id: staff_id.to_string(),
                    password: password.to_string(),
                    totp: totp.to_string(),
                }),
            )
            .await?;
        let saved = Saved {
            server: transport.base.clone(),
            ca_cert: ca_cert.map(str::to_string),
            session: session.clone(),
        };
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(home)?;
            // The session token inside is a key to the staff realm: the
            // directory is its owner's alone, as a device home is.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(session_file(home))?;
            f.write_all(&serde_json::to_vec(&saved).unwrap_or_default())?;
            f.sync_all()
        };
        write().map_err(|e| ConsoleError::Local {
            path: session_file(home),
            reason: format!("cannot keep the staff session: {e}"),
        })?;
        Ok(StaffClient { transport, session })
    }

    /// The session a previous `login` kept under `home`.
    pub fn open(home: &Path) -> Result<StaffClient> {
        let path = session_file(home);
        let bytes = std::fs::read(&path).map_err(|_| {
            ConsoleError::Invalid(format!(
                "no staff session in {}; run `kizuna staff login` first",
                home.display()
            ))
        })?;
        let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| ConsoleError::Local {
            path,
            reason: format!("the staff session file is damaged: {e}"),
        })?;
        Ok(StaffClient {
            transport: Transport::new(&saved.server, saved.ca_cert.as_deref())?,
            session: saved.session,
        })
    }

    pub fn session(&self) -> &StaffSession {
        &self.session
    }

    /// The staff listener this session belongs to.
    pub fn server(&self) -> &str {
        &self.transport.base
    }

    async fn call<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R> {
        self.transport
            .call(method, path, Some(&self.session.token), body)
            .await
    }

    /// Ends the session on the node, then forgets the token kept under
    /// `home`. The token is forgotten even when the node cannot be told (it
    /// then lasts until it expires there), and the error says so.
    pub async fn logout(self, home: &Path) -> Result<LoggedOut> {
        let ended = self
            .call::<(), LoggedOut>(Method::POST, "/staff/v1/logout", None)
            .await;
        forget(home)?;
        ended
    }

    pub async fn me(&self) -> Result<serde_json::Value> {
        self.call::<(), _>(Method::GET, "/staff/v1/me", None).await
    }

    pub async fn orgs(&self) -> Result<Vec<Org>> {
        self.call::<(), _>(Method::GET, "/staff/v1/orgs", None)
            .await
    }

    pub async fn add_org(&self, org: &Org) -> Result<Org> {
        self.call(Method::POST, "/staff/v1/orgs", Some(org)).await
    }

    pub async fn suspend_org(&self, org_id: &str) -> Result<Suspended> {
        self.call::<(), _>(
            Method::POST,
            &format!("/staff/v1/orgs/{org_id}/suspend"),
            None,
        )
        .await
    }

    pub async fn members(&self) -> Result<Vec<StaffMember>> {
        self.call::<(), _>(Method::GET, "/staff/v1/members", None)
            .await
    }

    pub async fn add_member(&self, new: &NewStaffMember) -> Result<StaffCredentials> {
        self.call(Method::POST, "/staff/v1/members", Some(new))
            .await
    }

    pub async fn suspend_member(&self, staff_id: &str) -> Result<Suspended> {
        self.call::<(), _>(
            Method::POST,
            &format!("/staff/v1/members/{staff_id}/suspend"),
            None,
        )
        .await
    }

    pub async fn request_grant(&self, req: &GrantRequest) -> Result<Grant> {
        self.call(Method::POST, "/staff/v1/grants", Some(req)).await
    }

    /// `verb` is approve, deny or revoke.
    pub async fn decide_grant(&self, grant_id: &str, verb: &str) -> Result<Grant> {
        self.call::<(), _>(
            Method::POST,
            &format!("/staff/v1/grants/{grant_id}/{verb}"),
            None,
        )
        .await
    }

    /// Applications for official accounts, newest first.
    pub async fn official_applications(&self) -> Result<Vec<OfficialReview>> {
        self.call::<(), _>(Method::GET, "/staff/v1/official/applications", None)
            .await
    }

    /// Records the evidence checked for an application (the first person).
    pub async fn propose_official(
        &self,
        id: &str,
        req: &VerificationProposal,
    ) -> Result<OfficialReview> {
        self.call(
            Method::POST,
            &format!("/staff/v1/official/applications/{id}/propose"),
            Some(req),
        )
        .await
    }

    /// Approves an application someone else checked.
    pub async fn approve_official(&self, id: &str) -> Result<OfficialReview> {
        self.call::<(), _>(
            Method::POST,
            &format!("/staff/v1/official/applications/{id}/approve"),
            None,
        )
        .await
    }

    pub async fn reject_official(
        &self,
        id: &str,
        req: &VerificationDecision,
    ) -> Result<OfficialReview> {
        self.call(
            Method::POST,
            &format!("/staff/v1/official/applications/{id}/reject"),
            Some(req),
        )
        .await
    }

    /// Ends the badge of the official account `handle`.
    pub async fn revoke_official(
        &self,
        handle: &str,
        req: &VerificationDecision,
    ) -> Result<OfficialReview> {
        self.call(
            Method::POST,
            &format!("/staff/v1/official/accounts/{handle}/revoke"),
            Some(req),
        )
        .await
    }

    pub async fn grants(&self) -> Result<Vec<Grant>> {
        self.call::<(), _>(Method::GET, "/staff/v1/grants", None)
            .await
    }

    /// A person's data, as far as a live grant of mine covers it.
    pub async fn read(&self, handle: &str) -> Result<GovernedRead> {
        self.call::<(), _>(Method::GET, &format!("/staff/v1/people/{handle}"), None)
            .await
    }

    /// Everyone whose data was read under an organisation's or a staff
    /// member's credentials in a window, from the ledger.
    pub async fn breach_scope(&self, q: &BreachQuery) -> Result<BreachScope> {
        self.call(Method::POST, "/staff/v1/breach/scope", Some(q))
            .await
    }

    pub async fn reviews(&self) -> Result<Vec<Review>> {
        self.call::<(), _>(Method::GET, "/staff/v1/reviews", None)
            .await
    }

    pub async fn complete_review(&self, grant_id: &str, c: &ReviewCompletion) -> Result<Review> {
        self.call(
            Method::POST,
            &format!("/staff/v1/reviews/{grant_id}/complete"),
            Some(c),
        )
        .await
    }

    pub async fn alerts(&self) -> Result<Vec<serde_json::Value>> {
        self.call::<(), _>(Method::GET, "/staff/v1/alerts", None)
            .await
    }

    /// The abuse reports of the regions my live report grants cover:
    /// `state` is open (the default, with appealed ones), appealed,
    /// resolved or all.
    pub async fn reports(
        &self,
        state: Option<&str>,
    ) -> Result<Vec<kizuna_wire::reports::QueuedReport>> {
        let path = match state {
            Some(s) => format!("/staff/v1/reports?state={s}"),
            None => "/staff/v1/reports".into(),
        };
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// Opens one report (recorded for the reporter and the reported sender).
    pub async fn report(&self, report_id: &str) -> Result<kizuna_wire::reports::OpenedReport> {
        self.call::<(), _>(Method::GET, &format!("/staff/v1/reports/{report_id}"), None)
            .await
    }

    /// Opens the file message `seq` of a report carries and writes it to
    /// `out` (recorded like opening the report). The file appears at `out`
    /// only once all of it arrived and its SHA-256 is the one its sender
    /// committed to; answers its size.
    pub async fn save_report_file(&self, report_id: &str, seq: u64, out: &Path) -> Result<u64> {
        use sha2::Digest;
        use std::io::Write;
        let mut resp = self
            .transport
            .download(
                &format!("/staff/v1/reports/{report_id}/files/{seq}"),
                &self.session.token,
            )
            .await?;
        let expected = resp
            .headers()
            .get(kizuna_wire::CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                ConsoleError::Protocol("the file came without its Content-Digest".into())
            })?;
        let local = |reason: String| ConsoleError::Local {
            path: out.to_path_buf(),
            reason,
        };
        let partial = out.with_extension("part");
        let mut file = std::fs::File::create(&partial)
            .map_err(|e| local(format!("cannot write the file: {e}")))?;
        let mut hash = sha2::Sha256::new();
        let mut size = 0u64;
        let broken = |e: reqwest::Error| {
            ConsoleError::Protocol(format!(
                "the transfer broke off ({e}): the node found the file is not the one its message describes, or the connection dropped; nothing was kept"
            ))
        };
        let result = async {
            while let Some(chunk) = resp.chunk().await.map_err(broken)? {
                hash.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk)
                    .map_err(|e| local(format!("cannot write the file: {e}")))?;
            }
            if kizuna_wire::sha256_digest_header(&hash.finalize()) != expected {
                return Err(ConsoleError::Protocol(
                    "the file that arrived is not the one its message describes (SHA-256 differs); nothing was kept".into(),
                ));
            }
            file.sync_all()
                .map_err(|e| local(format!("cannot write the file: {e}")))?;
            std::fs::rename(&partial, out)
                .map_err(|e| local(format!("cannot write the file: {e}")))
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map(|_| size)
    }

    pub async fn resolve_report(
        &self,
        report_id: &str,
        req: &kizuna_wire::reports::ResolveRequest,
    ) -> Result<kizuna_wire::reports::OpenedReport> {
        self.call(
            Method::POST,
            &format!("/staff/v1/reports/{report_id}/resolve"),
            Some(req),
        )
        .await
    }

    pub async fn events(&self) -> Result<Vec<serde_json::Value>> {
        self.call::<(), _>(Method::GET, "/staff/v1/events", None)
            .await
    }
}
