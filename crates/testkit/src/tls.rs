//! An upstream behind TLS, for the gateway's tests: a certificate authority made for the test
//! run, a server certificate it signed for `127.0.0.1`, and a server answering every request on
//! it with one chat completion. The authority is written where a trust store can name it: as a
//! bundle file, and as a directory of hashed certificates.
#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod, SslStream};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Name, X509NameBuilder, X509NameRef};

pub struct TlsUpstream {
    /// `https://127.0.0.1:<port>/v1`
    pub base_url: String,
    /// The test authority as a PEM bundle.
    pub ca_file: PathBuf,
    /// The test authority in a directory as OpenSSL looks certificates up (`<hash>.0`).
    pub ca_dir: PathBuf,
    answered: Arc<AtomicUsize>,
    _files: tempfile::TempDir,
}

impl TlsUpstream {
    pub fn start() -> Self {
        let (ca, ca_key) = authority();
        let (leaf, leaf_key) = server_certificate(&ca, &ca_key);
        let files = tempfile::tempdir().expect("a temporary directory");
        let pem = ca.to_pem().expect("PEM");
        let ca_file = files.path().join("ca.pem");
        std::fs::write(&ca_file, &pem).expect("write the authority");
        let ca_dir = files.path().join("certs");
        std::fs::create_dir(&ca_dir).expect("a directory");
        std::fs::write(ca_dir.join(format!("{:08x}.0", ca.subject_name_hash())), &pem)
            .expect("write the hashed authority");

        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("TLS");
        acceptor.set_private_key(&leaf_key).expect("key");
        acceptor.set_certificate(&leaf).expect("certificate");
        let acceptor = acceptor.build();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let answered = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&answered);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (acceptor, counted) = (acceptor.clone(), Arc::clone(&counted));
                std::thread::spawn(move || {
                    // A client that does not trust the certificate ends the handshake here.
                    if let Ok(mut tls) = acceptor.accept(stream) {
                        answer(&mut tls, &counted);
                    }
                });
            }
        });
        Self {
            base_url: format!("https://127.0.0.1:{port}/v1"),
            ca_file,
            ca_dir,
            answered,
            _files: files,
        }
    }

    /// Requests answered (each after a completed handshake).
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// Reads one HTTP/1.1 request and answers it with a chat completion, closing the connection.
fn answer(tls: &mut SslStream<TcpStream>, answered: &AtomicUsize) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    let complete = |request: &[u8]| {
        let text = String::from_utf8_lossy(request);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, value)| value.trim().parse().unwrap_or(0));
        (body.len() >= length).then_some(())
    };
    while complete(&request).is_none() {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    let body = serde_json::json!({
        "id": "chatcmpl-tls", "object": "chat.completion", "created": 1, "model": "tls-model",
        "choices": [{ "index": 0, "finish_reason": "stop",
            "message": { "role": "assistant", "content": "over TLS" } }],
        "usage": { "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5 }
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    answered.fetch_add(1, Ordering::SeqCst);
    let _ = tls.write_all(response.as_bytes());
    let _ = tls.shutdown();
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("a key")).expect("a key")
}

fn name(common_name: &str) -> X509Name {
    let mut name = X509NameBuilder::new().expect("a name");
    name.append_entry_by_text("CN", common_name).expect("CN");
    name.build()
}

/// A certificate valid from now for a day, for `key`, issued by `issuer`.
fn certificate(
    serial: u32,
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<Private>,
) -> openssl::x509::X509Builder {
    let mut builder = X509::builder().expect("a certificate");
    builder.set_version(2).expect("v3");
    let serial = BigNum::from_u32(serial).and_then(|n| n.to_asn1_integer()).expect("serial");
    builder.set_serial_number(&serial).expect("serial");
    builder.set_subject_name(subject).expect("subject");
    builder.set_issuer_name(issuer).expect("issuer");
    builder.set_pubkey(key).expect("key");
    builder.set_not_before(&Asn1Time::days_from_now(0).expect("now")).expect("not before");
    builder.set_not_after(&Asn1Time::days_from_now(1).expect("tomorrow")).expect("not after");
    builder
}

fn authority() -> (X509, PKey<Private>) {
    let key = key();
    let subject = name("modelgate test authority");
    let mut builder = certificate(1, &subject, &subject, &key);
    builder
        .append_extension(BasicConstraints::new().critical().ca().build().expect("CA"))
        .expect("CA");
    let usage = KeyUsage::new().critical().key_cert_sign().crl_sign().build().expect("usage");
    builder.append_extension(usage).expect("usage");
    builder.sign(&key, MessageDigest::sha256()).expect("signed");
    (builder.build(), key)
}

fn server_certificate(ca: &X509, ca_key: &PKey<Private>) -> (X509, PKey<Private>) {
    let key = key();
    let mut builder = certificate(2, &name("127.0.0.1"), ca.subject_name(), &key);
    let names = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&builder.x509v3_context(Some(ca), None))
        .expect("names");
    builder.append_extension(names).expect("names");
    let purpose = ExtendedKeyUsage::new().server_auth().build().expect("purpose");
    builder.append_extension(purpose).expect("purpose");
    builder.sign(ca_key, MessageDigest::sha256()).expect("signed");
    (builder.build(), key)
}
