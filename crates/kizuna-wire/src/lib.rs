//! The types a Kizuna client and server exchange over HTTP and WebSocket.
//!
//! Everything here is plain data with a stable JSON shape. Binary fields (MLS
//! messages, keys, signatures) travel as standard base64 strings.

mod accounts;
mod bytes;
mod consent;
mod delivery;
mod errors;
pub mod fields;
mod files;
mod key_log;
mod key_packages;
mod ledger;
mod me;
mod official;
pub mod reports;
pub mod staff;
mod time;

pub use accounts::*;
pub use bytes::*;
pub use consent::*;
pub use delivery::*;
pub use errors::*;
pub use fields::{Checked, FieldError};
pub use files::*;
pub use key_log::*;
pub use key_packages::*;
pub use ledger::*;
pub use me::*;
pub use official::*;
pub use time::*;

/// The user API's default port on loopback. Chosen away from the ports of the
/// databases and brokers a node usually runs beside (5432, 4222, 6379, 5672,
/// 1883, 3306).
pub const DEFAULT_USER_PORT: u16 = 7480;

/// The only ciphersuite Kizuna clients speak: X25519, AES-128-GCM, SHA-256,
/// Ed25519 (RFC 9420 ciphersuite 0x0001).
pub const CIPHERSUITE_NAME: &str = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_they_are_written() {
        for ms in [0u64, 951_782_400_000, 1_764_000_000_000, 4_107_542_399_000] {
            assert_eq!(parse_utc(&utc(ms)), Some(ms), "{}", utc(ms));
        }
        assert_eq!(
            parse_utc("2026-11-24T10:00:00Z"),
            parse_utc("2026-11-24 10:00:00 UTC")
        );
        assert_eq!(parse_utc("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_utc("1700000000000"), Some(1_700_000_000_000));
        for bad in ["", "yesterday", "2026-13-01", "2026-02-30T25:00:00Z"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_codes_are_snake_case() {
        assert_eq!(ErrorCode::StaleEpoch.to_string(), "stale_epoch");
        let j = serde_json::to_string(&ErrorBody {
            code: ErrorCode::MessageTooLarge,
            message: "x".into(),
        })
        .unwrap();
        assert!(j.contains("\"message_too_large\""));
    }

    #[test]
    fn bytes_round_trip_and_reject_bad_base64() {
        let b = Bytes(vec![0, 1, 2, 255]);
        let j = serde_json::to_string(&b).unwrap();
        let back: Bytes = serde_json::from_str(&j).unwrap();
        assert_eq!(b, back);
        assert!(serde_json::from_str::<Bytes>("\"!!!\"").is_err());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_539_139_097), "2026-11-24 16:52:19 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn handles() {
        assert!(valid_handle("alice"));
        assert!(!valid_handle("Al"));
        assert!(!valid_handle("a/b"));
        assert!(!valid_handle("1abc"));
    }
}
