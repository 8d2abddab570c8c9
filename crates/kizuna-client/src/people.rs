//! Other people: finding a handle by phone number, an account's devices,
//! and whom I block.

use kizuna_wire::{AccountView, BlockList, PhoneLookupRequest, PhoneLookupResponse};
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    /// The handle registered with this phone number, if any.
    pub async fn lookup_phone(&mut self, phone: &str) -> Result<Option<String>> {
        let r: PhoneLookupResponse = self
            .call(
                Method::POST,
                "/v1/lookup/phone",
                Some(&PhoneLookupRequest {
                    phone: phone.to_string(),
                }),
            )
            .await?;
        Ok(r.handle)
    }

    /// The device ids of an account.
    pub async fn account(&mut self, handle: &str) -> Result<AccountView> {
        self.call::<(), _>(Method::GET, &format!("/v1/accounts/{handle}"), None)
            .await
    }

    /// Blocks `handle`: the node refuses their invitations and their
    /// messages in one-to-one chats with me. Returns whom I block now.
    pub async fn block(&mut self, handle: &str) -> Result<BlockList> {
        self.call::<(), _>(Method::PUT, &format!("/v1/me/blocks/{handle}"), None)
            .await
    }

    pub async fn unblock(&mut self, handle: &str) -> Result<BlockList> {
        self.call::<(), _>(Method::DELETE, &format!("/v1/me/blocks/{handle}"), None)
            .await
    }

    pub async fn blocked(&mut self) -> Result<BlockList> {
        self.call::<(), _>(Method::GET, "/v1/me/blocks", None).await
    }
}
