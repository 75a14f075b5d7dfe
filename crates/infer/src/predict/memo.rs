//! Plain features of one call's images, each encoded at most once per side: the novelty rule,
//! the router, the answering task and its follow-up tasks often work at the same side, and an
//! image's features there are the same for all of them.

use std::cell::RefCell;
use std::collections::HashMap;

use medpath_model::ViewRequest;
use medpath_pathnet::FeatureSet;

use super::Predictor;
use crate::encoder::Encoding;
use crate::error::Result;

/// The features encoded so far: per side, every encoded input's features in one set, and
/// where each input's row is in it.
pub(super) struct PlainMemo<'a> {
    requests: &'a [ViewRequest],
    by_size: RefCell<HashMap<usize, Encoded>>,
}

/// The inputs encoded at one side.
struct Encoded {
    set: FeatureSet,
    row_of: HashMap<usize, usize>,
}

impl<'a> PlainMemo<'a> {
    /// An empty memo over the call's `requests` (inputs are named by their index there).
    pub(super) fn new(requests: &'a [ViewRequest]) -> PlainMemo<'a> {
        PlainMemo {
            requests,
            by_size: RefCell::new(HashMap::new()),
        }
    }

    /// The plain features at side `size` of the inputs `indices`, in that order; only those
    /// not yet encoded at that side are encoded.
    pub(super) fn set(
        &self,
        predictor: &Predictor,
        indices: &[usize],
        size: usize,
    ) -> Result<FeatureSet> {
        let mut by_size = self.by_size.borrow_mut();
        let encoded = by_size.entry(size).or_insert_with(|| Encoded {
            set: Encoding::feature_set(size, predictor.bundle.net.config.side_width),
            row_of: HashMap::new(),
        });
        let missing: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|i| !encoded.row_of.contains_key(i))
            .collect();
        if !missing.is_empty() {
            let requests: Vec<ViewRequest> =
                missing.iter().map(|&i| self.requests[i].clone()).collect();
            let fresh = predictor.plain_features(&requests, size)?;
            for (row, &i) in missing.iter().enumerate() {
                encoded.row_of.insert(i, encoded.set.len() + row);
            }
            encoded.set.extend(&fresh)?;
        }
        let rows: Vec<usize> = indices.iter().map(|i| encoded.row_of[i]).collect();
        Ok(encoded.set.select(&rows)?)
    }
}
