//! Choosing which signals (leads) of a record to draw.
//!
//! A lead is asked for by name (`MLII`), by 0-based signal index (`#1`), or as alternatives
//! separated by `|`, tried in order (`V1|V2|#1`).

use std::fmt;

use crate::error::{EcgError, Result};

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

    /// Index of the first alternative that `signal_names` has, if any.
    pub fn resolve(&self, signal_names: &[String]) -> Option<usize> {
        self.alternatives
            .iter()
            .find_map(|alt| match alt.strip_prefix('#') {
                Some(index) => index
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < signal_names.len()),
                None => signal_names.iter().position(|n| n == alt),
            })
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
        let rec = names(&["V5", "V2"]);
        assert_eq!(LeadChoice::paper_default().resolve(&rec), Some(0));
        assert_eq!(
            LeadChoice::paper_default().resolve(&names(&["V5", "MLII"])),
            Some(1)
        );
        assert_eq!(LeadChoice::parse("V1").unwrap().resolve(&rec), None);
        assert_eq!(LeadChoice::parse("V1|V2").unwrap().resolve(&rec), Some(1));
        assert_eq!(LeadChoice::parse("#1").unwrap().resolve(&rec), Some(1));
        assert_eq!(LeadChoice::parse("#5").unwrap().resolve(&rec), None);
        assert_eq!(parse_lead_list("MLII,V1|#1").unwrap().len(), 2);
        assert!(LeadChoice::parse("#x").is_err());
        assert!(parse_lead_list("MLII,").is_err());
    }
}
