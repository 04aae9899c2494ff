//! The transport's errors: the request got no HTTP answer.

use std::fmt;

/// What kind of failure kept a request from getting an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Nothing listens at that address and port.
    ConnectionRefused,
    /// The host name does not resolve.
    HostNotFound,
    /// The server's certificate is not signed by an authority trusted here.
    CertificateUntrusted,
    /// The server's certificate names another host.
    CertificateForAnotherHost,
    /// The TLS handshake failed otherwise: a broken certificate, or no TLS at all.
    Tls,
    /// No answer within the time-out.
    Timeout,
    /// The answer began (its status and headers came), and the connection closed before its
    /// body was whole.
    CutShort,
    /// Anything else: a reset connection, a malformed HTTP answer.
    Other,
}

/// A request that got no HTTP answer.
#[derive(Debug)]
pub struct TransportError {
    /// The URL that was asked.
    pub url: String,
    /// What went wrong.
    pub kind: TransportKind,
    /// The underlying error, for the curious. Holds no secret.
    pub detail: String,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConnectionRefused => "connection refused",
            Self::HostNotFound => "host not found",
            Self::CertificateUntrusted => "TLS failed: certificate not trusted",
            Self::CertificateForAnotherHost => "TLS failed: the certificate names another host",
            Self::Tls => "TLS failed",
            Self::Timeout => "no answer in time",
            Self::CutShort => "the answer was cut short",
            Self::Other => "the connection failed",
        })
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not reach {}: {} ({})",
            self.url, self.kind, self.detail
        )
    }
}
