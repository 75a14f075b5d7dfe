//! Progress bars on a terminal; plain progress lines (at most one every
//! [`LINE_INTERVAL`]) when stderr is not one, so a job log on a cluster shows how far a long
//! stage has come.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Least time between two progress lines of one step when stderr is not a terminal.
pub const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// A bar of `total` steps labelled `what`; hidden automatically when stderr is not a terminal.
pub fn bar(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Shows a run's stages as lines and each step as a bar on a terminal; elsewhere each step
/// as a progress line when it starts, at most every [`LINE_INTERVAL`] while it runs, and when it
/// ends (step, done / total, rate, time left).
#[derive(Default)]
pub struct TerminalReporter {
    current: Option<(String, ProgressBar)>,
    lines: Option<LineProgress>,
}

/// The progress of one step as plain lines.
struct LineProgress {
    label: String,
    started: Instant,
    last: Option<Instant>,
}

impl LineProgress {
    fn line(&self, done: usize, total: usize) -> String {
        let seconds = self.started.elapsed().as_secs_f64();
        // Within a tenth of a second (work found in the cache, a resumed stage) a rate says
        // nothing.
        if seconds < 0.1 {
            return format!("  {}: {done} / {total} (at once)", self.label);
        }
        let rate = done as f64 / seconds;
        let left = if done > 0 && done < total {
            format!(", about {:.0} s left", (total - done) as f64 / rate)
        } else {
            String::new()
        };
        format!(
            "  {}: {done} / {total} ({rate:.1}/s, {seconds:.0} s{left})",
            self.label
        )
    }
}

impl medpath_experiment::Reporter for TerminalReporter {
    fn stage(&mut self, text: &str) {
        match &self.current {
            Some((_, bar)) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn warn(&mut self, text: &str) {
        self.stage(&format!("WARNING: {text}"));
    }

    fn progress(&mut self, label: &str, done: usize, total: usize) {
        if !std::io::stderr().is_terminal() {
            self.progress_line(label, done, total);
            return;
        }
        if self.current.as_ref().is_none_or(|(l, _)| l != label) {
            if let Some((_, old)) = self.current.take() {
                old.finish_and_clear();
            }
            self.current = Some((label.to_string(), bar(total, label)));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done >= total {
                bar.finish_and_clear();
                self.current = None;
            }
        }
    }
}

impl TerminalReporter {
    /// A progress line when the step starts or ends, or when [`LINE_INTERVAL`] has passed.
    fn progress_line(&mut self, label: &str, done: usize, total: usize) {
        if self.lines.as_ref().is_none_or(|l| l.label != label) {
            self.lines = Some(LineProgress {
                label: label.to_string(),
                started: Instant::now(),
                last: None,
            });
        }
        let Some(step) = self.lines.as_mut() else {
            return;
        };
        let due = step.last.is_none_or(|t| t.elapsed() >= LINE_INTERVAL);
        if due || done >= total {
            eprintln!("{}", step.line(done, total));
            step.last = Some(Instant::now());
        }
        if done >= total {
            self.lines = None;
        }
    }
}
