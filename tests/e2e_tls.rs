//! TLS against Synapse's own https listener, with certificates made here: an untrusted
//! certificate is refused, a private CA can be trusted with `ca_file`, a certificate for another
//! host name is refused.

mod support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use support::{nu, scratch, start_synapse_with_tls};

/// A CA, and a certificate for `localhost` signed by it. Returns the CA's PEM file.
fn make_certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "nu_plugin_matrix test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");

    let key = KeyPair::generate().expect("a server key");
    let server = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let cert = server
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("the server certificate");

    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(&paths.1, cert.pem()).expect("write server.pem");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write server.key");
    paths
}

#[test]
fn untrusted_private_ca_and_wrong_host_name() {
    let dir = scratch("tls");
    let (ca, cert, key) = make_certificates(&dir);
    let hs = start_synapse_with_tls(&cert, &key);
    let port = hs.url.rsplit(':').next().expect("a port").to_owned();
    let by_name = format!("https://localhost:{port}");
    let by_ip = format!("https://127.0.0.1:{port}");

    // The system's roots do not know the test CA.
    let run = nu(&format!("matrix flows {by_name}"));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("certificate not trusted"), "{text}");
    assert!(text.contains("ca_file"), "{text}");

    // Trusting the private CA works.
    let trust = format!(
        "$env.config.plugins.matrix = {{ca_file: '{}'}}",
        ca.display()
    );
    let run = nu(&format!(
        "{trust}; matrix flows {by_name} | get type | to json --raw"
    ));
    assert!(run.success, "{}", run.stderr);
    assert!(run.stdout.contains("m.login.password"), "{}", run.stdout);
    // A login goes through TLS to the server, which answers (no such user).
    let run = nu(&format!(
        "{trust}; 'pw' | matrix login @nobody:localhost -H {by_name}"
    ));
    assert!(run.stderr.contains("Login refused"), "{}", run.stderr);

    // The certificate names localhost, not 127.0.0.1.
    let run = nu(&format!("{trust}; matrix flows {by_ip}"));
    assert!(!run.success);
    assert!(
        run.stderr_folded()
            .contains("certificate for another host name"),
        "{}",
        run.stderr
    );
}
