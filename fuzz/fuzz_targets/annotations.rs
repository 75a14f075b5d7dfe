//! Fuzzes the MIT annotation parser: any bytes must parse or fail with an error, never panic,
//! and whatever parses must encode and parse back to the same annotations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medpath_wfdb::annotation::{encode_annotations, parse_annotations};

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.atr");
    if let Ok(annotations) = parse_annotations(data, path) {
        if let Ok(bytes) = encode_annotations(&annotations, path) {
            assert_eq!(parse_annotations(&bytes, path).unwrap(), annotations);
        }
    }
});
