//! Passes over a whole region: counting and listing its people, and rotating
//! its key.

use crate::{Progress, Vault, VaultError};

/// What `rotate_key` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub new_version: u32,
    pub rewrapped: u64,
    pub retired_versions: Vec<u32>,
    /// Only staged: the new version is in the key file, and nothing is
    /// wrapped under it until every node holds it.
    pub staged: bool,
    /// Where the region's key is (the file to give every node).
    pub key_place: String,
}

impl Vault {
    /// How many people have their data in `region`.
    pub async fn count_in(&self, region: &str) -> Result<u64, VaultError> {
        Ok(self
            .maintained(region)?
            .store
            .key_versions()
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum())
    }

    /// People whose data is in `region`, after `after` in id order.
    pub async fn subjects_in(
        &self,
        region: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, VaultError> {
        Ok(self
            .maintained(region)?
            .store
            .subjects_after(after, limit)
            .await?
            .into_iter()
            .map(|k| k.subject_id)
            .collect())
    }

    /// Adds a new version to a region's key file and wraps nothing under it:
    /// the first step of a rotation in a cluster, whose every node must hold
    /// the new version before a record is wrapped under it. A version an
    /// earlier staging or rotation left is kept, not replaced.
    pub fn stage_key(&self, region: &str) -> Result<Rotation, VaultError> {
        let rv = self.maintained(region)?;
        let mut keys = rv.keys();
        if keys.versions.len() == 1 {
            let (current, _) = keys.current();
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut k);
            keys.versions.insert(current + 1, k);
            rv.place.write(region, &keys)?;
            // Not taken up here: this process wraps nothing under it until
            // the rotation's second step.
        }
        Ok(Rotation {
            new_version: keys.current().0,
            staged: true,
            key_place: rv.place.describe(),
            ..Default::default()
        })
    }

    /// Whether a rotation of `region` was begun and not finished: its key
    /// file holds more than one version.
    pub fn rotation_begun(&self, region: &str) -> Result<bool, VaultError> {
        let rv = self.maintained(region)?;
        let held = rv.keys().versions.len() > 1;
        // The file, not this process's copy: a staging is written to the
        // file alone.
        let staged = rv.place.read(region)?.is_some_and(|k| k.versions.len() > 1);
        Ok(held || staged)
    }

    /// Re-wraps every data key of a region under a new region key, then
    /// retires the old versions from the key file. Resumable: a rotation
    /// that was interrupted continues under the version it created.
    pub async fn rotate_key(
        &self,
        region: &str,
        progress: &dyn Progress,
    ) -> Result<Rotation, VaultError> {
        let rv = self.maintained(region)?;
        // What the file holds: a version staged since this vault opened is
        // the one to wrap under.
        if let Some(read) = rv.place.read(region)? {
            if read.versions.len() > rv.keys().versions.len() {
                rv.keys_with(read.current().0)?;
            }
        }
        let mut keys = rv.keys();
        let counts = rv.store.key_versions().await?;
        let (current, _) = keys.current();
        // Only start a new version if the newest one is already in use by
        // everyone (or nobody): otherwise an earlier rotation is unfinished.
        let unfinished = keys.versions.len() > 1;
        if !unfinished {
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut k);
            keys.versions.insert(current + 1, k);
            rv.place.write(region, &keys)?;
            *rv.keys.write().unwrap_or_else(|p| p.into_inner()) = keys.clone();
        }
        let (new_version, _) = keys.current();
        let todo: u64 = counts
            .iter()
            .filter(|(v, _)| *v != new_version)
            .map(|(_, n)| n)
            .sum();
        progress.total(todo);
        let mut after = String::new();
        let mut rewrapped = 0;
        loop {
            let page = rv.store.subjects_after(&after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.subject_id.clone();
            let mut batch = Vec::new();
            for w in page.iter().filter(|w| w.region_key_version != new_version) {
                let key = rv.unwrap_key(w)?;
                batch.push((
                    rv.wrap_with(&keys, &w.subject_id, w.data_key_version, &key)?,
                    w.wrapped.clone(),
                ));
            }
            let n = batch.len() as u64;
            rewrapped += rv.store.rewrap(&batch).await?;
            progress.advance(n);
        }
        // Every key is under the new version now; the old ones can go.
        let left = rv.store.key_versions().await?;
        let retired: Vec<u32> = keys
            .versions
            .keys()
            .copied()
            .filter(|v| *v != new_version && !left.iter().any(|(lv, _)| lv == v))
            .collect();
        if !retired.is_empty() {
            for v in &retired {
                keys.versions.remove(v);
            }
            rv.place.write(region, &keys)?;
            *rv.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        }
        Ok(Rotation {
            new_version,
            rewrapped,
            retired_versions: retired,
            staged: false,
            key_place: rv.place.describe(),
        })
    }
}
