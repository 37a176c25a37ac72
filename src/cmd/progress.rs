//! Progress for people at a terminal, for long saves and appends (indicatif): drawn on stderr
//! only when it is a terminal (never into a pipe or a log file), only once the work has passed
//! 64 MiB or lasted 2 seconds (a short command stays silent), cleared when it ends, and without
//! colour when `NO_COLOR` is set. Updating it is a comparison until it is due, so a stream is
//! not slowed down by it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work done before the progress line appears.
const SHOW_AFTER_BYTES: u64 = 64 << 20;
const SHOW_AFTER: Duration = Duration::from_secs(2);

pub(crate) struct Progress {
    /// `None` when stderr is not a terminal: nothing is ever drawn.
    started: Option<Instant>,
    bar: Option<ProgressBar>,
    what: String,
    total: Option<u64>,
}

impl Progress {
    /// Progress of `what` ("saving app.conf"), `total` bytes if known.
    pub(crate) fn new(what: String, total: Option<u64>) -> Progress {
        Progress {
            started: std::io::stderr().is_terminal().then(Instant::now),
            bar: None,
            what,
            total,
        }
    }

    /// `done` bytes so far; `detail` is added to the line ("1234 records").
    pub(crate) fn update(&mut self, done: u64, detail: Option<String>) {
        let Some(started) = self.started else {
            return;
        };
        if self.bar.is_none() {
            if done < SHOW_AFTER_BYTES && started.elapsed() < SHOW_AFTER {
                return;
            }
            self.bar = Some(self.make_bar());
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            if let Some(detail) = detail {
                bar.set_message(format!("{}: {detail}", self.what));
            }
        }
    }

    fn make_bar(&self) -> ProgressBar {
        let plain = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let template = match (self.total, plain) {
            (Some(_), false) => {
                "{msg} {bar:30.cyan/blue} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)"
            }
            (Some(_), true) => {
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)"
            }
            (None, false) => "{spinner:.cyan} {msg} {bytes} ({bytes_per_sec})",
            (None, true) => "{spinner} {msg} {bytes} ({bytes_per_sec})",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(self.total, ProgressDrawTarget::stderr());
        bar.set_style(style);
        bar.set_message(self.what.clone());
        bar
    }

    /// Take the line off the terminal.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
