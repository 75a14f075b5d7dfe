//! Fuzzes medpath's image entry point with DICOM files in mind: any bytes written to a file must
//! decode or fail with an error (never panic, never hang) through `load_rgb` (format recognised
//! by content) and `dicom::read_info`. Seeds: the DICOM fixtures of crates/data/tests/fixtures.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("medpath-fuzz-{}.dcm", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("scratch file");
    if let Ok((image, _)) = medpath_data::load_rgb(path) {
        assert_eq!(image.pixels.len(), image.width * image.height * 3);
    }
    let _ = medpath_data::dicom::read_info(path);
});
