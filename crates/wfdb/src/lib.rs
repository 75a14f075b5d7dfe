//! Reading and writing PhysioNet WFDB records: headers (`.hea`), signal files in formats 212, 16,
//! 61, 80 and 160, and MIT-format annotation files, with checksum verification.
//!
//! ```no_run
//! use medpath_wfdb::Record;
//! let record = Record::read(std::path::Path::new("mitdb/100"))?;
//! let beats = record.read_annotations("atr")?;
//! assert!(record.checksums().iter().all(|c| c.ok()));
//! # Ok::<(), medpath_wfdb::WfdbError>(())
//! ```

pub mod annotation;
pub mod error;
pub mod format;
pub mod header;
pub mod record;

pub use annotation::{
    Annotation, code_of, name_of, read_annotations, symbol_of, write_annotations,
};
pub use error::{Result, WfdbError};
pub use format::SampleFormat;
pub use header::{Header, RecordLine, SignalSpec};
pub use record::{ChecksumCheck, Record, RecordPath, checksum};
