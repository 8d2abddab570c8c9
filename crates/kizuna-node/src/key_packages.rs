//! Key packages: each device uploads its own (checked against its key and
//! identity), and others claim one per device to add it to a group.

use kizuna_store::Device;
use kizuna_wire::{
    credential_identity, Bytes, ClaimRequest, ClaimResponse, ClaimedKeyPackage, ErrorCode,
    KeyPackageStatus, KeyPackageUpload,
};

use crate::auth::DeviceIdentity;
use crate::error::{Kind, NodeError};
use crate::framing;
use crate::node::Node;

/// Most one-time key packages in one upload or link request.
pub const MAX_UPLOAD: usize = 100;

/// Checks every key package of an upload against the device it is for.
pub(crate) fn check_key_packages(
    handle: &str,
    device_id: &str,
    device_key: &[u8],
    one_time: &[Bytes],
    last_resort: Option<&Bytes>,
) -> Result<(), NodeError> {
    let identity = credential_identity(handle, device_id);
    let check = |b: &Bytes, want_last_resort: bool| -> Result<(), NodeError> {
        let facts = framing::key_package(&b.0)
            .map_err(|e| NodeError::invalid(ErrorCode::InvalidMessage, e.to_string()))?;
        if facts.identity != identity.as_bytes() || facts.signature_key != device_key {
            return Err(NodeError::invalid(
                ErrorCode::InvalidMessage,
                format!("key packages must carry this device's key and the identity '{identity}'"),
            ));
        }
        if facts.last_resort != want_last_resort {
            return Err(NodeError::invalid(
                ErrorCode::InvalidMessage,
                "only the last-resort key package may carry the last-resort extension",
            ));
        }
        Ok(())
    };
    for kp in one_time {
        check(kp, false)?;
    }
    if let Some(lr) = last_resort {
        check(lr, true)?;
    }
    Ok(())
}

impl Node {
    /// How many key packages a device has left, and whether to upload more.
    pub async fn key_package_status(&self, device_id: &str) -> Result<KeyPackageStatus, NodeError> {
        let c = self.store.key_package_count(device_id).await?;
        Ok(KeyPackageStatus {
            remaining: c.one_time,
            has_last_resort: c.last_resort,
            low: c.one_time < self.limits.low_key_packages,
        })
    }

    /// Stores a device's own key packages, within what a device may keep.
    pub async fn upload_key_packages(
        &self,
        me: &DeviceIdentity,
        upload: KeyPackageUpload,
    ) -> Result<KeyPackageStatus, NodeError> {
        if upload.key_packages.len() > MAX_UPLOAD {
            return Err(NodeError::invalid(
                ErrorCode::TooManyKeyPackages,
                format!("at most {MAX_UPLOAD} key packages per upload"),
            ));
        }
        let device = self.store.device(&me.device_id).await?.ok_or_else(|| {
            NodeError::new(
                Kind::Unauthorized,
                ErrorCode::UnknownDevice,
                "this device no longer exists",
            )
        })?;
        check_key_packages(
            &device.handle,
            &device.device_id,
            &device.signature_key,
            &upload.key_packages,
            upload.last_resort.as_ref(),
        )?;
        let outcome = self
            .store
            .add_key_packages(
                &me.device_id,
                upload.key_packages.into_iter().map(|b| b.0).collect(),
                upload.last_resort.map(|b| b.0),
                self.limits.max_key_packages,
            )
            .await?;
        if let Err(have) = outcome {
            return Err(NodeError::invalid(
                ErrorCode::TooManyKeyPackages,
                format!(
                    "a device may keep at most {} key packages on the server; it has {have}",
                    self.limits.max_key_packages
                ),
            ));
        }
        self.key_package_status(&me.device_id).await
    }

    /// Claims one key package of each device of the named accounts and of
    /// each named device. Everything is resolved first, so an unknown name
    /// claims nothing.
    pub async fn claim_key_packages(
        &self,
        me: &DeviceIdentity,
        req: &ClaimRequest,
    ) -> Result<ClaimResponse, NodeError> {
        if req.handles.len() + req.devices.len() > self.limits.max_group_devices {
            return Err(NodeError::invalid(
                ErrorCode::GroupTooLarge,
                "too many accounts or devices in one claim",
            ));
        }
        let mut targets: Vec<Device> = Vec::new();
        for h in &req.handles {
            let a = self.store.account_by_handle(h).await?.ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::UnknownAccount,
                    format!("nobody has the handle '{h}'"),
                )
            })?;
            targets.extend(self.store.devices_of(&a.account_id).await?);
        }
        for d in &req.devices {
            let dev = self.store.device(d).await?.ok_or_else(|| {
                NodeError::not_found(ErrorCode::UnknownDevice, format!("no device '{d}'"))
            })?;
            if !targets.iter().any(|t| t.device_id == dev.device_id) {
                targets.push(dev);
            }
        }
        // Nobody who blocked the claimer is drawn into a chat with them, nor
        // has their key packages used up by them.
        let accounts: Vec<String> = targets.iter().map(|t| t.account_id.clone()).collect();
        self.check_reach(&me.account_id, &accounts).await?;
        let mut out = Vec::with_capacity(targets.len());
        for t in targets {
            let kp = self
                .store
                .claim_key_package(&t.device_id)
                .await?
                .ok_or_else(|| {
                    NodeError::not_found(
                        ErrorCode::NoKeyPackage,
                        format!(
                            "device {} of '{}' has no key package left; it must come online",
                            t.device_id, t.handle
                        ),
                    )
                })?;
            out.push(ClaimedKeyPackage {
                handle: t.handle,
                device_id: t.device_id,
                key_package: Bytes(kp),
            });
        }
        Ok(ClaimResponse { key_packages: out })
    }
}
