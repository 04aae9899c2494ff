//! One HTTP exchange on a ureq agent, and what kind of failure kept it from an answer.

use zeroize::Zeroizing;

use super::{Body, Method};
use crate::error::{Error, TransportError, TransportKind};

/// Everything one exchange needs, owned, so that it can run on a thread of its own.
pub(super) struct Work {
    pub(super) agent: ureq::Agent,
    pub(super) method: Method,
    pub(super) url: String,
    /// The whole `Authorization` header value (`Bearer …`, `Basic …`).
    pub(super) authorization: Option<Zeroizing<String>>,
    pub(super) body: Option<Body>,
    pub(super) limit: u64,
    /// A longer time-out for the answer than the agent's (a long-poll).
    pub(super) answer_within: Option<std::time::Duration>,
}

/// What came back from one HTTP exchange, before it is interpreted.
pub(super) struct Exchanged {
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    pub(super) retry_after: Option<String>,
    pub(super) location: Option<String>,
    pub(super) body: Result<Zeroizing<Vec<u8>>, ureq::Error>,
}

impl Work {
    /// Sends the request and reads its answer (up to `limit` bytes; nothing of a redirect's).
    pub(super) fn run(self) -> Result<Exchanged, ureq::Error> {
        let Self {
            agent,
            method,
            url,
            authorization,
            body,
            limit,
            answer_within,
        } = self;
        let result = match (method, body) {
            (Method::Get | Method::Delete, None) => {
                let mut request = match method {
                    Method::Delete => agent.delete(&url),
                    _ => agent.get(&url),
                };
                if let Some(within) = answer_within {
                    request = request
                        .config()
                        .timeout_recv_response(Some(within))
                        .timeout_recv_body(Some(within))
                        .build();
                }
                if let Some(authorization) = &authorization {
                    request = request.header("Authorization", authorization.as_str());
                }
                request.call()
            }
            (method, body) => {
                let mut request = match method {
                    Method::Put => agent.put(&url),
                    Method::Post => agent.post(&url),
                    Method::Delete => agent.delete(&url).force_send_body(),
                    Method::Get => agent.get(&url).force_send_body(),
                };
                if let Some(body) = &body {
                    request = request.header("Content-Type", body.content_type());
                }
                if let Some(authorization) = &authorization {
                    request = request.header("Authorization", authorization.as_str());
                }
                match &body {
                    Some(body) => request.send(body.bytes()),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = result?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let location = header("location");
        let body = if (300..400).contains(&status) {
            Ok(Zeroizing::new(Vec::new()))
        } else {
            response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map(Zeroizing::new)
        };
        Ok(Exchanged {
            status,
            content_type,
            retry_after,
            location,
            body,
        })
    }
}

pub(super) fn transport_error(url: &str, err: &ureq::Error) -> Error {
    Error::Transport(TransportError {
        url: url.to_owned(),
        kind: transport_kind(err),
        detail: err.to_string(),
    })
}

/// What kind of failure kept a request from getting an answer.
fn transport_kind(err: &ureq::Error) -> TransportKind {
    match err {
        ureq::Error::Timeout(_) => TransportKind::Timeout,
        ureq::Error::HostNotFound => TransportKind::HostNotFound,
        ureq::Error::Rustls(err) => tls_kind(err),
        ureq::Error::Tls(_) | ureq::Error::Pem(_) => TransportKind::Tls,
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => TransportKind::ConnectionRefused,
            std::io::ErrorKind::TimedOut => TransportKind::Timeout,
            // rustls reports a failed handshake through the I/O layer, the rustls error inside.
            _ if let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>()) =>
            {
                tls_kind(tls)
            }
            // The system resolver's failure has no kind of its own; its message is std's.
            _ if io.to_string().contains("lookup address") => TransportKind::HostNotFound,
            _ => TransportKind::Other,
        },
        _ => TransportKind::Other,
    }
}

/// What a failed TLS handshake says of the server's certificate.
fn tls_kind(err: &rustls::Error) -> TransportKind {
    use rustls::CertificateError::{NotValidForName, NotValidForNameContext, UnknownIssuer};
    match err {
        rustls::Error::InvalidCertificate(UnknownIssuer) => TransportKind::CertificateUntrusted,
        rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }) => {
            TransportKind::CertificateForAnotherHost
        }
        _ => TransportKind::Tls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustls_error_inside_an_io_error_is_tls() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        assert_eq!(
            transport_kind(&ureq::Error::Io(io)),
            TransportKind::CertificateUntrusted
        );
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        assert_eq!(
            transport_kind(&ureq::Error::Io(io)),
            TransportKind::CertificateForAnotherHost
        );
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(transport_kind(&ureq::Error::Io(io)), TransportKind::Tls);
        let plain = std::io::Error::new(std::io::ErrorKind::InvalidData, "certificate mumble");
        assert_eq!(
            transport_kind(&ureq::Error::Io(plain)),
            TransportKind::Other
        );
    }
}
