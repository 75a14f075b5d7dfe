//! Helpers shared by the tests of every medpath crate.

use std::path::{Path, PathBuf};

/// The repository root (two levels above any crate's manifest folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/<name> lies two levels below the repository root")
        .to_path_buf()
}

/// The shared data folder: `$MEDPATH_SHARED`, or `../shared` next to the repository root.
pub fn shared_root() -> PathBuf {
    match std::env::var_os("MEDPATH_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("..").join("shared"),
    }
}

/// `shared_root()/relative` when it exists; otherwise says on stderr that the calling test skips
/// and returns `None`.
pub fn shared_path(relative: &str) -> Option<PathBuf> {
    let path = shared_root().join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIP: {} not found (set MEDPATH_SHARED to the shared folder to run this test)",
            path.display()
        );
        None
    }
}
