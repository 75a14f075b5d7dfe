//! Choosing which signals (leads) of a record to draw.
//!
//! A lead is asked for by name (`MLII`), by 0-based signal index (`#1`), or as alternatives
//! separated by `|`, tried in order (`V1|V2|#1`). The alternative `-` stands for a blank trace:
//! `V1|V2|-` draws V1, else V2, else an empty channel, so a record without either lead is still
//! classified from its other leads instead of being passed over.

use std::fmt;

use crate::error::{EcgError, Result};

/// The alternative that stands for a blank trace.
pub const BLANK: &str = "-";

/// Where a requested lead comes from in one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSource {
    /// The record's signal with this index.
    Signal(usize),
    /// Nothing: the trace is drawn blank (zeros).
    Blank,
}

/// One requested lead: alternatives tried in order until one exists in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadChoice {
    alternatives: Vec<String>,
}

impl LeadChoice {
    /// Parses `MLII`, `#0` or `V1|V2|#1`.
    pub fn parse(text: &str) -> Result<LeadChoice> {
        let alternatives: Vec<String> = text
            .split('|')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if alternatives.is_empty() {
            return Err(EcgError::Invalid(format!("empty lead name in {text:?}")));
        }
        for alt in &alternatives {
            if let Some(index) = alt.strip_prefix('#') {
                index.parse::<usize>().map_err(|_| {
                    EcgError::Invalid(format!(
                        "lead {alt:?}: '#' must be followed by a signal index"
                    ))
                })?;
            }
        }
        Ok(LeadChoice { alternatives })
    }

    /// The paper's default: `MLII`, falling back to the record's first signal.
    pub fn paper_default() -> LeadChoice {
        LeadChoice {
            alternatives: vec!["MLII".into(), "#0".into()],
        }
    }

    /// The first alternative that `signal_names` has (or a blank, when `-` comes first), if
    /// any.
    pub fn resolve(&self, signal_names: &[String]) -> Option<LeadSource> {
        self.alternatives.iter().find_map(|alt| {
            if alt == BLANK {
                return Some(LeadSource::Blank);
            }
            match alt.strip_prefix('#') {
                Some(index) => index
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < signal_names.len()),
                None => signal_names.iter().position(|n| n == alt),
            }
            .map(LeadSource::Signal)
        })
    }

    /// Index of the first alternative that is one of the record's signals (blanks skipped).
    pub fn resolve_signal(&self, signal_names: &[String]) -> Option<usize> {
        let signals_only = LeadChoice {
            alternatives: self
                .alternatives
                .iter()
                .filter(|a| *a != BLANK)
                .cloned()
                .collect(),
        };
        match signals_only.resolve(signal_names) {
            Some(LeadSource::Signal(i)) => Some(i),
            _ => None,
        }
    }
}

impl fmt::Display for LeadChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.alternatives.join("|"))
    }
}

/// Parses a comma-separated list of lead choices (`MLII,V1|V2`).
pub fn parse_lead_list(text: &str) -> Result<Vec<LeadChoice>> {
    text.split(',').map(LeadChoice::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resolves_names_indices_and_fallbacks() {
        use LeadSource::{Blank, Signal};
        let rec = names(&["V5", "V2"]);
        assert_eq!(LeadChoice::paper_default().resolve(&rec), Some(Signal(0)));
        assert_eq!(
            LeadChoice::paper_default().resolve(&names(&["V5", "MLII"])),
            Some(Signal(1))
        );
        assert_eq!(LeadChoice::parse("V1").unwrap().resolve(&rec), None);
        assert_eq!(
            LeadChoice::parse("V1|V2").unwrap().resolve(&rec),
            Some(Signal(1))
        );
        assert_eq!(
            LeadChoice::parse("#1").unwrap().resolve(&rec),
            Some(Signal(1))
        );
        assert_eq!(LeadChoice::parse("#5").unwrap().resolve(&rec), None);
        let or_blank = LeadChoice::parse("V1|-").unwrap();
        assert_eq!(or_blank.resolve(&rec), Some(Blank));
        assert_eq!(or_blank.resolve(&names(&["MLII", "V1"])), Some(Signal(1)));
        assert_eq!(or_blank.resolve_signal(&rec), None);
        assert_eq!(or_blank.to_string(), "V1|-");
        assert_eq!(parse_lead_list("MLII,V1|#1").unwrap().len(), 2);
        assert!(LeadChoice::parse("#x").is_err());
        assert!(parse_lead_list("MLII,").is_err());
    }
}
