//! Codes that prove a phone number: guesses spent one by one, a new code
//! replacing the old, and nothing live after expiry or proof.

use std::sync::Arc;

use crate::{PhoneCode, RegionStore};

fn code(phone: &[u8], code: &[u8], expires_at: u64, tries: u32) -> PhoneCode {
    PhoneCode {
        phone_hash: phone.to_vec(),
        code_hash: code.to_vec(),
        expires_at,
        tries,
    }
}

pub(super) async fn a_code_allows_its_guesses_until_it_expires(store: Arc<dyn RegionStore>) {
    store
        .put_phone_code(code(b"phone-a", b"code-1", 10_000, 2), 1_000)
        .await
        .unwrap();
    let spend = |now| {
        let store = store.clone();
        async move { store.spend_phone_code_try(b"phone-a", now).await.unwrap() }
    };
    assert_eq!(spend(2_000).await.as_deref(), Some(&b"code-1"[..]));
    // Past its expiry it answers nothing, and the guess is not spent.
    assert_eq!(spend(10_000).await, None);
    assert_eq!(spend(3_000).await.as_deref(), Some(&b"code-1"[..]));
    assert_eq!(spend(3_000).await, None, "two guesses, then none");
    assert_eq!(
        store.spend_phone_code_try(b"phone-b", 3_000).await.unwrap(),
        None,
        "a number without a code"
    );
    // Guesses made at once each take their own.
    store
        .put_phone_code(code(b"phone-a", b"code-2", 10_000, 3), 1_000)
        .await
        .unwrap();
    let at_once: Vec<_> = (0..8).map(|_| tokio::spawn(spend(4_000))).collect();
    let mut spent = 0;
    for guess in at_once {
        spent += usize::from(guess.await.unwrap().is_some());
    }
    assert_eq!(spent, 3);
    store
        .put_phone_code(code(b"phone-a", b"code-3", 10_000, 3), 1_000)
        .await
        .unwrap();
    // Taking back a code that was replaced leaves the newer one.
    store
        .withdraw_phone_code(b"phone-a", b"code-2")
        .await
        .unwrap();
    assert_eq!(spend(4_000).await.as_deref(), Some(&b"code-3"[..]));
    store
        .withdraw_phone_code(b"phone-a", b"code-3")
        .await
        .unwrap();
    assert_eq!(spend(4_000).await, None, "a code taken back is gone");
    store
        .put_phone_code(code(b"phone-a", b"code-4", 10_000, 3), 1_000)
        .await
        .unwrap();
    store.drop_phone_code(b"phone-a").await.unwrap();
    assert_eq!(
        spend(4_000).await,
        None,
        "a code that proved its number is gone"
    );
}

pub(super) async fn a_new_code_replaces_the_old_and_sweeps_expired_ones(
    store: Arc<dyn RegionStore>,
) {
    store
        .put_phone_code(code(b"phone-a", b"old", 5_000, 1), 1_000)
        .await
        .unwrap();
    store
        .put_phone_code(code(b"phone-a", b"new", 9_000, 5), 2_000)
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            store
                .spend_phone_code_try(b"phone-a", 6_000)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"new"[..]),
            "the new code with its own guesses, and its own expiry"
        );
    }
    // Another number's code, put after phone-a's expired, sweeps it; a
    // later put of phone-a starts afresh.
    store
        .put_phone_code(code(b"phone-b", b"b", 20_000, 5), 9_500)
        .await
        .unwrap();
    assert_eq!(
        store.spend_phone_code_try(b"phone-a", 1_000).await.unwrap(),
        None,
        "an expired code is swept, even for a clock read earlier"
    );
}
