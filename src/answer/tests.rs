//! Reading answers: Matrix and OAuth 2.0 errors, retry hints, fields, excerpts.

use serde_json::json;

use super::*;

fn answer(status: u16, body: JsonValue) -> Answer {
    Answer {
        url: "https://hs.example/_matrix/client/v3/login".into(),
        status,
        content_type: Some("application/json".into()),
        retry_after: None,
        object: body.as_object().cloned().unwrap_or_default(),
    }
}

fn matrix(err: Error) -> MatrixError {
    match err {
        Error::Matrix(err) => err,
        other => panic!("not a Matrix error: {other:?}"),
    }
}

#[test]
fn the_retry_after_header_wins_over_the_body() {
    let body = json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many", "retry_after_ms": 1500});
    let err = matrix(matrix_error(answer(429, body.clone()), Some("7")));
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    let err = matrix(matrix_error(answer(429, body), None));
    assert_eq!(err.retry_after, Some(Duration::from_millis(1500)));
    let err = matrix(matrix_error(
        answer(429, json!({"errcode": "M_LIMIT_EXCEEDED"})),
        None,
    ));
    assert_eq!(err.retry_after, None);
}

#[test]
fn soft_logout_is_read() {
    let body = json!({"errcode": "M_UNKNOWN_TOKEN", "error": "expired", "soft_logout": true});
    let err = matrix(matrix_error(answer(401, body), None));
    assert!(err.soft_logout);
    assert_eq!(err.to_string(), "[401 / M_UNKNOWN_TOKEN] expired");
}

#[test]
fn an_error_without_errcode_is_unexpected() {
    match matrix_error(answer(500, json!({"message": "boom"})), None) {
        Error::UnexpectedResponse(err) => assert!(err.problem.contains("errcode")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oauth_errors_keep_their_code_and_description() {
    let body = json!({"error": "slow_down", "error_description": "Polling too fast"});
    match oauth_error(answer(400, body)) {
        Error::OAuth(err) => {
            assert_eq!(err.error, "slow_down");
            assert_eq!(err.to_string(), "[400 / slow_down] Polling too fast");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        oauth_error(answer(400, json!({"errcode": "M_UNKNOWN"}))),
        Error::UnexpectedResponse(_)
    ));
}

#[test]
fn fields_are_named_never_quoted() {
    let answer = answer(
        200,
        json!({"user_id": 5, "access_token": "syt_secret_value_1234"}),
    );
    let fields = Fields::new(&answer);
    let err = fields
        .string("user_id")
        .expect_err("not a string")
        .to_string();
    assert!(err.contains("the field `user_id` is not a string"), "{err}");
    let err = fields.string("device_id").expect_err("missing").to_string();
    assert!(err.contains("the field `device_id` is missing"), "{err}");
    assert!(!err.contains("syt_secret"));
}

#[test]
fn excerpt_prefers_the_html_title() {
    let page =
        b"<html><head><TITLE>502 Bad Gateway</TITLE></head><body><h1>nginx</h1></body></html>";
    assert_eq!(excerpt(page, &[]), "502 Bad Gateway");
}

#[test]
fn excerpt_is_short_folded_and_scrubbed() {
    let body = format!("oops\n\n  the password was hunter2 {}", "x".repeat(500));
    let out = excerpt(body.as_bytes(), &["hunter2"]);
    assert!(
        out.starts_with("oops the password was <redacted> x"),
        "{out}"
    );
    assert!(!out.contains("hunter2"));
    assert_eq!(out.chars().count(), EXCERPT_CHARS + 1);
}

#[test]
fn a_secret_cut_by_the_excerpt_limit_is_still_scrubbed() {
    let secret = "syt_secretsecretsecret";
    let body = format!("{}{secret}", "a".repeat(EXCERPT_CHARS - 5));
    let out = excerpt(body.as_bytes(), &[secret]);
    assert!(!out.contains("syt_s"), "{out}");
}

#[test]
fn a_challenge_reads_the_account_page_of_the_m_oauth_stage() {
    let body = |stage: &str, url: &str| {
        json!({
            "session": "s",
            "flows": [{"stages": [stage]}],
            "params": {stage: {"url": url}},
        })
    };
    let challenge = UiaChallenge::from_answer(&answer(
        401,
        body(
            "m.oauth",
            "https://auth.example/account/?action=org.matrix.cross_signing_reset",
        ),
    ))
    .expect("a challenge");
    assert_eq!(challenge.flows, vec![vec!["m.oauth".to_owned()]]);
    assert_eq!(
        challenge.account_url.as_deref(),
        Some("https://auth.example/account/?action=org.matrix.cross_signing_reset")
    );
    let unstable = UiaChallenge::from_answer(&answer(
        401,
        body(
            "org.matrix.cross_signing_reset",
            "https://auth.example/account/",
        ),
    ))
    .expect("a challenge");
    assert_eq!(
        unstable.account_url.as_deref(),
        Some("https://auth.example/account/")
    );
    // Only a web address is offered to open.
    let odd = UiaChallenge::from_answer(&answer(401, body("m.oauth", "javascript:alert(1)")))
        .expect("a challenge");
    assert_eq!(odd.account_url, None);
}
