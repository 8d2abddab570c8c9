//! This device's one-time key packages on the server, and claiming other
//! devices' packages to add them to a group.

use kizuna_wire::{Bytes, ClaimRequest, ClaimResponse, KeyPackageStatus, KeyPackageUpload};
use openmls::prelude::KeyPackage;
use reqwest::Method;

use crate::local::Changes;
use crate::{mls, Client, Result, KEY_PACKAGE_TARGET};

impl Client {
    pub(crate) fn new_key_packages(&self, n: usize) -> Result<(Vec<Bytes>, Bytes)> {
        let cwk = mls::credential(&self.identity, &self.signer);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Bytes(mls::key_package(
                &self.provider,
                &self.signer,
                cwk.clone(),
                false,
            )?));
        }
        let lr = Bytes(mls::key_package(&self.provider, &self.signer, cwk, true)?);
        Ok((out, lr))
    }

    /// Tops up this device's key packages on the server (and, when `fresh`,
    /// publishes a last-resort one).
    pub(crate) async fn replenish_key_packages(&mut self, fresh: bool) -> Result<()> {
        let status: KeyPackageStatus = self
            .call::<(), _>(Method::GET, "/v1/devices/me/key-packages", None)
            .await?;
        let need = KEY_PACKAGE_TARGET.saturating_sub(status.remaining as usize);
        if need == 0 && status.has_last_resort && !fresh {
            return Ok(());
        }
        let (kps, lr) = self.new_key_packages(need)?;
        // The private halves are on disk before the public ones are published.
        self.save(Changes::default()).await?;
        let _: KeyPackageStatus = self
            .call(
                Method::POST,
                "/v1/devices/me/key-packages",
                Some(&KeyPackageUpload {
                    key_packages: kps,
                    last_resort: (fresh || !status.has_last_resort).then_some(lr),
                }),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn claim(&mut self, req: ClaimRequest) -> Result<Vec<(KeyPackage, String)>> {
        let resp: ClaimResponse = self
            .call(Method::POST, "/v1/key-packages/claim", Some(&req))
            .await?;
        // Only what was asked for: another person's keys passed off as the
        // ones asked for would pass their own log.
        if let Some(c) = resp
            .key_packages
            .iter()
            .find(|c| !req.handles.contains(&c.handle) && !req.devices.contains(&c.device_id))
        {
            return Err(crate::key_log::not_logged(format!(
                "asked for the keys of {:?}, the node handed over {}'s device {}",
                req.handles, c.handle, c.device_id
            )));
        }
        let claimed = resp
            .key_packages
            .into_iter()
            .map(|c| {
                let kp = mls::check_claimed(&self.provider, &c)?;
                Ok((kp, c))
            })
            .collect::<Result<Vec<_>>>()?;
        // Each key must be the one the key log binds to that device of the
        // account that holds the handle now.
        let keys: Vec<(String, String, Vec<u8>)> = claimed
            .iter()
            .map(|(kp, c)| {
                (
                    c.handle.clone(),
                    c.device_id.clone(),
                    kp.leaf_node().signature_key().as_slice().to_vec(),
                )
            })
            .collect();
        self.check_logged(&keys).await?;
        Ok(claimed
            .into_iter()
            .map(|(kp, c)| (kp, c.device_id))
            .collect())
    }
}
