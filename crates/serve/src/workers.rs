//! The loaded models and their queue. One thread per model takes requests from a shared queue;
//! the images waiting together (without heat maps, for a model with no site-centred task, whose
//! answers would depend on the images given with them) are answered in one call, so that the
//! encoder sees a batch as `predict` does with many files. Clients answered together send their
//! next images at nearly the same time, not exactly: so a model with fewer images in hand than
//! the service lately held requests at once waits for the others (at most [`GATHER_WAIT`]).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use medpath_infer::predict::{Answers, Prediction, Predictor};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::upload::{Input, Staged};

/// Most waiting images answered in one call.
const MAX_BATCH: usize = 32;

/// Longest a model waits, with images in hand, for more to join them. The encoder's cost per
/// image at batch 1 is about twice its cost at batch 8.
pub const GATHER_WAIT: Duration = Duration::from_millis(20);

/// How long the most requests held at once is remembered.
const RECENT: Duration = Duration::from_secs(1);

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
    concurrency: Arc<Concurrency>,
}

/// How many prediction requests the service holds now, and the most it held at once lately.
#[derive(Default)]
pub struct Concurrency {
    now: AtomicUsize,
    /// The most held at once since the instant given.
    recent: Mutex<Option<(usize, Instant)>>,
}

impl Concurrency {
    /// Counts one more request held, and the most held at once lately.
    fn enter(this: &Arc<Concurrency>) -> InService {
        let now = this.now.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut recent) = this.recent.lock() {
            *recent = match *recent {
                Some((peak, since)) if since.elapsed() < RECENT => Some((peak.max(now), since)),
                _ => Some((now, Instant::now())),
            };
        }
        InService(this.clone())
    }

    /// The most requests held at once within about [`RECENT`] (at least those held now).
    fn recent_peak(&self) -> usize {
        let now = self.now.load(Ordering::SeqCst);
        let recent = self.recent.lock().ok().and_then(|r| *r);
        match recent {
            Some((peak, since)) if since.elapsed() < 2 * RECENT => peak.max(now),
            _ => now,
        }
    }
}

/// A request held by the service, from its first byte to its answer; counted until dropped.
pub struct InService(Arc<Concurrency>);

impl Drop for InService {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Workers {
    /// Starts one thread per model.
    pub fn start(predictors: Vec<Predictor>, metrics: Arc<Metrics>) -> Workers {
        let (queue, jobs) = channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let concurrency = Arc::new(Concurrency::default());
        for predictor in predictors {
            let batches = !predictor.bundle().tasks.iter().any(|t| t.centres_on_site());
            let queue = Queue {
                jobs: jobs.clone(),
                concurrency: concurrency.clone(),
                batches,
            };
            let metrics = metrics.clone();
            std::thread::spawn(move || serve_jobs(&predictor, &queue, &metrics));
        }
        Workers {
            queue,
            metrics,
            concurrency,
        }
    }

    /// Counts a request as held by the service until the returned value is dropped.
    pub fn enter(&self) -> InService {
        Concurrency::enter(&self.concurrency)
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

/// A model's view of the queue.
struct Queue {
    jobs: Arc<Mutex<Receiver<Job>>>,
    /// The requests the service holds.
    concurrency: Arc<Concurrency>,
    /// Whether the model may answer images together.
    batches: bool,
}

impl Queue {
    /// The next job: one waiting now, or, while a batch of `held` is smaller than the
    /// service lately held at once and `deadline` has not passed, one that comes in meanwhile.
    fn gather(&self, queue: &Receiver<Job>, held: usize, deadline: Instant) -> Option<Job> {
        if let Ok(job) = queue.try_recv() {
            return Some(job);
        }
        let now = Instant::now();
        if held >= self.concurrency.recent_peak() || now >= deadline {
            return None;
        }
        queue.recv_timeout(deadline - now).ok()
    }

    /// The next jobs: the first waiting one and, when it and the model allow, the images
    /// waiting behind it or arriving within [`GATHER_WAIT`]; then a job that could not join
    /// them, if any. `None` when the queue is closed.
    fn next_jobs(&self) -> Option<(Vec<Job>, Option<Job>)> {
        let queue = self.jobs.lock().ok()?;
        let first = queue.recv().ok()?;
        let deadline = Instant::now() + GATHER_WAIT;
        let mut batch = vec![first];
        let mut apart = None;
        if self.batches && batch[0].batchable() {
            while batch.len() < MAX_BATCH {
                match self.gather(&queue, batch.len(), deadline) {
                    Some(job) if job.batchable() => batch.push(job),
                    Some(job) => {
                        apart = Some(job);
                        break;
                    }
                    None => break,
                }
            }
        }
        Some((batch, apart))
    }
}

/// A model's thread: answers jobs until the queue closes.
fn serve_jobs(predictor: &Predictor, queue: &Queue, metrics: &Metrics) {
    while let Some((batch, apart)) = queue.next_jobs() {
        for _ in 0..batch.len() + usize::from(apart.is_some()) {
            metrics.queue(false);
        }
        let (batch, apart) = (wanted(batch), apart.filter(|job| !job.reply.is_closed()));
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

/// The jobs whose requester still waits: one that timed out or hung up is not worked on.
fn wanted(jobs: Vec<Job>) -> Vec<Job> {
    jobs.into_iter()
        .filter(|job| !job.reply.is_closed())
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_whose_requester_is_gone_is_not_worked_on() {
        let (mut kept, mut gone) = (image_job(), image_job());
        let (reply, _waiting) = oneshot::channel();
        kept.reply = reply;
        let (reply, hung_up) = oneshot::channel();
        gone.reply = reply;
        drop(hung_up);
        let left = wanted(vec![kept, gone]);
        assert_eq!(left.len(), 1);
        assert!(!left[0].reply.is_closed());
    }

    fn image_job() -> Job {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        Job {
            staged: Staged {
                dir,
                path,
                name: "x.png".into(),
                input: Input::Image,
            },
            explain: false,
            reply: oneshot::channel().0,
        }
    }

    fn queue(concurrency: &Arc<Concurrency>) -> (Sender<Job>, Queue) {
        let (sender, receiver) = channel();
        let queue = Queue {
            jobs: Arc::new(Mutex::new(receiver)),
            concurrency: concurrency.clone(),
            batches: true,
        };
        (sender, queue)
    }

    fn workers(concurrency: &Arc<Concurrency>) -> Workers {
        Workers {
            queue: channel().0,
            metrics: Arc::new(Metrics::default()),
            concurrency: concurrency.clone(),
        }
    }

    #[test]
    fn the_most_requests_held_at_once_is_remembered_after_they_leave() {
        let concurrency = Arc::new(Concurrency::default());
        let w = workers(&concurrency);
        let held: Vec<InService> = (0..3).map(|_| w.enter()).collect();
        assert_eq!(concurrency.recent_peak(), 3);
        drop(held);
        assert_eq!(concurrency.now.load(Ordering::SeqCst), 0);
        assert_eq!(concurrency.recent_peak(), 3);
    }

    #[test]
    fn a_model_waits_for_images_that_come_together_and_not_for_a_lone_client() {
        let concurrency = Arc::new(Concurrency::default());
        let w = workers(&concurrency);
        let (sender, q) = queue(&concurrency);
        // One client: its image is taken alone at once.
        drop(w.enter());
        sender.send(image_job()).unwrap();
        let started = Instant::now();
        let (batch, apart) = q.next_jobs().unwrap();
        assert_eq!((batch.len(), apart.is_none()), (1, true));
        assert!(started.elapsed() < GATHER_WAIT);
        // Three clients lately: the second and third images, sent a little later, join.
        let held: Vec<InService> = (0..3).map(|_| w.enter()).collect();
        sender.send(image_job()).unwrap();
        let late = sender.clone();
        let sending = std::thread::spawn(move || {
            for _ in 0..2 {
                std::thread::sleep(Duration::from_millis(1));
                late.send(image_job()).unwrap();
            }
        });
        let (batch, _) = q.next_jobs().unwrap();
        sending.join().unwrap();
        assert_eq!(batch.len(), 3);
        drop(held);
    }
}
