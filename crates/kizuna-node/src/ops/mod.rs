//! The operator's work on a stopped node's data directory: administration
//! (region moves, key rotation, the first staff member) and the offline
//! audit of the transparency ledger.

pub mod admin;
pub mod audit;

/// Why an operator's command could not open or read the data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Open(#[from] crate::OpenError),
    #[error(transparent)]
    DataDir(#[from] kizuna_config::DataDirError),
    #[error("cannot open the store: {0}")]
    Store(#[from] kizuna_store::StoreError),
    #[error("cannot open the vault: {0}")]
    Vault(#[from] kizuna_vault::VaultError),
    #[error("cannot read the transparency ledger: {0}; `kizuna audit verify --data-dir DIR` names what is wrong")]
    Ledger(#[from] kizuna_ledger::LedgerError),
    #[error("cannot open the staff realm: {0}")]
    Staff(#[from] kizuna_staff::StaffError),
}

#[cfg(test)]
mod tests;
