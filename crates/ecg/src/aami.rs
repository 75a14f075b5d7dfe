//! The AAMI view of beat classes (ANSI/AAMI EC57), in which the inter-patient literature
//! reports its results: beat symbols grouped into N (normal and bundle branch block beats,
//! escapes), S (supraventricular ectopic), V (ventricular ectopic), F (fusion) and Q (paced
//! and unclassifiable).

use serde::{Deserialize, Serialize};

/// The AAMI classes, in their usual order.
pub const AAMI_CLASSES: [&str; 5] = ["N", "S", "V", "F", "Q"];

/// The AAMI class of a MIT-BIH beat symbol (`None` for a non-beat symbol).
pub fn aami_class(symbol: &str) -> Option<&'static str> {
    Some(match symbol {
        "N" | "L" | "R" | "e" | "j" => "N",
        "A" | "a" | "J" | "S" => "S",
        "V" | "E" => "V",
        "F" => "F",
        "/" | "f" | "Q" => "Q",
        _ => return None,
    })
}

/// One AAMI class's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AamiClass {
    /// The AAMI class.
    pub class: String,
    /// Beats of the class.
    pub n: usize,
    /// Sensitivity: beats of the class answered as the class, over its beats.
    pub sensitivity: f64,
    /// Positive predictivity: beats answered as the class that are of it, over those answered
    /// as it (0 when none was).
    pub positive_predictivity: f64,
}

/// Answers seen through the AAMI classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AamiView {
    /// Beats counted.
    pub n: usize,
    /// Share of beats whose answer is of their AAMI class.
    pub accuracy: f64,
    /// Per AAMI class that the task's classes map to.
    pub classes: Vec<AamiClass>,
    /// The task's classes that make up each AAMI class, as `N = N+L+R`.
    pub mapping: Vec<String>,
}

impl AamiView {
    /// The AAMI view of a confusion matrix over beat-symbol `classes` (rows true, columns
    /// answered); `None` when some class has no AAMI class or fewer than two AAMI classes are
    /// covered.
    pub fn from_confusion(classes: &[String], confusion: &[Vec<usize>]) -> Option<AamiView> {
        let groups: Vec<&str> = classes
            .iter()
            .map(|c| aami_class(c))
            .collect::<Option<_>>()?;
        let present: Vec<&str> = AAMI_CLASSES
            .iter()
            .copied()
            .filter(|a| groups.contains(a))
            .collect();
        if present.len() < 2 {
            return None;
        }
        let count = |truth: &str, answered: &str| -> usize {
            (0..classes.len())
                .filter(|&t| groups[t] == truth)
                .flat_map(|t| {
                    (0..classes.len())
                        .filter(|&a| groups[a] == answered)
                        .map(move |a| confusion[t][a])
                })
                .sum()
        };
        let total: usize = confusion.iter().flatten().sum();
        let right: usize = present.iter().map(|a| count(a, a)).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class = present
            .iter()
            .map(|&a| {
                let n: usize = present.iter().map(|&b| count(a, b)).sum();
                let answered: usize = present.iter().map(|&b| count(b, a)).sum();
                AamiClass {
                    class: a.to_string(),
                    n,
                    sensitivity: ratio(count(a, a), n),
                    positive_predictivity: ratio(count(a, a), answered),
                }
            })
            .collect();
        let mapping = present
            .iter()
            .map(|&a| {
                let members: Vec<&str> = classes
                    .iter()
                    .zip(&groups)
                    .filter(|(_, g)| **g == a)
                    .map(|(c, _)| c.as_str())
                    .collect();
                format!("{a} = {}", members.join("+"))
            })
            .collect();
        Some(AamiView {
            n: total,
            accuracy: ratio(right, total),
            classes: per_class,
            mapping,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_beat_classes_fold_into_n_s_v() {
        let classes: Vec<String> = ["N", "A", "L", "R", "V"].map(String::from).to_vec();
        // Rows true, columns answered: an L beat answered R is still right in the AAMI view;
        // an A beat answered N is an S miss; a V beat answered A is an S false positive.
        let confusion = vec![
            vec![90, 2, 0, 0, 0],
            vec![3, 7, 0, 0, 0],
            vec![0, 0, 10, 5, 0],
            vec![0, 0, 0, 20, 0],
            vec![0, 1, 0, 0, 9],
        ];
        let view = AamiView::from_confusion(&classes, &confusion).unwrap();
        assert_eq!(view.n, 147);
        assert_eq!(view.mapping, ["N = N+L+R", "S = A", "V = V"]);
        let s = &view.classes[1];
        assert_eq!((s.class.as_str(), s.n), ("S", 10));
        assert!((s.sensitivity - 0.7).abs() < 1e-12);
        assert!((s.positive_predictivity - 0.7).abs() < 1e-12);
        let n = &view.classes[0];
        assert!((n.sensitivity - 125.0 / 127.0).abs() < 1e-12);
        assert!((view.accuracy - (125.0 + 7.0 + 9.0) / 147.0).abs() < 1e-12);
        // A/L/R alone: N and S.
        let three: Vec<String> = ["A", "L", "R"].map(String::from).to_vec();
        let view = AamiView::from_confusion(&three, &[vec![1, 0, 0], vec![0, 1, 0], vec![0, 0, 1]]);
        assert_eq!(view.unwrap().classes.len(), 2);
        let unknown: Vec<String> = ["A", "x"].map(String::from).to_vec();
        assert!(AamiView::from_confusion(&unknown, &[vec![1, 0], vec![0, 1]]).is_none());
    }
}
