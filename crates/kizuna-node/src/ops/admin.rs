//! The operator's offline work on a node's data directory: moving people
//! between regions and rotating a region's key. Both are safe to repeat after
//! a crash midway, and both report progress.

use std::path::Path;
use std::sync::Arc;

use kizuna_config::{DataDir, DataDirLock, NodeKey, Regions};
use kizuna_store::{Store, StoreError};
use kizuna_vault::{Progress, Requester, Rotation, Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("nobody has the handle '{0}'")]
    UnknownHandle(String),
    #[error("unknown region '{region}'; the configuration has: {known}")]
    UnknownRegion { region: String, known: String },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    #[error("the person's agreement cannot be checked: {0}")]
    Agreement(String),
    #[error(transparent)]
    FileStore(#[from] crate::files::FileStoreError),
    /// A region whose files this node may not reach.
    #[error("{0}")]
    FilesOutOfReach(String),
    #[error("a file could not be moved: {0}")]
    Files(#[from] kizuna_files::FilesError),
}

/// A node's stores, opened for administration.
pub struct Admin {
    store: Arc<dyn Store>,
    vault: Vault,
    files: crate::files::FileStores,
    _lock: DataDirLock,
}

/// One person moved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Moved {
    pub handle: String,
    pub from: String,
    pub to: String,
    /// Regions a previous, interrupted move had left a copy in.
    pub cleaned: Vec<String>,
    /// The files the person sent, moved with them.
    pub files: u64,
    /// The person must agree to the new region's disclosures before any
    /// country abroad reaches their data again (a node abroad serves them
    /// only their rights until then).
    pub agreement_needed: bool,
}

impl Admin {
    pub async fn open(data_dir: &Path, regions: Regions) -> Result<Admin, super::OpsError> {
        let dir = DataDir::new(data_dir);
        let lock = dir.lock()?;
        let store = crate::stores::open_node_store(&dir, &regions).await?;
        let files =
            crate::files::FileStores::open(&dir, &regions).map_err(crate::OpenError::from)?;
        let vault = crate::open_vault(&dir, regions).await?;
        Ok(Admin {
            store,
            vault,
            files,
            _lock: lock,
        })
    }

    fn region(&self, id: &str) -> Result<(), AdminError> {
        match self.vault.config().region(id) {
            Some(_) => Ok(()),
            None => Err(AdminError::UnknownRegion {
                region: id.to_string(),
                known: self.vault.config().ids().join(", "),
            }),
        }
    }

    /// Moves one person's data to region `to`: copy, verify, switch their
    /// home, then remove the old copy. Run again after a crash, it finishes
    /// whichever step was left.
    pub async fn move_subject(&self, handle: &str, to: &str) -> Result<Moved, AdminError> {
        self.region(to)?;
        let account = self
            .store
            .account_by_handle(handle)
            .await?
            .ok_or_else(|| AdminError::UnknownHandle(handle.to_string()))?;
        self.relocate(&account, to).await
    }

    async fn relocate(
        &self,
        account: &kizuna_store::Account,
        to: &str,
    ) -> Result<Moved, AdminError> {
        let requester = Requester::Operator {
            command: format!("kizuna admin move-region --to {to}"),
        };
        let from = account.region.clone();
        if from != to {
            self.vault
                .copy_subject(&account.account_id, &from, to, &requester)
                .await?;
            self.store.set_region(&account.account_id, to).await?;
        }
        let mut cleaned = self.vault.remove_leftovers(&account.account_id, to).await?;
        // The region just moved from is not a leftover of an earlier run.
        cleaned.retain(|r| *r != from);
        let files = self.move_files(&account.account_id, to).await?;
        // An agreement is to one region's disclosures: the one the person
        // gave for their old home does not carry over, so it stops standing
        // by itself and they are asked again.
        let moved = kizuna_store::Account {
            region: to.to_string(),
            ..account.clone()
        };
        let agreement_needed =
            !crate::disclosures::stands(self.store.as_ref(), &self.vault, &moved)
                .await
                .map_err(|e| AdminError::Agreement(e.cause.unwrap_or(e.message)))?;
        Ok(Moved {
            handle: account.handle.clone(),
            from,
            to: to.to_string(),
            cleaned,
            files,
            agreement_needed,
        })
    }

    /// Moves the files a person sent to region `to`'s file store: each
    /// copied part by part and checked, then its record switched, then the
    /// old copy removed. Copies an interrupted move left behind anywhere
    /// else this node may reach are removed too.
    async fn move_files(&self, account_id: &str, to: &str) -> Result<u64, AdminError> {
        let target = self
            .files
            .of(to)
            .map_err(|e| AdminError::FilesOutOfReach(e.message))?;
        let mut moved = 0;
        for f in self.store.files_sent_by(account_id).await? {
            let id = kizuna_files::FileId::parse(&f.file_id)?;
            if f.region != to {
                let source = self
                    .files
                    .of(&f.region)
                    .map_err(|e| AdminError::FilesOutOfReach(e.message))?;
                for n in source.parts(&id).await? {
                    if let Some(bytes) = source.get_part(&id, n).await? {
                        target.put_part(&id, n, bytes).await?;
                    }
                }
                if target.parts(&id).await? != source.parts(&id).await? {
                    return Err(AdminError::Files(kizuna_files::FilesError::Backend {
                        store: target.describe(),
                        reason: format!("file {id} did not arrive whole; run the move again"),
                    }));
                }
                self.store.set_file_region(&f.file_id, to).await?;
                moved += 1;
            }
            for (region, store) in self.files.all() {
                if region != to {
                    store.delete(&id).await?;
                }
            }
        }
        Ok(moved)
    }

    /// Moves everyone whose data is in region `from` to region `to`.
    pub async fn move_all(
        &self,
        from: &str,
        to: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<Moved>, AdminError> {
        self.region(from)?;
        self.region(to)?;
        progress.total(self.vault.count_in(from).await?);
        let mut moved = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.vault.subjects_in(from, &after, 200).await?;
            let Some(last) = page.last() else { break };
            after = last.clone();
            for subject in page {
                match self.store.account_by_id(&subject).await? {
                    Some(account) => moved.push(self.relocate(&account, to).await?),
                    // Sealed data without an account: a registration that
                    // never completed. It has nowhere to go.
                    None => tracing::warn!(
                        region = from,
                        "sealed data without an account left in place"
                    ),
                }
                progress.advance(1);
            }
        }
        Ok(moved)
    }

    pub async fn rotate_key(
        &self,
        region: &str,
        progress: &dyn Progress,
    ) -> Result<Rotation, AdminError> {
        self.region(region)?;
        // In a cluster every node must hold the new version before anything
        // is wrapped under it: the first run only stages it in the key file
        // the operator then gives every node; the next run re-wraps.
        if self.vault.config().cluster.is_some() && !self.vault.rotation_begun(region)? {
            return Ok(self.vault.stage_key(region)?);
        }
        Ok(self.vault.rotate_key(region, progress).await?)
    }

    pub async fn close(self) {
        self.store.close().await;
        self.vault.close().await;
    }
}

/// Creates the staff realm's operator organisation and first admin. The
/// credentials are shown once. A node on its own must be stopped (this
/// takes its data directory); a cluster's shared staff store is reached
/// while its nodes serve, from a data directory of the operator's own
/// holding the cluster's keys. Run again after a crash, it makes the first
/// admin if none was made, and otherwise refuses, saying one exists.
pub async fn bootstrap_staff(
    data_dir: &Path,
    regions: &Regions,
    staff_id: &str,
    networks: Vec<String>,
) -> Result<kizuna_wire::staff::StaffCredentials, super::OpsError> {
    let dir = DataDir::new(data_dir);
    let _lock = dir.lock()?;
    let key = crate::stores::node_key(&dir, regions, NodeKey::StaffToken)?;
    let ledger = crate::stores::open_node_ledger(&dir, regions).await?;
    let at = crate::stores::staff_location(&dir, regions)?;
    let realm = kizuna_staff::StaffRealm::open(at, key, ledger).await?;
    let r = realm
        .bootstrap(
            staff_id,
            &regions.node_region().country,
            networks,
            regions.ids().iter().map(|r| r.to_string()).collect(),
        )
        .await;
    realm.close().await;
    Ok(r?)
}
