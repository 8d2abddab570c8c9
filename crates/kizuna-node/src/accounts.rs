//! Accounts: registering one with its first device (personal data sealed in
//! the home region first, the account after, undone together), signing a
//! device in, and finding people by handle or phone number.

use kizuna_store::{Account, Device, NewAccount, StoreError};
use kizuna_vault::{Profile, Requester};
use kizuna_wire::{
    device_id_for_key, now_ms, register_signing_input, valid_handle, AccountView, ErrorCode,
    KeyChange, MeView, RegisterRequest, RegisterResponse, TokenResponse,
};
use rand::RngCore;

use crate::auth::{verify_signature, DeviceIdentity};
use crate::error::{Kind, NodeError};
use crate::key_log::LoggedDevice;
use crate::node::Node;

/// Far longer than a registration can take between sealing the profile and
/// creating the account (its HTTP request would have timed out long
/// before); sealed data older than this without an account was left by one
/// that never finished.
const REGISTRATION_WINDOW_MS: u64 = 10 * 60_000;

/// A fresh random id of 8 bytes, in hex.
pub(crate) fn random_id() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The key of a network address's phone look-ups, beside the devices' own
/// (device ids are hex, so the two never meet).
fn address_key(address: &str) -> String {
    format!("address {address}")
}

fn handle_taken() -> NodeError {
    NodeError::conflict(
        ErrorCode::HandleTaken,
        "this handle is taken; choose another",
    )
}

impl Node {
    /// Registers an account and its first device. Nothing is left behind
    /// when it fails: the sealed profile is written first and removed again
    /// if the account cannot be created.
    pub async fn register(&self, req: RegisterRequest) -> Result<RegisterResponse, NodeError> {
        // The edge checks this too; the node does not rely on every caller
        // having come through it.
        kizuna_wire::Checked::check(&req)?;
        if !valid_handle(&req.handle) {
            return Err(NodeError::invalid(
                ErrorCode::InvalidHandle,
                "a handle is 3-32 characters: lowercase letters, digits, '_' or '.', starting with a letter",
            ));
        }
        if self.vault.config().region(&req.region).is_none() {
            return Err(self.unknown_region(&req.region));
        }
        // Nothing is written for a person who has not agreed to what they
        // must be told first.
        let disclosures =
            self.check_registration_agreement(&req.region, req.agreed_disclosures.as_deref())?;
        let key = &req.device.signature_key.0;
        verify_signature(
            key,
            &register_signing_input(&req.handle, key),
            &req.device.signature.0,
        )
        .map_err(|_| {
            NodeError::invalid(
                ErrorCode::InvalidSignature,
                "the registration is not signed by the device key",
            )
        })?;
        if self.store.account_by_handle(&req.handle).await?.is_some() {
            return Err(handle_taken());
        }
        // Only the number's holder may take it: before anything is written.
        self.vault
            .prove_phone(&req.region, &req.phone, &req.phone_code)
            .await?;
        let (proven_region, proven_phone) = (req.region.clone(), req.phone.clone());
        let account_id = random_id();
        let device_id = device_id_for_key(key);
        let region = req.region.clone();
        // Personal data goes to the home region first; the account that
        // points at it is created after, and the region's copy is undone if
        // that fails.
        let profile = Profile {
            name: req.name,
            phone: req.phone,
            email: req.email,
        };
        let requester = Requester::Subject {
            device_id: device_id.clone(),
        };
        match self
            .vault
            .register(&account_id, &region, &profile, &requester)
            .await
        {
            Err(kizuna_vault::VaultError::PhoneTaken) if self.abandoned(&profile.phone).await? => {
                self.vault
                    .register(&account_id, &region, &profile, &requester)
                    .await?
            }
            r => r?,
        }
        // The agreement is sealed with the profile, before the account that
        // rests on it exists.
        if let Err(e) = self
            .record_first_agreement(&account_id, &disclosures, &requester, &device_id)
            .await
        {
            self.undo_registration(&account_id, &region).await;
            return Err(e);
        }
        let new = NewAccount {
            account: Account {
                account_id: account_id.clone(),
                handle: req.handle.clone(),
                region: req.region,
                created_at: now_ms(),
            },
            device: Device {
                device_id: device_id.clone(),
                account_id: account_id.clone(),
                handle: req.handle.clone(),
                signature_key: key.clone(),
                label: req.device.label,
            },
        };
        let (handle, device_key) = (req.handle, key.clone());
        let signature = req.device.signature.0;
        let created = self.store.create_account(new).await;
        if created.is_err() {
            self.undo_registration(&account_id, &region).await;
        }
        match created {
            Ok(()) => {}
            Err(StoreError::Conflict("handle")) => return Err(handle_taken()),
            Err(StoreError::Conflict(what)) => {
                return Err(NodeError::conflict(
                    ErrorCode::BadRequest,
                    format!("an account with this {what} already exists"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        // An account whose agreement could not be made to stand, or whose
        // binding the key log cannot take, is not left half-made: it goes,
        // with its sealed data. No one holds a token for it yet, and its
        // device has no key package to hand out, so it took no effect.
        let standing = match self.stand_agreement(&account_id, &disclosures).await {
            Ok(()) => {
                self.log_key_change(
                    KeyChange::Registered,
                    &handle,
                    &account_id,
                    Some(LoggedDevice {
                        id: &device_id,
                        key: &device_key,
                        endorsed_by: None,
                        signature: Some(&signature),
                    }),
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = standing {
            if let Err(e) = self.store.delete_account(&account_id).await {
                tracing::error!(error = %e, "a refused registration left its account behind");
            }
            self.undo_registration(&account_id, &region).await;
            return Err(e);
        }
        // The code proved its number once; the number is taken now.
        if let Err(e) = self
            .vault
            .end_phone_code(&proven_region, &proven_phone)
            .await
        {
            tracing::warn!(error = %e, "a phone code that proved its number could not be ended; it expires on its own");
        }
        tracing::info!(%device_id, "account registered");
        Ok(RegisterResponse {
            account_id,
            device_id,
        })
    }

    /// Registers from a network address, which answers `phone_taken` only
    /// within the address's allowance of phone look-ups: such an answer
    /// says the number is registered, as a look-up would, so it costs one,
    /// and an address that used its look-ups gets no answer at all about a
    /// number (refused before anything is checked) until its allowance
    /// refills. A registration that succeeds costs none: it takes the
    /// number, and is limited as a sign-up.
    pub async fn register_from(
        &self,
        req: RegisterRequest,
        address: &str,
    ) -> Result<RegisterResponse, NodeError> {
        let probes = address_key(address);
        if !self.phone_rate.has_token(&probes).await {
            return Err(self.phone_lookups_used());
        }
        let registered = self.register(req).await;
        if matches!(&registered, Err(e) if e.code == ErrorCode::PhoneTaken) {
            self.phone_rate.allow(&probes).await;
        }
        registered
    }

    fn phone_lookups_used(&self) -> NodeError {
        NodeError::new(
            Kind::RateLimited,
            ErrorCode::RateLimited,
            format!(
                "at most {} phone numbers may be looked up a minute from one device or network address, and registering with a number already taken counts as one; try again in a minute",
                self.limits.phone_lookups_per_minute
            ),
        )
    }

    pub(crate) fn unknown_region(&self, region: &str) -> NodeError {
        NodeError::invalid(
            ErrorCode::InvalidRegion,
            format!(
                "unknown region '{region}'; this service has: {}",
                self.vault.config().ids().join(", ")
            ),
        )
    }

    /// Removes the sealed data a registration that cannot finish wrote in
    /// the region.
    async fn undo_registration(&self, account_id: &str, region: &str) {
        if let Err(e) = self.vault.forget_unregistered(account_id, region).await {
            tracing::error!(error = %e, "a refused registration left sealed data in its region");
        }
    }

    /// Whether the phone number is held only by the sealed data of a
    /// registration that never finished; if so, that data is removed so the
    /// number can be registered again.
    async fn abandoned(&self, phone: &str) -> Result<bool, NodeError> {
        let Some((region, subject, created)) = self.vault.phone_owner(phone).await? else {
            return Ok(false);
        };
        if self.store.account_by_id(&subject).await?.is_some()
            || now_ms().saturating_sub(created) < REGISTRATION_WINDOW_MS
        {
            return Ok(false);
        }
        self.vault.forget_unregistered(&subject, &region).await?;
        tracing::info!(%region, "removed the sealed data of a registration that never finished");
        Ok(true)
    }

    /// Exchanges a challenge the device signed for a short-lived token.
    pub async fn sign_in(
        &self,
        device_id: &str,
        challenge: &str,
        signature: &[u8],
    ) -> Result<TokenResponse, NodeError> {
        let unauthorized =
            |m: String| NodeError::new(Kind::Unauthorized, ErrorCode::Unauthorized, m);
        let device = self.store.device(device_id).await?.ok_or_else(|| {
            NodeError::new(
                Kind::Unauthorized,
                ErrorCode::UnknownDevice,
                "no such device",
            )
        })?;
        let identity = DeviceIdentity {
            device_id: device.device_id,
            account_id: device.account_id,
        };
        let (token, expires_at) = self
            .auth
            .answer(&identity, &device.signature_key, challenge, signature)
            .map_err(|e| unauthorized(e.to_string()))?;
        self.store
            .touch_device(&identity.device_id, now_ms())
            .await?;
        Ok(TokenResponse { token, expires_at })
    }

    /// My account, with my personal fields opened in my home region.
    pub async fn me(&self, me: &DeviceIdentity) -> Result<MeView, NodeError> {
        let account = self.account_of(me).await?;
        let profile = self
            .vault
            .profile(&account.account_id, &account.region, &me.requester())
            .await?;
        let devices = self.store.devices_of(&me.account_id).await?;
        Ok(MeView {
            account_id: account.account_id,
            handle: account.handle,
            region: account.region,
            name: profile.name,
            phone: profile.phone,
            email: profile.email,
            devices: devices.into_iter().map(|d| d.device_id).collect(),
        })
    }

    /// An account's handle and device ids; nothing personal.
    pub async fn account(&self, handle: &str) -> Result<AccountView, NodeError> {
        let account = self.store.account_by_handle(handle).await?.ok_or_else(|| {
            NodeError::not_found(
                ErrorCode::UnknownAccount,
                format!("nobody has the handle '{handle}'"),
            )
        })?;
        let devices = self.store.devices_of(&account.account_id).await?;
        Ok(AccountView {
            handle: account.handle,
            devices: devices.into_iter().map(|d| d.device_id).collect(),
        })
    }

    /// The handle of whoever registered `phone`, within the per-minute
    /// allowance of look-ups of the device and of the network address it
    /// asks from (which registrations answered `phone_taken` share).
    pub async fn lookup_phone(
        &self,
        me: &DeviceIdentity,
        phone: &str,
        address: &str,
    ) -> Result<Option<String>, NodeError> {
        let probes = address_key(address);
        if !self.phone_rate.has_token(&probes).await || !self.phone_rate.allow(&me.device_id).await
        {
            return Err(self.phone_lookups_used());
        }
        self.phone_rate.allow(&probes).await;
        let account = match self.vault.lookup_phone(phone).await? {
            Some(subject) => self.store.account_by_id(&subject).await?,
            None => None,
        };
        Ok(account.map(|a| a.handle))
    }
}
