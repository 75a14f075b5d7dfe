//! Patient identifiers from Kermany chest X-ray file names.
//!
//! `person1946_bacteria_4874.jpeg` → `person1946`; `IM-0117-0001.jpeg` and `IM-0117-0001-0002.jpeg`
//! → `IM-0117`; `NORMAL2-IM-1427-0001.jpeg` → `NORMAL2-IM-1427`. Any other name is its own patient
//! (its file stem), which is the safe choice: it never merges two patients.

use std::path::Path;

/// The patient id a file name carries, or the file stem when it carries none.
pub fn patient_id(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(rest) = stem.strip_prefix("person") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with('_') {
            return format!("person{digits}");
        }
    }
    let parts: Vec<&str> = stem.split('-').collect();
    if let Some(im) = parts.iter().position(|p| *p == "IM")
        && let Some(number) = parts
            .get(im + 1)
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    {
        let mut id = parts[..im].to_vec();
        id.extend(["IM", number]);
        return id.join("-");
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kermany_names_give_patient_ids() {
        let cases = [
            ("person1946_bacteria_4874.jpeg", "person1946"),
            ("person1_virus_6.jpeg", "person1"),
            ("person1_virus_6_2.jpeg", "person1"),
            ("IM-0117-0001.jpeg", "IM-0117"),
            ("IM-0117-0001-0002.jpeg", "IM-0117"),
            ("NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-1427"),
            ("NORMAL2-IM-1427-0001-0001.jpeg", "NORMAL2-IM-1427"),
            ("scan_77.png", "scan_77"),
            ("personal.png", "personal"),
            ("IM-x.png", "IM-x"),
        ];
        for (name, id) in cases {
            assert_eq!(patient_id(Path::new(name)), id, "{name}");
        }
    }
}
