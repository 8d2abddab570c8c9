//! A person's devices: listing them, revoking one, and linking a new one
//! (the new device asks with a code, a device already signed in approves).

use kizuna_store::{Device, PendingLink};
use kizuna_wire::{
    device_id_for_key, endorse_signing_input, link_signing_input, now_ms, Bytes, DeviceView,
    ErrorCode, KeyChange, LinkApprove, LinkApproved, LinkPending, LinkRequest, LinkStatus,
    PendingDevice,
};
use rand::RngCore;

use crate::accounts::random_id;
use crate::auth::{verify_signature, DeviceIdentity};
use crate::departures::Why;
use crate::error::NodeError;
use crate::key_log::LoggedDevice;
use crate::key_packages::{check_key_packages, MAX_UPLOAD};
use crate::node::Node;

/// How long a device-link request may wait for approval.
const LINK_TTL_MS: u64 = 10 * 60 * 1000;

/// What the store keeps of a link code: its hash, so that reading the store
/// does not let anyone approve a link.
fn code_hash(code: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(code.trim().to_ascii_uppercase().as_bytes()).to_vec()
}

/// Crockford-like base32 without the letters people confuse (I, O) or
/// digits that look like them (0, 1).
fn base32(b: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = String::new();
    for &x in b {
        bits = (bits << 8) | x as u32;
        n += 8;
        while n >= 5 {
            n -= 5;
            out.push(ALPHABET[((bits >> n) & 31) as usize] as char);
        }
    }
    out
}

impl Node {
    /// My devices: label, when each was linked, when it last signed in.
    pub async fn devices(&self, me: &DeviceIdentity) -> Result<Vec<DeviceView>, NodeError> {
        let list = self.store.device_activity(&me.account_id).await?;
        Ok(list
            .into_iter()
            .map(|(d, linked_at, last_seen)| DeviceView {
                this_device: d.device_id == me.device_id,
                device_id: d.device_id,
                label: d.label,
                linked_at,
                last_seen,
            })
            .collect())
    }

    /// Revokes one of my devices (a lost phone): it is proposed out of every
    /// group it is in, then its key packages, queue, tokens and open
    /// connections end.
    pub async fn revoke_device(&self, me: &DeviceIdentity, device: &str) -> Result<(), NodeError> {
        let mine = self
            .store
            .device(device)
            .await?
            .filter(|d| d.account_id == me.account_id)
            .ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::UnknownDevice,
                    format!("no device {device} on this account; `kizuna device list` shows them"),
                )
            })?;
        self.end_devices(&mine.handle, &[mine.device_id], Why::Revoked)
            .await
    }

    /// A new device asks to join an account; the code it is given is shown
    /// to the person, who approves it on a device already signed in.
    pub async fn request_link(&self, req: LinkRequest) -> Result<LinkPending, NodeError> {
        kizuna_wire::Checked::check(&req)?;
        let account = self
            .store
            .account_by_handle(&req.handle)
            .await?
            .ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::UnknownAccount,
                    format!("nobody has the handle '{}'", req.handle),
                )
            })?;
        let key = &req.device.signature_key.0;
        verify_signature(
            key,
            &link_signing_input(&req.handle, key),
            &req.device.signature.0,
        )
        .map_err(|_| {
            NodeError::invalid(
                ErrorCode::InvalidSignature,
                "the link request is not signed by the device key",
            )
        })?;
        if req.key_packages.is_empty() || req.key_packages.len() > MAX_UPLOAD {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                format!("a link request carries 1 to {MAX_UPLOAD} key packages"),
            ));
        }
        let device_id = device_id_for_key(key);
        check_key_packages(
            &account.handle,
            &device_id,
            key,
            &req.key_packages,
            Some(&req.last_resort),
        )?;
        if self.store.device(&device_id).await?.is_some() {
            return Err(NodeError::conflict(
                ErrorCode::BadRequest,
                "this device key is already registered",
            ));
        }
        let link_id = format!("{}{}", random_id(), random_id());
        let mut code_bytes = [0u8; 5];
        rand::thread_rng().fill_bytes(&mut code_bytes);
        let code = base32(&code_bytes);
        self.store
            .create_link(
                PendingLink {
                    link_id: link_id.clone(),
                    account_id: account.account_id,
                    signature_key: key.clone(),
                    label: req.device.label,
                    key_packages: req.key_packages.into_iter().map(|b| b.0).collect(),
                    last_resort: req.last_resort.0,
                    approved_device: None,
                    created_at: now_ms(),
                },
                code_hash(&code),
            )
            .await?;
        Ok(LinkPending { link_id, code })
    }

    /// Whether a link request was approved, asked by the new device.
    pub async fn link_status(&self, link: &str) -> Result<LinkStatus, NodeError> {
        let l = self
            .store
            .link(link)
            .await?
            .ok_or_else(|| NodeError::not_found(ErrorCode::NotFound, "no such link request"))?;
        Ok(LinkStatus {
            approved: l.approved_device.is_some(),
            account_id: l.approved_device.as_ref().map(|_| l.account_id.clone()),
            device_id: l.approved_device,
        })
    }

    /// The pending link request with `code` for my account.
    async fn pending_link(
        &self,
        me: &DeviceIdentity,
        code: &str,
    ) -> Result<PendingLink, NodeError> {
        let link = self
            .store
            .link_by_code(&code_hash(code))
            .await?
            .filter(|l| l.account_id == me.account_id && l.approved_device.is_none())
            .ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::NotFound,
                    "no pending link request with this code for your account",
                )
            })?;
        if now_ms().saturating_sub(link.created_at) > LINK_TTL_MS {
            return Err(NodeError::not_found(
                ErrorCode::NotFound,
                "this link code has expired; start again on the new device",
            ));
        }
        Ok(link)
    }

    /// Which device the link request with `code` is for, so a device of
    /// the account can vouch for its key when it approves.
    pub async fn inspect_link(
        &self,
        me: &DeviceIdentity,
        code: &str,
    ) -> Result<PendingDevice, NodeError> {
        let link = self.pending_link(me, code).await?;
        Ok(PendingDevice {
            device_id: device_id_for_key(&link.signature_key),
            signature_key: Bytes(link.signature_key),
            label: link.label,
        })
    }

    /// Approves, from a device of the account, the link request with
    /// `code`, with that device's endorsement of the new device's key.
    pub async fn approve_link(
        &self,
        me: &DeviceIdentity,
        req: &LinkApprove,
    ) -> Result<LinkApproved, NodeError> {
        let link = self.pending_link(me, &req.code).await?;
        let approver = self.store.device(&me.device_id).await?.ok_or_else(|| {
            NodeError::not_found(ErrorCode::UnknownDevice, "this device no longer exists")
        })?;
        verify_signature(
            &approver.signature_key,
            &endorse_signing_input(&me.account_id, &link.signature_key),
            &req.endorsement.0,
        )
        .map_err(|_| {
            NodeError::invalid(
                ErrorCode::InvalidSignature,
                "the endorsement is not this device's signature over the new device's key",
            )
        })?;
        let account = self.account_of(me).await?;
        let device_id = device_id_for_key(&link.signature_key);
        let logged = LoggedDevice {
            id: &device_id,
            key: &link.signature_key,
            endorsed_by: Some(&me.device_id),
            signature: Some(&req.endorsement.0),
        };
        // Logged before the device exists: its key is handed to no one
        // until the ledger holds it.
        self.log_key_change(
            KeyChange::DeviceAdded,
            &account.handle,
            &me.account_id,
            Some(logged),
        )
        .await?;
        let approved = self
            .store
            .approve_link(
                &link.link_id,
                Device {
                    device_id: device_id.clone(),
                    account_id: me.account_id.clone(),
                    handle: account.handle.clone(),
                    signature_key: link.signature_key.clone(),
                    label: link.label,
                },
            )
            .await;
        if let Err(e) = approved {
            // Approved meanwhile (a second approval, from this device or
            // another): it is there, as logged.
            if self.store.device(&device_id).await?.is_some() {
                return Ok(LinkApproved { device_id });
            }
            // The log says what became of it: the device never was.
            let logged = LoggedDevice {
                id: &device_id,
                key: &link.signature_key,
                endorsed_by: None,
                signature: None,
            };
            if let Err(undo) = self
                .log_key_change(
                    KeyChange::DeviceRemoved,
                    &account.handle,
                    &me.account_id,
                    Some(logged),
                )
                .await
            {
                tracing::warn!(error = %undo, "a link that failed stays logged as added");
            }
            return Err(e.into());
        }
        Ok(LinkApproved { device_id })
    }
}
