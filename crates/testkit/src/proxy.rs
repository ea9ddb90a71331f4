//! A TCP proxy to the test Postgres that can *freeze*: it keeps every connection open and stops
//! forwarding in both directions, without resetting or closing anything, as a stopped database
//! process or a network dropping packets looks to a client. Tests of hang handling point a store
//! at it instead of stopping the shared Postgres server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

#[derive(Default)]
struct Shared {
    /// `true` while frozen; the condvar wakes forwarders on a thaw or on close.
    frozen: Mutex<bool>,
    thawed: Condvar,
    closed: AtomicBool,
    /// Every socket on both sides, so closing the proxy ends every forwarder.
    sockets: Mutex<Vec<TcpStream>>,
}

impl Shared {
    /// Blocks while frozen; `false` once the proxy closes.
    fn wait_thawed(&self) -> bool {
        let mut frozen = self.frozen.lock().unwrap();
        while *frozen && !self.closed.load(Ordering::SeqCst) {
            frozen = self.thawed.wait(frozen).unwrap();
        }
        !self.closed.load(Ordering::SeqCst)
    }

    fn track(&self, socket: &TcpStream) {
        if let Ok(clone) = socket.try_clone() {
            self.sockets.lock().unwrap().push(clone);
        }
    }
}

/// Forwards `127.0.0.1:<port>` to `upstream` until frozen; see the module docs.
pub struct HangingProxy {
    port: u16,
    shared: Arc<Shared>,
}

impl HangingProxy {
    /// A proxy to `upstream` (`host:port`) on a free loopback port.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let upstream = upstream.to_owned();
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = accepting.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || connect(shared, client, &upstream));
            }
        });
        Self { port, shared }
    }

    /// A proxy to the test Postgres server (`MODELGATE_TEST_DATABASE_URL`'s host and port).
    pub fn postgres() -> Self {
        Self::start(&server_address(&crate::postgres_admin_url()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_through(&self, url: &str) -> String {
        with_address(url, &format!("127.0.0.1:{}", self.port))
    }

    /// Stops forwarding: bytes already sent stay unanswered, new connections are accepted and
    /// then left silent. Nothing is closed.
    pub fn freeze(&self) {
        *self.shared.frozen.lock().unwrap() = true;
    }

    /// Resumes forwarding, including what arrived while frozen.
    pub fn thaw(&self) {
        *self.shared.frozen.lock().unwrap() = false;
        self.shared.thawed.notify_all();
    }
}

impl Drop for HangingProxy {
    /// Closes every connection, so nothing stays blocked on a frozen proxy after a test.
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.thawed.notify_all();
        for socket in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        // Wakes the accept loop so that it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn connect(shared: Arc<Shared>, client: TcpStream, upstream: &str) {
    shared.track(&client);
    // A connection made while frozen hears nothing until the thaw.
    if !shared.wait_thawed() {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    shared.track(&server);
    let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = shared.clone();
    std::thread::spawn(move || pump(&back, server_in, client));
    pump(&shared, client_in, server);
}

/// Copies `from` to `to`, holding each chunk while frozen; closes both at the end.
fn pump(shared: &Shared, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !shared.wait_thawed() || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The `host:port` of a `postgres://` URL (port 5432 when it names none).
fn server_address(url: &str) -> String {
    let authority = authority(url);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    assert!(!host_port.is_empty(), "{url}: no host to proxy to (a socket directory?)");
    let has_port = match host_port.rsplit_once(':') {
        Some((_, port)) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    };
    if has_port { host_port.to_owned() } else { format!("{host_port}:5432") }
}

/// `url` with the host and port of its authority replaced by `address`.
fn with_address(url: &str, address: &str) -> String {
    let authority = authority(url);
    let start = url.find(authority).unwrap_or(0);
    let host_start = authority.rfind('@').map_or(start, |at| start + at + 1);
    format!("{}{address}{}", &url[..host_start], &url[start + authority.len()..])
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_and_replaced() {
        assert_eq!(server_address("postgres://postgres@127.0.0.1:5432/postgres"), "127.0.0.1:5432");
        assert_eq!(
            server_address("postgresql://u:p@db.example/x?sslmode=require"),
            "db.example:5432"
        );
        assert_eq!(
            with_address("postgres://u:p@db:5433/x?sslmode=require", "127.0.0.1:9"),
            "postgres://u:p@127.0.0.1:9/x?sslmode=require"
        );
        assert_eq!(with_address("postgres://db/x", "127.0.0.1:9"), "postgres://127.0.0.1:9/x");
    }
}
