//! How a task's answer on an example combines the probabilities on its own picture with those on
//! its test-time pictures: their mean (test-time augmentation), or, for ECG beats, some classes
//! read from the beat drawn with its first lead alone.
//!
//! Why the first-lead rule exists: under record-kfold the second lead (V1) is what tells left
//! from right bundle branch block, yet a model that sees it calls the atrial premature beats of
//! an unseen patient worse than the same model shown MLII alone (docs/results/ecg.md). So `A`'s probability can come from the first-lead picture while L and R split
//! the rest as the two-lead picture splits them.

use medpath_pathnet::FeatureSet;
use serde::{Deserialize, Serialize};

use crate::error::{ReadoutError as Error, Result};

/// How the probabilities on an example's test-time pictures join those on its own picture.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViewRule {
    /// The mean over the picture and its views (no views: the picture's own probabilities).
    #[default]
    Mean,
    /// One view, the beat drawn with its first lead alone: the classes listed (indices) take
    /// their probabilities from it (`weight` of it, the rest from the beat's own picture); the
    /// other classes share what is left in the proportions the beat's own picture gives them.
    FirstLead {
        /// Indices of the classes read from the first-lead picture.
        classes: Vec<usize>,
        /// The first-lead picture's share of a listed class's probability, in (0, 1]; the
        /// beat's own picture gives the rest (1 in bundles written before the option existed).
        #[serde(default = "whole")]
        weight: f32,
    },
}

/// A listed class read from the first-lead picture alone.
fn whole() -> f32 {
    1.0
}

impl ViewRule {
    /// The combined probabilities (`k` per row) from those on the examples' own pictures and on
    /// each of their views (each in the same row order).
    pub fn combine(&self, own: Vec<f32>, views: &[Vec<f32>], k: usize) -> Result<Vec<f32>> {
        match self {
            ViewRule::Mean => {
                if views.is_empty() {
                    return Ok(own);
                }
                let mut sum = own;
                for view in views {
                    for (p, q) in sum.iter_mut().zip(view) {
                        *p += q;
                    }
                }
                let n = (1 + views.len()) as f32;
                sum.iter_mut().for_each(|p| *p /= n);
                Ok(sum)
            }
            // No rows (an empty test set): nothing to combine, and no view was drawn.
            ViewRule::FirstLead { .. } if own.is_empty() => Ok(own),
            ViewRule::FirstLead { classes, weight } => {
                let [first] = views else {
                    return Err(Error::Config(format!(
                        "the first-lead rule needs exactly one view, the first-lead picture; got {}",
                        views.len()
                    )));
                };
                Ok(first_lead_rows(&own, first, classes, *weight, k))
            }
        }
    }
}

/// [`ViewRule::FirstLead`] row by row: `classes` with the first-lead picture's `weight`.
fn first_lead_rows(
    own: &[f32],
    first: &[f32],
    classes: &[usize],
    weight: f32,
    k: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(own.len());
    for (mine, flat) in own.chunks_exact(k).zip(first.chunks_exact(k)) {
        let listed = |c: usize| classes.contains(&c);
        let blended = |c: usize| weight * flat[c] + (1.0 - weight) * mine[c];
        let from_first: f32 = (0..k).filter(|&c| listed(c)).map(blended).sum();
        let rest = (1.0 - from_first).max(0.0);
        let others: f32 = (0..k).filter(|&c| !listed(c)).map(|c| mine[c]).sum();
        let unlisted = (0..k).filter(|&c| !listed(c)).count().max(1) as f32;
        out.extend((0..k).map(|c| {
            if listed(c) {
                blended(c)
            } else if others > 0.0 {
                rest * mine[c] / others
            } else {
                rest / unlisted
            }
        }));
    }
    out
}

/// `predict`'s probabilities on `set` joined with those on its test-time `views` (each in
/// `set`'s row order) by `rule`.
pub fn answer_views(
    set: &FeatureSet,
    views: &[FeatureSet],
    rule: &ViewRule,
    predict: impl Fn(&FeatureSet) -> Result<Vec<f32>>,
) -> Result<Vec<f32>> {
    let own = predict(set)?;
    let on_views = views.iter().map(&predict).collect::<Result<Vec<_>>>()?;
    let k = if set.is_empty() {
        1
    } else {
        own.len() / set.len()
    };
    rule.combine(own, &on_views, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_averages_and_no_view_leaves_the_picture_alone() {
        let own = vec![0.6, 0.4, 0.2, 0.8];
        assert_eq!(ViewRule::Mean.combine(own.clone(), &[], 2).unwrap(), own);
        let mean = ViewRule::Mean
            .combine(own, &[vec![0.2, 0.8, 0.4, 0.6]], 2)
            .unwrap();
        for (a, b) in mean.iter().zip([0.4, 0.6, 0.3, 0.7]) {
            assert!((a - b).abs() < 1e-6, "{mean:?}");
        }
    }

    #[test]
    fn an_empty_set_needs_no_first_lead_view() {
        let rule = ViewRule::FirstLead {
            classes: vec![0],
            weight: 0.75,
        };
        assert!(rule.combine(Vec::new(), &[], 3).unwrap().is_empty());
        assert!(rule.combine(vec![0.2, 0.3, 0.5], &[], 3).is_err());
    }

    /// The first-lead rule with A listed at `weight`, on one beat whose own picture says A 0.1,
    /// L 0.6, R 0.3 (L twice R) and whose first-lead picture says A 0.7, L 0.0, R 0.3.
    fn one_beat(weight: f32) -> Vec<f32> {
        let rule = ViewRule::FirstLead {
            classes: vec![0],
            weight,
        };
        rule.combine(vec![0.1, 0.6, 0.3], &[vec![0.7, 0.0, 0.3]], 3)
            .unwrap()
    }

    fn assert_close(out: &[f32], expected: [f32; 3]) {
        for (a, b) in out.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{out:?}, expected {expected:?}");
        }
    }

    #[test]
    fn first_lead_classes_come_from_the_view_and_the_rest_keeps_the_pictures_proportions() {
        assert_close(&one_beat(1.0), [0.7, 0.2, 0.1]);
        let rule = ViewRule::FirstLead {
            classes: vec![0],
            weight: 1.0,
        };
        // When the own picture gives the other classes nothing, they split the rest evenly.
        let even = rule
            .combine(vec![1.0, 0.0, 0.0], &[vec![0.5, 0.25, 0.25]], 3)
            .unwrap();
        assert_eq!(even, vec![0.5, 0.25, 0.25]);
        let err = rule.combine(vec![1.0, 0.0, 0.0], &[], 3).unwrap_err();
        assert!(err.to_string().contains("exactly one view"), "{err}");
    }

    #[test]
    fn a_weight_under_one_blends_the_listed_classes_with_the_own_picture() {
        // A: 0.75 * 0.7 + 0.25 * 0.1 = 0.55; L and R share 0.45 two to one, as the own picture.
        let out = one_beat(0.75);
        assert_close(&out, [0.55, 0.3, 0.15]);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_bundle_without_a_weight_reads_the_first_lead_picture_alone() {
        let rule: ViewRule = serde_json::from_str(r#"{"first-lead":{"classes":[0]}}"#).unwrap();
        assert_eq!(
            rule,
            ViewRule::FirstLead {
                classes: vec![0],
                weight: 1.0
            }
        );
    }
}
