//! An account's devices: linking a new one, approving it from an existing
//! one (which adds it to every chat), listing and revoking them.

use std::path::Path;

use kizuna_wire::{
    device_id_for_key, endorse_signing_input, link_signing_input, Bytes, ClaimRequest, DeviceView,
    LinkApprove, LinkApproved, LinkCode, LinkPending, LinkRequest, LinkStatus, NewDevice,
    PendingDevice,
};
use reqwest::Method;

use crate::local::{Changes, Local};
use crate::transport::Transport;
use crate::{
    mls, Client, ClientError, Identity, MembershipChange, Result, Standing, KEY_PACKAGE_TARGET,
};

impl Client {
    /// Asks to add this new device to the account `handle`, shows the code to
    /// type on an existing device, and waits until it is approved there.
    pub async fn link_device(
        home: &Path,
        server: impl Into<crate::ServerAddress>,
        handle: &str,
        label: &str,
        mut on_code: impl FnMut(&str),
        timeout: std::time::Duration,
    ) -> Result<Client> {
        let local = Local::open(home).await?;
        if local.meta("device_id").await?.is_some() {
            return Err(ClientError::AlreadyRegistered(home.to_path_buf()));
        }
        let server = server.into();
        let transport = Transport::new(&server)?;
        let signer = mls::new_signer()?;
        let key = signer.public().to_vec();
        let device_id = device_id_for_key(&key);
        let identity = Identity {
            server: transport.servers(),
            handle: handle.to_string(),
            account_id: String::new(),
            device_id: device_id.clone(),
        };
        let mut client = Client::assemble(home, local, transport, signer, identity);
        let _g = client.begin().await?;
        let (kps, last_resort) = client.new_key_packages(KEY_PACKAGE_TARGET)?;
        client.save(Changes::default()).await?;
        let signature = mls::sign(&client.signer, &link_signing_input(handle, &key))?;
        let pending: LinkPending = client
            .transport
            .call(
                Method::POST,
                "/v1/links",
                None,
                Some(&LinkRequest {
                    handle: handle.to_string(),
                    device: NewDevice {
                        signature_key: Bytes(key),
                        label: label.to_string(),
                        signature: Bytes(signature),
                    },
                    key_packages: kps,
                    last_resort,
                }),
            )
            .await?;
        on_code(&pending.code);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let st: LinkStatus = client
                .transport
                .call::<(), _>(
                    Method::GET,
                    &format!("/v1/links/{}", pending.link_id),
                    None,
                    None,
                )
                .await?;
            if let (true, Some(account_id)) = (st.approved, st.account_id) {
                client.identity.account_id = account_id;
                Self::save_identity(&client.local, &client.identity, &client.signer, &server)
                    .await?;
                return Ok(client);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Invalid(format!(
                    "code {} was not approved in time; run the command again",
                    pending.code
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// Approves a new device of this account (its code from `device link`)
    /// and adds it to every chat this device is in and accepted. Returns the new
    /// device's id and what changed in each chat.
    pub async fn approve_device(&mut self, code: &str) -> Result<(String, Vec<MembershipChange>)> {
        let _g = self.begin().await?;
        let token = self.token().await?;
        let pending: PendingDevice = self
            .transport
            .call(
                Method::POST,
                "/v1/links/inspect",
                Some(&token),
                Some(&LinkCode {
                    code: code.to_string(),
                }),
            )
            .await?;
        // This device vouches for the new one's key in the key log, which
        // is how every device tells it from one the node added.
        let endorsement = mls::sign(
            &self.signer,
            &endorse_signing_input(&self.identity.account_id, &pending.signature_key.0),
        )?;
        let approved: LinkApproved = self
            .transport
            .call(
                Method::POST,
                "/v1/links/approve",
                Some(&token),
                Some(&LinkApprove {
                    code: code.to_string(),
                    endorsement: Bytes(endorsement),
                }),
            )
            .await?;
        self.catch_up().await?;
        // Not the chat requests: the new device, added by its own account,
        // would take them for chats this person accepted.
        let standings = self.local.standings().await?;
        let chats: Vec<String> = self
            .local
            .chat_ids()
            .await?
            .into_iter()
            .filter(|c| c.2 && standings.get(&c.0).is_none_or(|s| *s == Standing::Accepted))
            .map(|c| c.0)
            .collect();
        let mut changes = Vec::new();
        for chat in chats {
            let claimed = self
                .claim(ClaimRequest {
                    handles: vec![],
                    devices: vec![approved.device_id.clone()],
                })
                .await?;
            match self.commit_change(&chat, mls::Change::Add(claimed)).await {
                Ok(Some(done)) => {
                    changes.push(MembershipChange::of(&chat, &self.identity.handle, done));
                    self.tell_newcomers_the_name(&chat).await?;
                }
                // Already there, or this device is no longer in the chat.
                Ok(None) | Err(ClientError::NotInChat(_) | ClientError::UnknownChat(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((approved.device_id, changes))
    }

    /// My devices: label, when each was linked, when it last signed in.
    pub async fn devices(&mut self) -> Result<Vec<DeviceView>> {
        self.call::<(), _>(Method::GET, "/v1/devices", None).await
    }

    /// Revokes one of my devices (a lost phone): it is taken out of every
    /// chat, and its tokens and connections end at once.
    pub async fn revoke_device(&mut self, device_id: &str) -> Result<()> {
        self.call_raw::<()>(Method::DELETE, &format!("/v1/devices/{device_id}"), None)
            .await?;
        Ok(())
    }
}
