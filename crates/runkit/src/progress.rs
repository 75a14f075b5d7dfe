//! How a run tells its user what it is doing: the command line shows bars, tests stay quiet.

/// Receives a run's progress.
pub trait Reporter {
    /// A stage begins (one line).
    fn stage(&mut self, text: &str);
    /// Something the user should know that does not stop the run.
    fn warn(&mut self, text: &str);
    /// `done` of `total` units of the current step labelled `label`; `done == total` ends it.
    fn progress(&mut self, label: &str, done: usize, total: usize);
}

/// A reporter that prints stages and warnings to stderr and ignores progress.
pub struct Plain;

impl Reporter for Plain {
    fn stage(&mut self, text: &str) {
        eprintln!("{text}");
    }
    fn warn(&mut self, text: &str) {
        eprintln!("WARNING: {text}");
    }
    fn progress(&mut self, _: &str, _: usize, _: usize) {}
}

/// A reporter that keeps the stage lines and warnings (for tests).
#[derive(Default)]
pub struct Recorder {
    /// Lines seen, warnings prefixed with `WARNING: `.
    pub lines: Vec<String>,
}

impl Reporter for Recorder {
    fn stage(&mut self, text: &str) {
        self.lines.push(text.to_string());
    }
    fn warn(&mut self, text: &str) {
        self.lines.push(format!("WARNING: {text}"));
    }
    fn progress(&mut self, _: &str, _: usize, _: usize) {}
}
