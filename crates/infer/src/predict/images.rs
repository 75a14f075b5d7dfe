//! Routing and answering images: each image is checked against the novelty rule, routed to a
//! task and answered by it (with its test-time views and site centring where the task has
//! them).

use std::path::{Path as FilePath, PathBuf};

use medpath_model::ViewRequest;
use medpath_pathnet::{FeatureSet, argmax_rows};

use super::heat::Shown;
use super::memo::PlainMemo;
use super::{FollowUpAnswer, Prediction, Predictor, site_centre};
use crate::error::{InferError as Error, Result};
use medpath_readout::subtract;

impl Predictor {
    /// Routes and classifies images; images that belong to no task are rejected. With
    /// `explain`, an occlusion map of each classified image is written there.
    pub fn images(&self, paths: &[PathBuf], explain: Option<&FilePath>) -> Result<Vec<Prediction>> {
        let b = &self.bundle.bundle;
        let requests: Vec<ViewRequest> = paths.iter().cloned().map(ViewRequest::file).collect();
        let memo = PlainMemo::new(&requests);
        let rejections = self.image_rejections(paths, &requests, &memo)?;
        let accepted: Vec<usize> = (0..paths.len())
            .filter(|&i| rejections[i].is_none())
            .collect();
        let accepted_requests: Vec<ViewRequest> =
            accepted.iter().map(|&i| requests[i].clone()).collect();
        let route_probs = match (&b.router, accepted.is_empty()) {
            (_, true) => Vec::new(),
            (Some(router), false) => {
                let set = memo.set(self, &accepted, router.size)?;
                self.route(&accepted_requests, Some((router.size, &set)))?
            }
            (None, false) => self.route(&accepted_requests, None)?,
        };
        let routed = b.routed_tasks();
        let routes = argmax_rows(&route_probs, routed);
        let mut out: Vec<Option<Prediction>> = rejections
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.map(|why| Prediction::rejected(paths[i].display().to_string(), None, None, why))
            })
            .collect();
        for (t, task) in b.tasks[..routed].iter().enumerate() {
            let mine: Vec<usize> = (0..accepted.len()).filter(|&a| routes[a] == t).collect();
            if mine.is_empty() {
                continue;
            }
            let mine_paths: Vec<PathBuf> =
                mine.iter().map(|&a| paths[accepted[a]].clone()).collect();
            let inputs: Vec<usize> = mine.iter().map(|&a| accepted[a]).collect();
            let plain = memo.set(self, &inputs, task.size)?;
            let ImageAnswers {
                classes: answers,
                probs,
                centre,
            } = self.answer_images(t, &mine_paths, plain)?;
            let k = task.classes.len();
            for (row, &a) in mine.iter().enumerate() {
                let c = answers[row];
                if let Some(dir) = explain {
                    let shown = Shown::file(&mine_paths[row], self, task.size)?;
                    self.explain(task, (&shown, None), (c, None, centre.as_deref()), dir)?;
                }
                out[accepted[a]] = Some(Prediction {
                    input: mine_paths[row].display().to_string(),
                    sample: None,
                    annotation: None,
                    task: Some(task.name.clone()),
                    class: Some(task.classes[c].clone()),
                    probability: Some(probs[row * k + c]),
                    routed_task: Some(task.name.clone()),
                    routing_probability: Some(route_probs[a * routed + t]),
                    rejected: None,
                    follow_up: None,
                });
            }
        }
        let mut out: Vec<Prediction> = out.into_iter().flatten().collect();
        self.ask_follow_ups(&mut out, &memo)?;
        Ok(out)
    }

    /// The novelty rule's rejection of each image (a blank image is rejected as such).
    fn image_rejections(
        &self,
        paths: &[PathBuf],
        requests: &[ViewRequest],
        memo: &PlainMemo,
    ) -> Result<Vec<Option<crate::novelty::Rejection>>> {
        let Some(model) = &self.novelty else {
            return Ok(vec![None; paths.len()]);
        };
        let all: Vec<usize> = (0..paths.len()).collect();
        let seen = memo.set(self, &all, model.size)?;
        let mut rejections = self.novelty_checks(requests, Some((model.size, &seen)))?;
        for (path, rejection) in paths.iter().zip(rejections.iter_mut()) {
            if let Some(blank) = crate::novelty::blank_file(path)? {
                *rejection = Some(blank);
            }
        }
        Ok(rejections)
    }

    /// Asks each follow-up task about the images whose answer leads to it, and adds its answer
    /// (`out` in the order of the call's inputs, whose features `memo` keeps).
    fn ask_follow_ups(&self, out: &mut [Prediction], memo: &PlainMemo) -> Result<()> {
        let b = &self.bundle.bundle;
        for (f, task) in b.tasks.iter().enumerate() {
            let Some(follows) = &task.follows else {
                continue;
            };
            let asked: Vec<usize> = (0..out.len())
                .filter(|&i| {
                    out[i].task.as_deref() == Some(follows.task.as_str())
                        && out[i].class.as_deref() == Some(follows.class.as_str())
                })
                .collect();
            if asked.is_empty() {
                continue;
            }
            let paths: Vec<PathBuf> = asked
                .iter()
                .map(|&i| PathBuf::from(&out[i].input))
                .collect();
            let answers = self.answer_images(f, &paths, memo.set(self, &asked, task.size)?)?;
            let k = task.classes.len();
            for (row, &i) in asked.iter().enumerate() {
                let c = answers.classes[row];
                out[i].follow_up = Some(FollowUpAnswer {
                    task: task.name.clone(),
                    class: task.classes[c].clone(),
                    probability: answers.probs[row * k + c],
                });
            }
        }
        Ok(())
    }

    /// Task `t`'s answers on the images `paths` (routed to it), whose plain features at the
    /// task's side are `set`.
    fn answer_images(
        &self,
        t: usize,
        paths: &[PathBuf],
        mut set: FeatureSet,
    ) -> Result<ImageAnswers> {
        let task = &self.bundle.bundle.tasks[t];
        let mut views = (1..task.tta_views)
            .map(|view| {
                let augment = task.augment.config(task.tta_views, 0);
                let viewed: Vec<ViewRequest> = paths
                    .iter()
                    .map(|p| ViewRequest::file_view(p.clone(), view))
                    .collect();
                self.features(&viewed, task.size, augment)
            })
            .collect::<Result<Vec<_>>>()?;
        let centre = site_centre(task, &set)?;
        if let Some(centre) = &centre {
            for s in std::iter::once(&mut set).chain(views.iter_mut()) {
                s.map_examples(|example| subtract(example, centre))?;
            }
        }
        if set.len() != paths.len() {
            return Err(Error::Config(format!(
                "task `{}`: {} of {} images encoded",
                task.name,
                set.len(),
                paths.len()
            )));
        }
        let (classes, probs) = self.answer_views(task, &set, &views)?;
        Ok(ImageAnswers {
            classes,
            probs,
            centre,
        })
    }
}

/// A task's answers on images routed to it.
struct ImageAnswers {
    /// Decided class per image.
    classes: Vec<usize>,
    /// Calibrated probabilities, row per image.
    probs: Vec<f32>,
    /// The mean features the images were centred on (site-centred tasks).
    centre: Option<Vec<f32>>,
}
