//! The Nushell errors built from library errors: message, where the label points, help, code.

use std::time::Duration;

use nu_protocol::{LabeledError, Span};

use super::*;
use crate::login::{IdentityProvider, LoginFlow};

const HEAD: Span = Span { start: 0, end: 12 };
const HOMESERVER: Span = Span { start: 20, end: 40 };
const USER: Span = Span { start: 13, end: 19 };

fn blame(guessed: bool) -> Blame {
    Blame {
        head: HEAD,
        homeserver: HOMESERVER,
        homeserver_guessed: guessed,
        user: USER,
        user_text: "@bot:example.org".into(),
    }
}

fn matrix_error(status: u16, code: &str, retry_after: Option<Duration>) -> MatrixError {
    MatrixError {
        status,
        errcode: ErrorCode::from(code),
        message: "said the server".into(),
        retry_after,
        soft_logout: false,
    }
}

/// The one label's text and span.
fn label(err: &LabeledError) -> (&str, Span) {
    assert_eq!(err.labels.len(), 1, "{err:?}");
    (&err.labels[0].text, err.labels[0].span)
}

fn help(err: &LabeledError) -> &str {
    err.help.as_deref().unwrap_or_default()
}

#[test]
fn a_refused_login_points_at_the_user_and_names_the_code() {
    let err = login(
        Error::Matrix(matrix_error(403, "M_FORBIDDEN", None)),
        &blame(false),
    );
    assert_eq!(err.msg, "Login refused for @bot:example.org");
    assert_eq!(label(&err), ("wrong password or unknown user", USER));
    assert!(
        help(&err).contains("[403 / M_FORBIDDEN] said the server"),
        "{err:?}"
    );
    assert_eq!(err.code.as_deref(), Some("matrix::M_FORBIDDEN"));
}

#[test]
fn an_unknown_login_type_points_at_the_homeserver() {
    let err = login(
        Error::Matrix(matrix_error(404, "M_UNRECOGNIZED", None)),
        &blame(false),
    );
    assert_eq!(err.msg, "This homeserver offers no password login");
    assert_eq!(label(&err).1, HOMESERVER);
    assert!(help(&err).contains("OAuth 2.0"), "{err:?}");
}

#[test]
fn an_unknown_code_keeps_the_server_text() {
    let err = login(
        Error::Matrix(matrix_error(400, "ORG_EXAMPLE_NEW", None)),
        &blame(false),
    );
    assert_eq!(label(&err), ("ORG_EXAMPLE_NEW", USER));
    assert_eq!(err.code.as_deref(), Some("matrix::ORG_EXAMPLE_NEW"));
}

#[test]
fn a_rate_limit_says_how_long_to_wait() {
    let limited = matrix_error(429, "M_LIMIT_EXCEEDED", Some(Duration::from_millis(6500)));
    let err = request(Error::Matrix(limited), &blame(false));
    assert_eq!(label(&err), ("429 M_LIMIT_EXCEEDED", HEAD));
    assert_eq!(help(&err), "rate-limited: wait 6 s and try again");
}

#[test]
fn expired_and_revoked_tokens_say_different_things() {
    let mut expired = matrix_error(401, "M_UNKNOWN_TOKEN", None);
    expired.soft_logout = true;
    let err = token(Error::Matrix(expired), &blame(false));
    assert_eq!(err.msg, "The token of @bot:example.org has expired");
    assert!(help(&err).contains("matrix refresh"), "{err:?}");
    let err = token(
        Error::Matrix(matrix_error(401, "M_UNKNOWN_TOKEN", None)),
        &blame(false),
    );
    assert_eq!(err.msg, "The token of @bot:example.org is no longer valid");
    assert_eq!(label(&err), ("logged out or revoked", USER));
}

#[test]
fn certificate_failures_are_told_apart_by_kind() {
    let failure = |kind| {
        request(
            Error::Transport(TransportError {
                url: "https://hs.example/_matrix/client/v3/login".into(),
                kind,
                detail: "whatever the TLS library said".into(),
            }),
            &blame(false),
        )
    };
    let err = failure(TransportKind::CertificateUntrusted);
    assert_eq!(
        err.msg,
        "Could not reach the homeserver at https://hs.example"
    );
    assert_eq!(label(&err), ("certificate not trusted", HOMESERVER));
    assert!(help(&err).contains("ca_file"), "{err:?}");
    let err = failure(TransportKind::CertificateForAnotherHost);
    assert_eq!(label(&err).0, "certificate for another host name");
    let err = failure(TransportKind::Tls);
    assert!(
        help(&err).contains("whatever the TLS library said"),
        "{err:?}"
    );
}

#[test]
fn a_guessed_homeserver_says_how_to_name_another() {
    let refused = || {
        Error::Transport(TransportError {
            url: "https://example.org/_matrix/client/v3/login".into(),
            kind: TransportKind::ConnectionRefused,
            detail: String::new(),
        })
    };
    assert!(help(&request(refused(), &blame(true))).contains("pass --homeserver"));
    assert!(!help(&request(refused(), &blame(false))).contains("pass --homeserver"));
}

#[test]
fn a_redirect_names_where_it_pointed() {
    let err = request(
        Error::Redirect {
            url: "http://hs.example/_matrix/client/v3/login".into(),
            status: 301,
            location: Some("https://hs.example/_matrix/client/v3/login".into()),
        },
        &blame(false),
    );
    assert_eq!(
        err.msg,
        "The homeserver answered with a redirect (HTTP 301)"
    );
    assert!(
        label(&err)
            .0
            .ends_with("redirects to https://hs.example/_matrix/client/v3/login")
    );
    assert_eq!(label(&err).1, HOMESERVER);
}

#[test]
fn discovery_failures_follow_the_spec_outcomes() {
    let failed = |outcome| {
        request(
            Error::Discovery(DiscoveryError {
                outcome,
                server_name: "example.org".into(),
                url: "https://example.org/.well-known/matrix/client".into(),
                problem: "connection refused".into(),
                transport: Some(TransportKind::ConnectionRefused),
            }),
            &blame(true),
        )
    };
    let err = failed(Outcome::FailPrompt);
    assert_eq!(err.msg, "Could not find the homeserver of example.org");
    assert_eq!(
        label(&err),
        ("discovery found nothing: connection refused", HOMESERVER)
    );
    let err = failed(Outcome::FailError);
    assert!(err.msg.contains("delegates to a broken homeserver address"));
}

#[test]
fn the_m_oauth_stage_sends_to_the_account_page() {
    let err = request(
        Error::AuthRequired {
            flows: vec![vec!["m.oauth".to_owned()]],
            account_url: Some("https://auth.example.org/account/?action=x".to_owned()),
        },
        &blame(false),
    );
    assert!(
        err.msg.contains("approve this on its account page"),
        "{err:?}"
    );
    // No graphical session in the tests: the page is named, not opened.
    assert!(
        help(&err).contains("open https://auth.example.org/account/?action=x, approve there"),
        "{err:?}"
    );
}

#[test]
fn authentication_asks_for_a_password_only_when_one_would_do() {
    let needs = |flows: &[&[&str]]| {
        let flows = flows
            .iter()
            .map(|flow| flow.iter().map(|stage| (*stage).to_owned()).collect())
            .collect();
        request(
            Error::AuthRequired {
                flows,
                account_url: None,
            },
            &blame(false),
        )
    };
    let err = needs(&[&["m.login.password"]]);
    assert!(help(&err).starts_with("give the password"), "{err:?}");
    let err = needs(&[&["m.login.password", "m.login.recaptcha"], &["m.oauth"]]);
    assert!(
        help(&err).contains("it offers: m.login.password + m.login.recaptcha, m.oauth"),
        "{err:?}"
    );
}

#[test]
fn no_password_login_lists_what_the_server_offers() {
    let flows = vec![LoginFlow {
        kind: "m.login.sso".into(),
        identity_providers: vec![IdentityProvider {
            id: "oidc-github".into(),
            name: "GitHub".into(),
            brand: None,
        }],
        oauth_aware_preferred: false,
    }];
    let refusal = matrix_error(400, "M_UNKNOWN", None);
    let err = no_password_login(Ok(flows), refusal.clone(), &blame(false));
    assert_eq!(label(&err), ("it offers: m.login.sso (GitHub)", HOMESERVER));
    assert!(help(&err).contains("matrix login --sso"), "{err:?}");
    let oauth_only = Err(Error::Matrix(matrix_error(404, "M_UNRECOGNIZED", None)));
    let err = no_password_login(oauth_only, refusal, &blame(false));
    assert_eq!(err.code.as_deref(), Some("matrix::oauth_only"));
    assert!(help(&err).contains("matrix login --oauth"), "{err:?}");
}

#[test]
fn an_interruption_points_at_the_command() {
    let err = request(
        Error::Interrupted {
            url: "https://hs.example/_matrix/client/v3/sync".into(),
        },
        &blame(false),
    );
    assert_eq!(label(&err), ("stopped before the server answered", HEAD));
    assert!(help(&err).contains("https://hs.example may still take effect"));
}

#[test]
fn refused_input_is_capitalised_and_labelled() {
    let err = input(
        InputError::new("the user ID is empty", "write @bot:example.org"),
        USER,
    );
    assert_eq!(err.msg, "The user ID is empty");
    assert_eq!(label(&err), ("invalid argument", USER));
    assert_eq!(help(&err), "write @bot:example.org");
}

#[test]
fn a_token_of_nobody_known_yet_is_just_the_token() {
    let mut anonymous = blame(false);
    anonymous.user_text = String::new();
    let err = token(
        Error::Matrix(matrix_error(401, "M_UNKNOWN_TOKEN", None)),
        &anonymous,
    );
    assert_eq!(err.msg, "The token is no longer valid");
    assert!(help(&err).contains("`matrix login <user>`"), "{err:?}");
}

#[test]
fn mas_conflicts_are_read_by_their_title() {
    let conflict = |title: &str| {
        request(
            Error::MasAdmin(crate::error::MasAdminError {
                url: "https://auth.example.org/api/admin/v1/x".into(),
                status: 409,
                title: Some(title.into()),
            }),
            &blame(false),
        )
    };
    let revoked = conflict("Personal session with ID 01J is already revoked");
    assert_eq!(revoked.msg, "This token is already revoked");
    assert!(!help(&revoked).contains("user name"), "{revoked:?}");
    let taken = conflict("User with username \"bot\" already exists");
    assert_eq!(taken.msg, "MAS refused: the name is taken");
    let other = conflict("Something else conflicts");
    assert!(other.msg.contains("conflicts"), "{other:?}");
    assert!(
        help(&other).contains("Something else conflicts"),
        "{other:?}"
    );
}
