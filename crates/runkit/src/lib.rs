//! What every stage of a medpath run shares: atomic file writes and JSON files whose errors name
//! the file ([`files`]), and the trait a run reports its progress through ([`progress`]).

pub mod files;
pub mod progress;

pub use files::{FileError, read_json, write_atomic, write_json};
pub use progress::{Plain, Recorder, Reporter};
