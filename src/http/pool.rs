//! The connection pool of a transport: one ureq agent with the client's settings, made again
//! after an interrupt shut it down, and whether a kept-alive connection is likely at hand.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};

use super::ClientConfig;
use crate::error::{Error, InputError};

/// How long after an answer a kept-alive connection is taken to be there still (ureq keeps an
/// idle one for 15 s). Within it, a request goes out on the calling thread.
const WARM_FOR: Duration = Duration::from_secs(10);

/// A client's connection pool (a `ureq::Agent`), replaced when interrupted.
pub(super) struct Connections {
    config: ClientConfig,
    state: Mutex<Pool>,
}

struct Pool {
    /// `None` after [`Transport::interrupt`] shut it down; made again on the next request.
    agent: Option<ureq::Agent>,
    /// Until when the last answer suggests a kept-alive connection is at hand.
    warm_until: Option<Instant>,
}

impl Connections {
    pub(super) fn new(config: &ClientConfig) -> Result<Self, Error> {
        Ok(Self {
            config: config.clone(),
            state: Mutex::new(Pool {
                agent: Some(agent(config)?),
                warm_until: None,
            }),
        })
    }

    pub(super) fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent to send with, and whether it likely holds an open connection.
    pub(super) fn agent(&self) -> Result<(ureq::Agent, bool), Error> {
        let mut pool = self.lock();
        let warm = pool.warm_until.is_some_and(|until| Instant::now() < until);
        let agent = match &pool.agent {
            Some(agent) => agent.clone(),
            None => {
                let fresh = agent(&self.config)?;
                pool.agent = Some(fresh.clone());
                fresh
            }
        };
        Ok((agent, warm))
    }

    pub(super) fn answered(&self) {
        self.lock().warm_until = Some(Instant::now() + WARM_FOR);
    }

    pub(super) fn shut_down(&self) {
        let agent = {
            let mut pool = self.lock();
            pool.warm_until = None;
            pool.agent.take()
        };
        if let Some(agent) = agent {
            agent.shutdown();
        }
    }
}

/// An HTTP agent with these settings: finite time-outs, no redirects followed, status codes as
/// answers (not errors), and the system's trusted roots or the CAs of `ca_file`.
fn agent(config: &ClientConfig) -> Result<ureq::Agent, Error> {
    let roots = match &config.ca_file {
        None => RootCerts::PlatformVerifier,
        Some(path) => RootCerts::new_with_certs(&load_certificates(path)?),
    };
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_recv_response(Some(config.timeout))
        .timeout_recv_body(Some(config.timeout))
        .timeout_send_body(Some(config.timeout))
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .user_agent(concat!("nu_plugin_matrix/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent())
}

/// The certificates of a PEM file.
fn load_certificates(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, Error> {
    let refuse = |problem: String| {
        Error::Input(InputError::new(
            problem,
            "ca_file must name a PEM file with the CA certificate(s) to trust",
        ))
    };
    let pem = std::fs::read(path).map_err(|err| {
        refuse(format!(
            "the CA file {} cannot be read: {err}",
            path.display()
        ))
    })?;
    let certificates: Vec<Certificate<'static>> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(refuse(format!(
            "the CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}
