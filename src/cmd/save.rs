//! `durable save`: arguments to [`durable::SaveOptions`], the input source, the interrupt
//! handler, and the text, trace and JSON output.

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use durable::quote::quoted;
use durable::{
    Aftermath, Error, FileInput, HardLinks, Input, Interrupted, Note, Plan, Producer, SaveOptions,
    SaveReport, Settled, StdinInput, StepRecord, Strategy, SyncLevel,
};

use super::json::{self, Data, SaveFailure, SavePlan, SaveResult, SettledJournal, StepDone};
use super::{Failure, print_stdout};
use crate::cli::{HardLinksArg, SaveArgs, StrategyArg, SyncArg};
use crate::exit::Exit;

pub(super) fn run(args: SaveArgs) -> Result<Exit, Failure> {
    if args.hardlinks.is_some() && args.strategy != StrategyArg::Atomic {
        // In place, every name of the file gets the new content: there is nothing to choose.
        let message = format!(
            "--hardlinks only applies to --strategy atomic (which replaces one name); --strategy {} updates every name of the file, so it would do nothing; {} was not changed",
            strategy(args.strategy).name(),
            quoted(&args.target)
        );
        return Err(report_failure(
            &args,
            Exit::Error,
            "unchanged",
            message,
            &[],
        ));
    }
    if durable::log::stream::is_stdin(&args.target) {
        // Standard input is already where the content comes from; `-` as TARGET would only
        // ever create a file named "-".
        let message = "`durable save -` would write a file named -: the new content comes from standard input by default (`durable save FILE < input`); to write a file named -, use ./-".to_string();
        return Err(report_failure(
            &args,
            Exit::Error,
            "unchanged",
            message,
            &[],
        ));
    }
    let opts = options(&args);
    if args.explain {
        return explain(&args, &opts);
    }
    install_interrupt_cleanup(&args);
    let mut input: Box<dyn Input> = match (&args.from, args.producer.split_first()) {
        (Some(path), _) if durable::log::stream::is_stdin(path) => Box::new(StdinInput::new()),
        (Some(path), _) => Box::new(FileInput::open(path).map_err(|e| failed(&args, e, &[]))?),
        (None, Some((program, rest))) => {
            Box::new(Producer::spawn(program, rest).map_err(|e| failed(&args, e, &[]))?)
        }
        (None, None) => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!(
                    "durable: reading the new content of {} from the terminal; end it with Ctrl-D (Ctrl-C abandons the save)",
                    quoted(&args.target)
                );
            }
            Box::new(StdinInput::new())
        }
    };
    let mut observer = Trace {
        target: &args.target,
        verbose: args.verbose,
        steps: Vec::new(),
        progress: None,
    };
    let result = durable::save(&args.target, input.as_mut(), &opts, &mut observer);
    let steps = observer.steps;
    drop(input);
    match result {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("durable: warning: {warning}");
            }
            if let Some(settled) = &report.settled {
                eprintln!(
                    "durable: {}",
                    describe_settled(settled, &report.target.path)
                );
            }
            if args.json {
                print_stdout(&format!("{}\n", json::line(&report_json(&report))?))?;
            } else if args.verbose {
                eprintln!(
                    "durable: {} {} ({} bytes, {}, sync {})",
                    report.outcome.name(),
                    quoted(&report.target.path),
                    report.bytes,
                    report.strategy.name(),
                    report.sync.name()
                );
            }
            Ok(Exit::Success)
        }
        Err(error) => Err(failed(&args, error, &steps)),
    }
}

/// Collects the steps (for `--json` and failures), traces them with `-v`, and says why a save
/// waits.
struct Trace<'a> {
    target: &'a Path,
    verbose: bool,
    steps: Vec<StepRecord>,
    progress: Option<super::progress::Progress>,
}

impl durable::Observer for Trace<'_> {
    fn step(&mut self, record: &StepRecord) {
        if let Some(progress) = &mut self.progress {
            // The content is in; the steps after it are short.
            progress.finish();
        }
        if self.verbose {
            eprintln!(
                "durable: {:<16} {:>10}  {}",
                record.step.name(),
                format_duration(record.duration),
                quoted(&record.path)
            );
        }
        self.steps.push(record.clone());
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        self.progress
            .get_or_insert_with(|| {
                super::progress::Progress::new(format!("saving {}", quoted(self.target)), total)
            })
            .update(done, None);
    }

    fn waiting(&mut self, path: &Path) {
        eprintln!(
            "durable: waiting for another `durable save` of {} to finish (a process holds the lock on {}); --no-wait fails instead",
            quoted(self.target),
            quoted(path)
        );
    }
}

fn options(args: &SaveArgs) -> SaveOptions {
    SaveOptions {
        strategy: strategy(args.strategy),
        sync: match args.sync {
            SyncArg::Full => SyncLevel::Full,
            SyncArg::Data => SyncLevel::Data,
            SyncArg::None => SyncLevel::None,
        },
        mode: args.mode,
        no_follow: args.no_follow,
        hardlinks: match args.hardlinks {
            None | Some(HardLinksArg::Refuse) => HardLinks::Refuse,
            Some(HardLinksArg::Break) => HardLinks::Break,
        },
        no_clobber: args.no_clobber,
        backup: args.backup,
        if_changed: args.if_changed,
        allow_empty: args.allow_empty,
        verify: args.verify,
        no_wait: args.no_wait,
    }
}

fn strategy(arg: StrategyArg) -> Strategy {
    match arg {
        StrategyArg::Atomic => Strategy::Atomic,
        StrategyArg::InPlace => Strategy::InPlace,
        StrategyArg::Journal => Strategy::Journal,
    }
}

/// Turn a library error into the printed sentence and exit status; with `--json`, also print the
/// failure as the result object.
fn failed(args: &SaveArgs, error: Error, steps: &[StepRecord]) -> Failure {
    let target = quoted(&args.target);
    let state = match error.aftermath() {
        // The name may hold something else now, which the save did not touch either.
        Aftermath::Unchanged if matches!(error, Error::TargetChanged { .. }) => {
            "nothing was changed".to_string()
        }
        Aftermath::Unchanged => format!("{target} was not changed"),
        // The sentence says what is left, and where.
        Aftermath::LeftBehind => String::new(),
        // Not applied for a reason the next save meets too: the sentence says what completes it.
        Aftermath::Pending if matches!(error, Error::JournalKept { .. }) => {
            format!("{target} was not changed, and the journal is kept")
        }
        Aftermath::Unconfirmed => {
            format!("{target} holds the new content, but it may not survive a power loss")
        }
        Aftermath::Damaged => format!(
            "{target} may now hold a mix of old and new content (--strategy in-place is not crash-atomic)"
        ),
        Aftermath::EarlierPending => format!(
            "this save wrote nothing; the earlier save is still pending in its journal (the next `durable save` of {target} tries again)"
        ),
        Aftermath::Pending => format!(
            "the new content is safe in the journal, and the next `durable save` of {target} completes it"
        ),
    };
    // A journal that recover would refuse too (another user's, protected, unreadable) is not
    // settled by any later save either: say so, and how it is settled, in the same sentence.
    let refused = match &error {
        Error::Settle { source, .. } => matches!(
            **source,
            Error::JournalNotApplied { .. }
                | Error::JournalUnreadable { .. }
                | Error::Protected { .. }
                | Error::CannotChange { .. }
        ),
        _ => false,
    };
    let message = if refused {
        let hint = super::failure::hint(&error)
            .map(|h| format!(": {}", continued(&h)))
            .unwrap_or_default();
        format!(
            "{error}; this save wrote nothing, and no save of {target} goes ahead until that journal is settled{hint}"
        )
    } else if state.is_empty() {
        super::sentence(&error)
    } else {
        format!("{}; {state}", super::sentence(&error))
    };
    let exit = super::exit_for(&error, super::Op::Write);
    let aftermath = match error.aftermath() {
        Aftermath::Unchanged => "unchanged",
        Aftermath::Unconfirmed => "unconfirmed",
        Aftermath::Damaged => "damaged",
        Aftermath::Pending => "pending",
        Aftermath::EarlierPending => "earlier-pending",
        Aftermath::LeftBehind => "left-behind",
    };
    report_failure(args, exit, aftermath, message, steps)
}

/// The failure to return; with `--json`, also printed as the result object.
fn report_failure(
    args: &SaveArgs,
    exit: Exit,
    aftermath: &'static str,
    message: String,
    steps: &[StepRecord],
) -> Failure {
    if args.json {
        let value = SaveFailure {
            target: Data::path(&args.target),
            outcome: "failed",
            aftermath,
            error: message.clone(),
            exit_code: exit,
            steps: steps.iter().map(StepDone::from).collect(),
        };
        if let Ok(text) = json::line(&value) {
            let _ = print_stdout(&format!("{text}\n"));
        }
    }
    Failure {
        exit,
        error: anyhow!(message),
    }
}

fn explain(args: &SaveArgs, opts: &SaveOptions) -> Result<Exit, Failure> {
    let plan = durable::plan(&args.target, opts).map_err(|e| failed(args, e, &[]))?;
    let text = if args.json {
        format!("{}\n", json::line(&plan_json(&plan))?)
    } else {
        plan_text(&plan)
    };
    print_stdout(&text)?;
    Ok(Exit::Success)
}

fn plan_text(plan: &Plan) -> String {
    let mut out = format!(
        "durable save would write {} ({}, sync {}):\n",
        quoted(&plan.target.path),
        plan.strategy.name(),
        plan.sync.name()
    );
    let width = plan
        .steps
        .iter()
        .map(|s| s.step.name().len())
        .max()
        .unwrap_or(0);
    for (i, planned) in plan.steps.iter().enumerate() {
        out.push_str(&format!(
            "{:>3}. {:<width$}  {}\n",
            i + 1,
            planned.step.name(),
            planned.calls
        ));
    }
    for note in &plan.notes {
        out.push_str(&format!("note: {}\n", note_text(note)));
    }
    out.push_str("Nothing was changed (--explain).\n");
    out
}

/// A remark on the plan, in the terms of the command line.
fn note_text(note: &Note) -> String {
    match note {
        Note::ThroughSymlink { link, file } => format!(
            "{} is a symlink: writing through it to {}",
            quoted(link),
            quoted(file)
        ),
        Note::ReplacesSymlink { link } => format!(
            "{} is a symlink: it will be replaced by a regular file",
            quoted(link)
        ),
        Note::SkippedIfUnchanged => {
            "--if-changed: if the input equals the current content, the steps after writing are skipped".into()
        }
        Note::ModeDiffers { mode } => format!(
            "--if-changed: --mode {mode:04o} differs from the current bits, so the file is written whatever the input"
        ),
        Note::EmptyRefused => {
            "empty input is refused (the target is not emptied) unless --allow-empty is given".into()
        }
        Note::NotCrashAtomic => {
            "in-place is not crash-atomic: a crash during pwrite leaves a mix of old and new bytes".into()
        }
        _ => format!("{note:?}"),
    }
}

fn plan_json(plan: &Plan) -> SavePlan {
    SavePlan {
        explain: true,
        target: Data::path(&plan.target.given),
        path: Data::path(&plan.target.path),
        strategy: plan.strategy.name(),
        sync: plan.sync.name(),
        steps: plan
            .steps
            .iter()
            .map(|s| json::PlannedStep {
                step: s.step.name(),
                calls: s.calls.clone(),
            })
            .collect(),
        notes: plan.notes.iter().map(note_text).collect(),
        exit_code: Exit::Success,
    }
}

fn report_json(report: &SaveReport) -> SaveResult {
    SaveResult {
        target: Data::path(&report.target.given),
        path: Data::path(&report.target.path),
        outcome: report.outcome.name(),
        strategy: report.strategy.name(),
        sync: report.sync.name(),
        bytes: report.bytes,
        created: report.created,
        backup: Data::opt_path(report.backup.as_deref()),
        settled_journal: report.settled.as_ref().map(SettledJournal::from),
        warnings: report.warnings.clone(),
        steps: report.steps.iter().map(StepDone::from).collect(),
        exit_code: Exit::Success,
    }
}

/// A hint written to follow a sentence (". Keep …", " (`durable …`)", "; run …") as the
/// continuation of another one after a colon: its leading punctuation, or the parentheses
/// around it, gone, and a capital that began a sentence made small (the hint's own
/// parentheses and capitals inside it stay).
fn continued(hint: &str) -> String {
    let trimmed = hint.trim_start_matches([' ', ';', ':']);
    let body = match trimmed.strip_prefix('(') {
        Some(inner) => inner.strip_suffix(')').unwrap_or(inner),
        None => trimmed.trim_start_matches(['.', ' ']),
    };
    let mut chars = body.chars();
    match chars.next() {
        Some(first) if first.is_ascii_uppercase() => {
            first.to_ascii_lowercase().to_string() + chars.as_str()
        }
        _ => body.to_string(),
    }
}

fn describe_settled(settled: &Settled, target: &Path) -> String {
    let journal = match settled {
        Settled::Completed { journal, .. } | Settled::RolledBack { journal, .. } => journal,
    };
    // Another hard link's journal (`.f.durable-journal` settled by a save of `g`): named with
    // the link it belongs to, and the name saved.
    let of = match journal
        .file_name()
        .and_then(durable::journal_target_name)
        .filter(|name| Some(name.as_os_str()) != target.file_name())
    {
        Some(name) => format!(
            "{} (another name of {})",
            quoted(&journal.with_file_name(name)),
            quoted(target)
        ),
        None => quoted(target).to_string(),
    };
    match settled {
        Settled::Completed { journal, bytes } => format!(
            "completed an interrupted journaled save of {of} from {} ({bytes} bytes) before this one",
            quoted(journal)
        ),
        Settled::RolledBack { journal, reason } => format!(
            "rolled back an interrupted journaled save of {of}: removed {} because {reason}",
            quoted(journal)
        ),
    }
}

fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 10_000 {
        format!("{:.3} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove our temporary files and stop the producer, say so in one
/// line that matches the strategy and how far the save had got (with `--json`, also print the
/// failure object a failed save prints), and end the process. SIGINT re-raises itself after
/// cleanup so a shell loop sees the interrupt; the others exit 2, or 4 when the new content was
/// already committed but its final flush may not have run.
fn install_interrupt_cleanup(args: &SaveArgs) {
    let target = quoted(&args.target).to_string();
    let strategy = strategy(args.strategy);
    let installed = durable::install_interrupt_cleanup(|signal, state| {
        let (aftermath, exit, what) = interrupted(&target, strategy, state);
        let message = format!("interrupted by {signal}; {what}");
        let stdout = args
            .json
            .then(|| {
                json::line(&SaveFailure {
                    target: Data::path(&args.target),
                    outcome: "failed",
                    aftermath,
                    error: message.clone(),
                    exit_code: exit,
                    // The handler cannot collect them; the sentence says how far it got.
                    steps: Vec::new(),
                })
                .ok()
            })
            .flatten();
        durable::InterruptReport {
            message: format!("durable: {message}"),
            stdout,
            code: i32::from(exit.code()),
        }
    });
    if let Err(e) = installed {
        // Without the handler an interrupted save leaves its temporary file for `recover`.
        eprintln!("durable: warning: could not install the interrupt handler: {e}");
    }
}

/// What an interrupted save left, for the handler's sentence: the `aftermath` of the JSON
/// failure object, the exit status, and the words after "interrupted by SIGNAL; ".
fn interrupted(
    target: &str,
    strategy: Strategy,
    state: Interrupted,
) -> (&'static str, Exit, String) {
    match (state, strategy) {
        (Interrupted::Untouched, _) => (
            "unchanged",
            Exit::Error,
            format!("nothing had been written yet; {target} was not changed"),
        ),
        (Interrupted::Removed, _) => (
            "unchanged",
            Exit::Error,
            format!("removed the temporary file, {target} was not changed"),
        ),
        (Interrupted::PartlyWritten, _) => (
            "damaged",
            Exit::Error,
            format!(
                "{target} was being written in place and may now hold a mix of old and new content (--strategy in-place is not crash-atomic)"
            ),
        ),
        (Interrupted::Settling, _) => (
            "earlier-pending",
            Exit::Error,
            format!(
                "it was completing an earlier interrupted save of {target} from its journal; this save wrote nothing, and the next `durable save` of {target} completes the earlier one"
            ),
        ),
        (Interrupted::LeftBehind, _) => (
            "left-behind",
            Exit::Error,
            format!(
                "{target}, which this save had created, could not be removed again (its directory is append-only?): it is left there, empty or holding part of the new content, with mode 0600 or, if the save had set it already, its final mode; remove it by hand"
            ),
        ),
        (Interrupted::TempLeftBehind, _) => (
            "unchanged",
            Exit::Error,
            format!(
                "a temporary file of this save beside {target} (.NAME.<16 hex>.durable-tmp, or its journal .NAME.durable-journal) could not be removed (its directory is append-only?): remove it by hand; {target} was not changed"
            ),
        ),
        // The journal is gone: its content is in the target.
        (Interrupted::Applied, _) => (
            "unconfirmed",
            Exit::Unconfirmed,
            format!(
                "{target} holds the new content, but its final flush may not have run (it may not survive a power loss)"
            ),
        ),
        (Interrupted::Committed, Strategy::Journal) => (
            "pending",
            Exit::Unconfirmed,
            format!(
                "the new content is safe in the journal, and the next `durable save` of {target} completes it"
            ),
        ),
        (Interrupted::Committed, _) => (
            "unconfirmed",
            Exit::Unconfirmed,
            format!(
                "{target} holds the new content, but its final flush may not have run (it may not survive a power loss)"
            ),
        ),
    }
}
