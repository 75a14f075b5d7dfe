//! One module per subcommand family.

pub mod demo;
pub mod ecg;
