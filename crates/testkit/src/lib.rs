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

/// `shared_root()/relative` when it exists. When it does not: if `MEDPATH_SHARED` is set (as CI
/// sets it), the set-up is broken and the calling test fails, naming the path; if it is unset
/// and the default `../shared` is absent, the test skips, saying so on stderr, and `None` is
/// returned.
pub fn shared_path(relative: &str) -> Option<PathBuf> {
    let path = shared_root().join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("MEDPATH_SHARED").is_none(),
        "{} is missing, but MEDPATH_SHARED is set: the shared data must be there",
        path.display()
    );
    eprintln!(
        "SKIP: {} not found (set MEDPATH_SHARED to the shared folder to run this test)",
        path.display()
    );
    None
}

/// A zip archive of `files` (name, content), deflated: uploads and zip bombs for tests.
pub fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, bytes) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(*name, options).expect("a zip entry");
        zip.write_all(bytes).expect("zip content");
    }
    zip.finish().expect("a finished zip");
    out.into_inner()
}
