//! Progress bars on a terminal; silent when stderr is not one.

use indicatif::{ProgressBar, ProgressStyle};

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

/// Shows a run's stages as lines and each step as a bar (bars hidden when stderr is not a
/// terminal; stage lines always go to stderr).
#[derive(Default)]
pub struct TerminalReporter {
    current: Option<(String, ProgressBar)>,
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
