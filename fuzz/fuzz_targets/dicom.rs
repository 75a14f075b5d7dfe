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

/// libFuzzer's panic hook aborts on every panic; medpath turns a panic inside the DICOM reader
/// into an error (`medpath_data::dicom`), so such a panic is let through to be caught there.
fn let_guarded_panics_through() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !medpath_data::dicom::decoding_in_progress() {
                abort(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_guarded_panics_through();
    let path = scratch();
    std::fs::write(path, data).expect("scratch file");
    if let Ok((image, _)) = medpath_data::load_rgb(path) {
        assert_eq!(image.pixels.len(), image.width * image.height * 3);
    }
    let _ = medpath_data::dicom::read_info(path);
});
