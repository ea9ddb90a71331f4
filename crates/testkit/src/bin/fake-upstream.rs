//! The test kit's fake OpenAI-compatible upstream as a process, for bench/run.sh: prints its
//! base URL, then serves until killed.
#![allow(clippy::expect_used)]

fn main() {
    let upstream = modelgate_testkit::upstream::FakeUpstream::start_unrecorded();
    println!("{}", upstream.base_url);
    std::io::Write::flush(&mut std::io::stdout()).expect("stdout");
    loop {
        std::thread::park();
    }
}
