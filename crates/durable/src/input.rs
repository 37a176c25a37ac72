//! Where the new content comes from: bytes in memory, standard input, a file, or a producer
//! command whose exit status decides whether the save is committed.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::disk::{self, ProcessGroup};
use crate::error::{Error, Result};

/// A source of new content for a save.
pub trait Input: Read {
    /// A short description for messages: "standard input", a path, a command.
    fn describe(&self) -> String;

    /// Called after the last byte was read and before anything becomes visible: a producer that
    /// failed vetoes the save here.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    /// The input's length, when it is known up front (a file): for a progress line.
    fn len_hint(&self) -> Option<u64> {
        None
    }

    /// True when the whole input must be read before the target may be touched (a producer can
    /// still fail after its last byte), which makes the in-place strategy spool it first.
    fn can_veto(&self) -> bool {
        false
    }
}

/// Content already in memory: `save(path, &mut &bytes[..], …)`.
impl Input for &[u8] {
    fn describe(&self) -> String {
        "the content passed in".into()
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

/// Standard input.
#[derive(Debug)]
pub struct StdinInput(io::Stdin);

impl StdinInput {
    /// Read from this process's standard input.
    pub fn new() -> Self {
        StdinInput(io::stdin())
    }
}

impl Default for StdinInput {
    fn default() -> Self {
        Self::new()
    }
}

impl Read for StdinInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Input for StdinInput {
    fn describe(&self) -> String {
        "standard input".into()
    }

    fn len_hint(&self) -> Option<u64> {
        // `< file`: a regular file's size; a pipe's is unknown.
        use std::os::fd::AsFd;
        crate::platform::regular_file_len(self.0.as_fd())
    }
}

/// A file given with `--from`.
#[derive(Debug)]
pub struct FileInput {
    path: PathBuf,
    file: File,
    /// What messages call it, if not its path (a producer's output read back from a spool).
    label: Option<String>,
}

impl FileInput {
    /// Open `path` for reading.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Input {
            what: crate::quote::quoted(path).to_string(),
            aftermath: crate::Aftermath::Unchanged,
            source,
        })?;
        Ok(FileInput {
            path: path.to_path_buf(),
            file,
            label: None,
        })
    }

    /// Read `file` (in `dir`, unnamed), which holds what `label` produced.
    pub(crate) fn spooled(dir: PathBuf, file: File, label: String) -> Self {
        FileInput {
            path: dir,
            file,
            label: Some(label),
        }
    }
}

impl Read for FileInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Input for FileInput {
    fn describe(&self) -> String {
        match &self.label {
            Some(label) => label.clone(),
            None => crate::quote::quoted(&self.path).to_string(),
        }
    }

    fn len_hint(&self) -> Option<u64> {
        self.file.metadata().ok().map(|m| m.len())
    }
}

/// A producer command: its standard output is the content, its standard error passes through,
/// and the save is committed only if it exits with status 0.
#[derive(Debug)]
pub struct Producer {
    program: String,
    child: Option<Child>,
    stdout: Option<ChildStdout>,
    /// Whether the producer leads its own process group.
    group: ProcessGroup,
}

impl Producer {
    /// Start `program` with `args`, its stdout piped to us.
    pub fn spawn(program: &OsStr, args: &[OsString]) -> Result<Self> {
        use std::io::IsTerminal;
        let shown = crate::quote::quoted(program).to_string();
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // In its own process group, so an interrupt can stop the producer and everything it
        // started (a shell's children too). Not when it may read the terminal: a process outside
        // the foreground group would be stopped by SIGTTIN, and the terminal's Ctrl-C reaches
        // the whole foreground group anyway.
        let group = if io::stdin().is_terminal() {
            ProcessGroup::Ours
        } else {
            crate::platform::own_process_group(&mut command);
            ProcessGroup::Own
        };
        let mut child = command.spawn().map_err(|e| Error::Producer {
            program: shown.clone(),
            status: format!("could not be started: {e}"),
        })?;
        disk::register_child(child.id(), group);
        let stdout = child.stdout.take();
        Ok(Producer {
            program: shown,
            child: Some(child),
            stdout,
            group,
        })
    }
}

impl Read for Producer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stdout {
            Some(out) => out.read(buf),
            None => Ok(0),
        }
    }
}

impl Input for Producer {
    fn describe(&self) -> String {
        format!("the producer `{}`", self.program)
    }

    fn finish(&mut self) -> Result<()> {
        // Close our end first so a producer still writing gets EPIPE instead of blocking.
        self.stdout = None;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = child.wait();
        disk::unregister_child(child.id());
        let status = status.map_err(|e| Error::Producer {
            program: self.program.clone(),
            status: format!("could not be waited for: {e}"),
        })?;
        if status.success() {
            return Ok(());
        }
        let status = crate::platform::describe_exit(status);
        Err(Error::Producer {
            program: self.program.clone(),
            status,
        })
    }

    fn can_veto(&self) -> bool {
        true
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // The save failed before the producer finished: stop it rather than leave it running.
        self.stdout = None;
        if let Some(mut child) = self.child.take() {
            disk::kill_child(child.id(), self.group);
            let _ = child.kill();
            let _ = child.wait();
            disk::unregister_child(child.id());
        }
    }
}
