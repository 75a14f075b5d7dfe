//! Fuzzes the WFDB header parser: any text must parse or fail with an error, never panic, and a
//! parsed header must survive a write/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medpath_wfdb::Header;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("fuzz.hea");
    if let Ok(header) = Header::parse(&text, path) {
        let again = Header::parse(&header.to_text(), path);
        assert!(again.is_ok(), "written header does not parse: {:?}", header.to_text());
    }
});
