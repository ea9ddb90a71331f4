//! Ports for tests that start servers of their own: a free one to listen on, waiting for a
//! started binary to listen, and an address where nothing does.

use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A port nothing listens on now (the OS's pick, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `child` listens on `port`; fails if it exits first or takes over 30 s.
pub fn wait_until_listening(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited before listening");
        assert!(Instant::now() < deadline, "the server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An OpenAI API root on a port where nothing listens: an upstream that cannot be reached.
pub fn unreachable_base_url() -> String {
    format!("http://127.0.0.1:{}/v1", free_port())
}
