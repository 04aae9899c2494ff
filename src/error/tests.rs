//! How errors read.

use super::*;

#[test]
fn matrix_error_displays_status_and_errcode() {
    let err = MatrixError {
        status: 403,
        errcode: ErrorCode::Forbidden,
        message: "Invalid username or password".into(),
        retry_after: None,
        soft_logout: false,
    };
    assert_eq!(
        err.to_string(),
        "[403 / M_FORBIDDEN] Invalid username or password"
    );
}

#[test]
fn error_codes_read_and_write_as_the_server_does() {
    assert_eq!(ErrorCode::from("M_UNKNOWN_TOKEN"), ErrorCode::UnknownToken);
    assert_eq!(ErrorCode::UnknownToken.to_string(), "M_UNKNOWN_TOKEN");
    let other = ErrorCode::from("ORG_EXAMPLE_CUSTOM");
    assert_eq!(other, ErrorCode::Other("ORG_EXAMPLE_CUSTOM".into()));
    assert_eq!(other.as_str(), "ORG_EXAMPLE_CUSTOM");
    for known in [
        "M_FORBIDDEN",
        "M_LIMIT_EXCEEDED",
        "M_USER_SUSPENDED",
        "M_UNKNOWN",
    ] {
        let code = ErrorCode::from(known);
        assert!(!matches!(code, ErrorCode::Other(_)), "{known}");
        assert_eq!(code.as_str(), known);
    }
}
