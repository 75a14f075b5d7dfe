//! One module per subcommand family.

pub mod bench;
pub mod cache;
pub mod data;
pub mod demo;
pub mod ecg;
pub mod encode;
pub mod fetch;
pub mod predict;
pub mod report;
pub mod run;
pub mod serve;
pub mod stage;
pub mod summary;
pub mod transfer;
