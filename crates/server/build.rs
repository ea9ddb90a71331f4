//! Records what the binary was built from, for `GET /version` and `modelgate --version`.
//! Without git (a source archive, a Docker build context without `.git`) the commit is
//! "unknown"; `MODELGATE_GIT_COMMIT` may supply it. `SOURCE_DATE_EPOCH` (reproducible builds)
//! sets the build date; otherwise it is the time of the build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MODELGATE_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
    let commit =
        std::env::var("MODELGATE_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
            let out =
                Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        });
    println!("cargo:rustc-env=MODELGATE_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or_default())
        });
    println!("cargo:rustc-env=MODELGATE_BUILD_EPOCH={epoch}");
}
