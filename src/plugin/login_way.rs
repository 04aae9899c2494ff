//! How `matrix login` proves who logs in ([`Way`]: a password, single sign-on, a login token or
//! OAuth 2.0), and the logins through `POST /login` ([`legacy_login`]).

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, PipelineData, Span, Spanned, Value};

use crate::client::{Client, Interrupt};
use crate::error::{Error, ErrorCode};
use crate::ids::UserArg;
use crate::login::LoginRequest;
use crate::plugin::errors::{self, Blame};
use crate::plugin::oauth_login::OAuthOptions;
use crate::plugin::password::{password_from, piped_password};
use crate::plugin::sso::{self, SsoOptions, flag_span};
use crate::plugin::token::{TokenKind, TokenValue};
use crate::secret::AccessToken;
use crate::session::Session;

/// What a legacy login (`POST /login`: password, single sign-on, login token) needs.
#[derive(Clone, Copy)]
pub(crate) struct Legacy<'a> {
    pub(crate) client: &'a Client,
    pub(crate) engine: &'a EngineInterface,
    pub(crate) call: &'a EvaluatedCall,
    /// The user argument as typed, and parsed.
    pub(crate) user: Option<(&'a Spanned<String>, &'a UserArg)>,
    pub(crate) interrupt: &'a Interrupt,
    pub(crate) blame: &'a Blame,
}

/// A login through `POST /login`, the way given.
pub(crate) fn legacy_login(
    legacy: &Legacy<'_>,
    way: Way,
    refresh: bool,
    device_id: Option<String>,
    device_name: Option<String>,
) -> Result<Session, LabeledError> {
    let Legacy {
        client,
        engine,
        call,
        user,
        interrupt,
        blame,
    } = *legacy;
    let token_login = !matches!(way, Way::Password { .. });
    let mut request = match way {
        Way::Password { piped, flag } => {
            let (user, user_arg) = user.expect("a password login has a user (checked first)");
            let password = password_from(
                piped,
                flag,
                engine,
                call,
                &format!("matrix login {}", user.item),
                &user.item,
            )?;
            LoginRequest::password(user_arg.clone(), password)
        }
        Way::Sso(options) => LoginRequest::token(sso::sign_in(client, &options, interrupt, blame)?),
        Way::Token { token, .. } => LoginRequest::token(token),
        Way::OAuth(_) => unreachable!("OAuth 2.0 logins do not come here"),
    };
    request = request.refresh_token(refresh);
    if let Some(id) = device_id {
        request = request.device_id(id);
    }
    if let Some(name) = device_name {
        request = request.device_name(name);
    }
    match client.login(&request) {
        Ok(session) => Ok(session),
        // The login type may be unknown here: find out what the server offers instead.
        Err(Error::Matrix(err))
            if !token_login
                && (err.errcode == ErrorCode::Unrecognized
                    || (err.status == 400 && err.errcode == ErrorCode::Unknown)) =>
        {
            Err(errors::no_password_login(client.login_flows(), err, blame))
        }
        Err(Error::Matrix(err)) if token_login && err.errcode == ErrorCode::Forbidden => {
            Err(LabeledError::new("The login token was refused")
                .with_label("used, expired or unknown login token", call.head)
                .with_help(format!(
                    "a login token works once, for a few minutes: get a new one (sign in \
                     again with --sso, or `matrix token login-token`); the server said: {err}"
                ))
                .with_code("matrix::M_FORBIDDEN"))
        }
        Err(err) => Err(errors::login(err, blame)),
    }
}

/// How a login proves who logs in.
pub(crate) enum Way {
    /// A password: from the pipeline, `--password`, or a prompt.
    Password {
        piped: Option<(String, Span)>,
        flag: Option<Spanned<String>>,
    },
    /// Single sign-on in the browser.
    Sso(SsoOptions),
    /// OAuth 2.0: with the device code, or in the browser.
    OAuth(OAuthOptions),
    /// A login token from `--login-token`, or piped in (then with its homeserver).
    Token {
        token: AccessToken,
        from: Option<String>,
    },
}

impl Way {
    pub(crate) fn of(call: &EvaluatedCall, input: PipelineData) -> Result<Self, LabeledError> {
        let password_flag: Option<Spanned<String>> = call.get_flag("password")?;
        let token_flag: Option<Spanned<String>> = call.get_flag("login-token")?;
        let sso = SsoOptions::of(call)?;
        let oauth = OAuthOptions::of(call)?;
        let piped_token = match &input {
            PipelineData::Value(value @ (Value::Record { .. } | Value::Custom { .. }), _) => {
                Some(piped_login_token(value)?)
            }
            _ => None,
        };
        let piped = match piped_token {
            Some(_) => None,
            None => piped_password(input)?,
        };
        // One way only: name the second one given. (A password given twice is for
        // `password_from` to say.)
        let password_given = password_flag
            .as_ref()
            .map(|flag| ("--password", flag.span))
            .or(piped
                .as_ref()
                .map(|(_, span)| ("a password on the pipeline", *span)));
        let ways = [
            password_given,
            piped_token
                .as_ref()
                .map(|(_, _, span)| ("a login token on the pipeline", *span)),
            token_flag.as_ref().map(|flag| ("--login-token", flag.span)),
            sso.as_ref().map(|_| ("--sso", flag_span(call, "sso"))),
            oauth
                .as_ref()
                .map(|options| (options.flag_name(), options.flag())),
        ];
        let mut given = ways.into_iter().flatten();
        if let (Some((first, _)), Some((second, span))) = (given.next(), given.next()) {
            return Err(LabeledError::new("Two ways to log in given")
                .with_label(format!("{second}, but also {first}"), span)
                .with_help(
                    "log in one way: a password (piped, --password or asked), --sso, --oauth, \
                     or a login token (--login-token, or piped from `matrix token login-token`)",
                ));
        }
        // With a password or a login token, no browser takes part.
        if let (true, Some((way, _))) = (
            call.has_flag("no-browser")?,
            password_given.or(token_flag.as_ref().map(|flag| ("--login-token", flag.span))),
        ) {
            return Err(
                LabeledError::new(format!("--no-browser does nothing with {way}"))
                    .with_label("no browser takes part", flag_span(call, "no-browser"))
                    .with_help(
                        "drop --no-browser; it goes with a sign-in in the browser (--sso, --oauth, \
                     --oauth-browser, or OAuth 2.0 chosen when no password is given)",
                    ),
            );
        }
        if let Some(options) = sso {
            return Ok(Self::Sso(options));
        }
        if let Some(options) = oauth {
            return Ok(Self::OAuth(options));
        }
        if let Some((token, homeserver, _)) = piped_token {
            return Ok(Self::Token {
                token,
                from: Some(homeserver),
            });
        }
        if let Some(flag) = token_flag {
            let text = flag.item.trim();
            if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(LabeledError::new("That is not a login token")
                    .with_label(
                        if text.is_empty() {
                            "empty login token"
                        } else {
                            "a login token has no spaces"
                        },
                        flag.span,
                    )
                    .with_help(
                        "pass the token alone, e.g. syl_… from `matrix token login-token`",
                    ));
            }
            return Ok(Self::Token {
                token: AccessToken::new(text.to_owned()),
                from: None,
            });
        }
        Ok(Self::Password {
            piped,
            flag: password_flag,
        })
    }
}

/// Returns the token, its homeserver and where it came from.
fn piped_login_token(value: &Value) -> Result<(AccessToken, String, Span), LabeledError> {
    let span = value.span();
    let field = match value {
        Value::Record { val, .. } => val.get("login_token"),
        other => Some(other),
    };
    match field.and_then(TokenValue::from_value) {
        Some(token) if token.kind() == TokenKind::LoginToken => {
            Ok((token.token().clone(), token.homeserver().to_owned(), span))
        }
        _ => Err(LabeledError::new("Expected a login token or a password")
            .with_label(format!("{}, not a login token", value.get_type()), span)
            .with_help(
                "pipe the password as a string, or the record of `matrix token login-token`; a \
                 session is already logged in",
            )
            .with_code("matrix::not_a_login_token")),
    }
}
