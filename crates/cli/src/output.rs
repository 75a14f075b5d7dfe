//! Writing results to standard output without panicking when the reader goes away.

use std::io::Write;

/// Writes `text` to stdout. A closed pipe (`medpath ... | head`) is not an error: the reader has
/// all it wanted.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
