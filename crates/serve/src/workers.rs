//! The loaded models and their queue. One thread per model takes requests from a shared queue;
//! the images waiting together (without heat maps, for a model with no site-centred task, whose
//! answers would depend on the images given with them) are answered in one call, so that the
//! encoder sees a batch as `predict` does with many files.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use medpath_infer::predict::{Answers, Prediction, Predictor};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::upload::{Input, Staged};

/// Most waiting images answered in one call.
const MAX_BATCH: usize = 32;

/// One request for a model.
pub struct Job {
    /// The upload on disk.
    pub staged: Staged,
    /// Whether heat maps were asked for.
    pub explain: bool,
    /// Where the answer goes: the document, or a one-line reason.
    pub reply: oneshot::Sender<Result<Value, String>>,
}

impl Job {
    /// Whether the job can share a call with other images.
    fn batchable(&self) -> bool {
        self.staged.input == Input::Image && !self.explain
    }
}

/// The queue in front of the models.
pub struct Workers {
    queue: Sender<Job>,
    metrics: Arc<Metrics>,
}

impl Workers {
    /// Starts one thread per model.
    pub fn start(predictors: Vec<Predictor>, metrics: Arc<Metrics>) -> Workers {
        let (queue, jobs) = channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for predictor in predictors {
            let batches = !predictor.bundle().tasks.iter().any(|t| t.centres_on_site());
            let (jobs, metrics) = (jobs.clone(), metrics.clone());
            std::thread::spawn(move || serve_jobs(&predictor, &jobs, &metrics, batches));
        }
        Workers { queue, metrics }
    }

    /// Puts a job in the queue.
    pub fn submit(&self, job: Job) -> Result<(), String> {
        self.metrics.queue(true);
        self.queue.send(job).map_err(|_| {
            self.metrics.queue(false);
            "no model is running".to_string()
        })
    }
}

/// The next jobs: the first waiting one and, when it and the model allow, the images waiting
/// behind it; then a job that could not join them, if any. `None` when the queue is closed.
fn next_jobs(jobs: &Mutex<Receiver<Job>>, batches: bool) -> Option<(Vec<Job>, Option<Job>)> {
    let queue = jobs.lock().ok()?;
    let first = queue.recv().ok()?;
    let mut batch = vec![first];
    let mut apart = None;
    if batches && batch[0].batchable() {
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) if job.batchable() => batch.push(job),
                Ok(job) => {
                    apart = Some(job);
                    break;
                }
                Err(_) => break,
            }
        }
    }
    Some((batch, apart))
}

/// A model's thread: answers jobs until the queue closes.
fn serve_jobs(
    predictor: &Predictor,
    jobs: &Mutex<Receiver<Job>>,
    metrics: &Metrics,
    batches: bool,
) {
    while let Some((batch, apart)) = next_jobs(jobs, batches) {
        for _ in 0..batch.len() + usize::from(apart.is_some()) {
            metrics.queue(false);
        }
        if batch.len() > 1 {
            answer_batch(predictor, batch, metrics);
        } else {
            batch
                .into_iter()
                .for_each(|job| answer_one(predictor, job, metrics));
        }
        if let Some(job) = apart {
            answer_one(predictor, job, metrics);
        }
    }
}

/// Images answered in one call; if the call fails (one unreadable image fails them all), each
/// is answered alone, so the bad one gets its own reason.
fn answer_batch(predictor: &Predictor, batch: Vec<Job>, metrics: &Metrics) {
    let paths: Vec<_> = batch.iter().map(|j| j.staged.path.clone()).collect();
    match predictor.images(&paths, None) {
        Ok(predictions) if predictions.len() == batch.len() => {
            for (job, prediction) in batch.into_iter().zip(predictions) {
                let notes = predictor.notes(std::slice::from_ref(&prediction));
                let answers = Answers::new(vec![prediction], Vec::new(), notes);
                let doc = document(&job, Ok(answers), metrics);
                let _ = job.reply.send(doc);
            }
        }
        _ => batch
            .into_iter()
            .for_each(|job| answer_one(predictor, job, metrics)),
    }
}

/// One job answered on its own.
fn answer_one(predictor: &Predictor, job: Job, metrics: &Metrics) {
    let heat_dir = job.staged.dir.path().join("explain");
    let explain = job.explain.then_some(heat_dir.as_path());
    let answers = run_model(predictor, &job.staged, explain);
    let mut doc = document(&job, answers, metrics);
    if let (true, Ok(doc)) = (job.explain, doc.as_mut()) {
        doc["explanations"] = heat_maps(&heat_dir);
    }
    let _ = job.reply.send(doc);
}

/// The model's answers on an image or a record.
fn run_model(
    predictor: &Predictor,
    staged: &Staged,
    explain: Option<&Path>,
) -> medpath_infer::Result<Answers> {
    let (predictions, records): (Vec<Prediction>, _) = match staged.input {
        Input::Image => (
            predictor.images(std::slice::from_ref(&staged.path), explain)?,
            Vec::new(),
        ),
        Input::Record => {
            let (rows, summary) = predictor.record(&staged.path, explain)?;
            (rows, vec![summary])
        }
    };
    let notes = predictor.notes(&predictions);
    Ok(Answers::new(predictions, records, notes))
}

/// The document `predict --json` prints, inputs named as uploaded; or the error in one line
/// with the upload's name in place of its temporary path.
fn document(
    job: &Job,
    answers: medpath_infer::Result<Answers>,
    metrics: &Metrics,
) -> Result<Value, String> {
    let staged = &job.staged;
    let shown = |text: String| text.replace(&staged.path.display().to_string(), &staged.name);
    let mut answers = answers.map_err(|e| shown(e.to_string()))?;
    for p in &mut answers.predictions {
        p.input = shown(std::mem::take(&mut p.input));
    }
    for r in &mut answers.records {
        r.record = staged.name.clone();
    }
    let rejected = answers.summary.rejected;
    metrics.inputs(answers.summary.inputs - rejected, rejected);
    // Through text, so that numbers read as `predict --json` prints them (an f32 as its
    // shortest decimal, not widened to f64 first).
    let text = serde_json::to_string(&answers).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Every heat map written into `dir`: its name, the PNG as base64 and its numbers.
fn heat_maps(dir: &Path) -> Value {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let maps = files.into_iter().filter_map(|png| {
        let numbers = std::fs::read_to_string(png.with_extension("json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let bytes = std::fs::read(&png).ok()?;
        Some(json!({
            "name": png.file_stem().map(|s| s.to_string_lossy().to_string()),
            "png_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
            "map": numbers,
        }))
    });
    Value::Array(maps.collect())
}
