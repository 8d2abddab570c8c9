use super::*;
use crate::*;

#[test]
fn handles_are_ascii_and_start_with_a_letter() {
    assert!(HANDLE.check("alice.k_2").is_ok());
    for bad in [
        "al",
        "1abc",
        "Alice",
        "ali\u{200F}ce",
        "ali\0ce",
        &"a".repeat(33),
    ] {
        assert_eq!(
            HANDLE.check(bad).unwrap_err().code,
            ErrorCode::InvalidHandle,
            "{bad:?}"
        );
    }
}

#[test]
fn lines_refuse_control_and_reordering_characters() {
    assert!(NAME.check("Ōta Kenji").is_ok());
    assert!(NAME.check("سارا").is_ok());
    for bad in ["a\0b", "a\nb", "a\u{202E}b", "a\u{2067}b", "a\u{85}b", ""] {
        assert!(NAME.check(bad).is_err(), "{bad:?}");
    }
    let e = DEVICE_LABEL.check(&"x".repeat(65)).unwrap_err();
    assert_eq!(e.problem, Problem::TooLong { max: 64, chars: 65 });
    assert!(e.to_string().contains("at most 64"), "{e}");
}

#[test]
fn free_text_keeps_line_breaks_only() {
    assert!(APPEAL_NOTE.check("first line\nsecond\ttabbed\r\n").is_ok());
    assert!(APPEAL_NOTE.check("a\0b").is_err());
    assert!(APPEAL_NOTE.check("a\u{1b}[31m").is_err());
    assert!(REPORT_NOTE.check("").is_ok());
    assert!(APPEAL_NOTE.check("").is_err());
}

#[test]
fn email_has_no_line_breaks_and_one_at() {
    assert!(EMAIL.check("kenji@example.jp").is_ok());
    for bad in [
        "kenji@example.jp\r\nBcc: x@y.z",
        "kenji@example.jp\n",
        "ken ji@example.jp",
        "a@b@c.jp",
        "kenji@.jp",
        "kenji",
    ] {
        assert_eq!(
            EMAIL.check(bad).unwrap_err().code,
            ErrorCode::InvalidEmail,
            "{bad:?}"
        );
    }
}

#[test]
fn phones_are_international() {
    assert!(PHONE.check("+81 90-1234-5678").is_ok());
    assert!(PHONE.check("090-1234-5678").is_err());
    assert!(PHONE.check("+81+90").is_err());
    assert!(PHONE.check("+8190").is_err());
    assert!(PHONE.check("+1234567890123456").is_err());
}

#[test]
fn stored_numbers_stop_at_the_largest_signed_64_bit_integer() {
    assert_eq!(check_stored("up_to", MAX_STORED), Ok(MAX_STORED));
    assert!(check_stored("up_to", MAX_STORED + 1).is_err());
    assert!(check_stored("up_to", u64::MAX).is_err());
}
