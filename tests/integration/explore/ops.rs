//! From a strace of a real run to the file-system operations the crash model replays.
//!
//! The trace (`strace -f -y -xx`) is walked in order while a model of the scratch directory is
//! kept: which name points at which inode, each inode's current (page-cache) content, and each
//! process's descriptors with their file offsets. Every call that changes the scratch directory
//! becomes an [`Op`]: a create, write (with the exact bytes, decoded from strace's hex dump), a
//! truncate, a flush of a file or of a directory, a rename, link, unlink, mkdir or rmdir. The end
//! of each traced program is kept as an [`Op::Exit`] marker, so a checker knows which commands
//! had exited (and how) at a crash point.
//!
//! Anything that changes a file in the scratch directory in a way the model does not cover
//! (`writev`, `mmap` shared writes, `fallocate`, a rename across the scratch boundary, …) is an
//! error, never silently ignored: an explorer that drops a write would explore the wrong states.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::strace_parse::{
    Event, Syscall, absolute, fd_and_path, has_flag, is_cut, split_args, unquote, unquote_bytes,
};

/// The system calls the explorer traces: everything that can create, change, flush or remove a
/// file, plus what is needed to follow descriptors (`dup`, `lseek`, `close`) and programs
/// (`execve`). `?` lets strace skip a call this architecture does not have (e.g. `open`).
pub const TRACED: &str = "execve,openat,?open,?creat,write,pwrite64,writev,pwritev,?pwritev2,\
     sendfile,splice,copy_file_range,fallocate,ftruncate,truncate,fsync,fdatasync,sync,syncfs,\
     msync,close,dup,dup2,dup3,fcntl,lseek,mmap,?rename,renameat,renameat2,?link,linkat,\
     ?unlink,unlinkat,?mkdir,mkdirat,?rmdir,?symlink,symlinkat,?mknod,mknodat";

/// An inode, numbered in order of appearance (the initial files first).
pub type Ino = usize;

/// One operation on the scratch directory. Paths are relative to it, `/`-separated; `""` is the
/// scratch directory itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new, empty inode gets the name `path` (`open(O_CREAT)` of a name that did not exist).
    Create {
        path: String,
        ino: Ino,
    },
    Mkdir {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Link {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Write {
        ino: Ino,
        off: u64,
        data: Vec<u8>,
    },
    Truncate {
        ino: Ino,
        len: u64,
    },
    /// `fsync` or `fdatasync` of a file: its data and size are durable (the model keeps no other
    /// metadata, so the two are the same here).
    Sync {
        ino: Ino,
    },
    /// `fsync` of a descriptor opened on a directory: its entries are durable.
    DirSync {
        dir: String,
    },
    /// `sync` / `syncfs`: everything is durable.
    SyncAll,
    /// A traced program (`program` is the basename it was started as) ended; `code` is `None`
    /// when a signal killed it. Not a file-system operation: a marker for the checkers.
    Exit {
        program: String,
        code: Option<i32>,
    },
}

/// A directory entry: a file (an inode) or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    File(Ino),
    Dir,
}

/// The operations of one traced run, and the scratch directory they started from.
#[derive(Debug, Clone)]
pub struct Ops {
    /// The names in the scratch directory before the run (taken as durable).
    pub names: BTreeMap<String, Node>,
    /// The content of each initial inode (`0..initial.len()`).
    pub initial: Vec<Vec<u8>>,
    /// Every operation, in the order the kernel completed them.
    pub ops: Vec<Op>,
    /// A name for each inode (the first it had), for messages.
    pub ino_names: Vec<String>,
}

impl Ops {
    /// Number of file-system operations (exit markers not counted).
    pub fn fs_ops(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| !matches!(o, Op::Exit { .. }))
            .count()
    }

    /// The operation at `i`, readably.
    pub fn show(&self, i: usize) -> String {
        let name = |ino: &Ino| &self.ino_names[*ino];
        match &self.ops[i] {
            Op::Create { path, .. } => format!("create {path}"),
            Op::Mkdir { path } => format!("mkdir {path}"),
            Op::Rename { from, to } => format!("rename {from} -> {to}"),
            Op::Link { from, to } => format!("link {from} -> {to}"),
            Op::Unlink { path } => format!("unlink {path}"),
            Op::Rmdir { path } => format!("rmdir {path}"),
            Op::Write { ino, off, data } => {
                format!("write {} bytes at {off} to {}", data.len(), name(ino))
            }
            Op::Truncate { ino, len } => format!("truncate {} to {len}", name(ino)),
            Op::Sync { ino } => format!("fsync {}", name(ino)),
            Op::DirSync { dir } if dir.is_empty() => "fsync directory .".into(),
            Op::DirSync { dir } => format!("fsync directory {dir}"),
            Op::SyncAll => "sync".into(),
            Op::Exit { program, code } => match code {
                Some(c) => format!("{program} exited {c}"),
                None => format!("{program} was killed"),
            },
        }
    }
}

impl fmt::Display for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in 0..self.ops.len() {
            writeln!(f, "  op {:>2}: {}", i + 1, self.show(i))?;
        }
        Ok(())
    }
}

/// Names (relative path → entry) and the content of each inode.
pub type Snapshot = (BTreeMap<String, Node>, Vec<Vec<u8>>);

/// The scratch directory as it is now: names, and the content of each distinct inode (hard links
/// share one). Symbolic links and special files are refused: the model has no place for them.
pub fn snapshot(root: &Path) -> Result<Snapshot, String> {
    let mut names = BTreeMap::new();
    let mut contents = Vec::new();
    let mut seen: HashMap<(u64, u64), Ino> = HashMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("read {}: {e}", dir.display()))?;
            let path = entry.path();
            let rel = relative(root, &path).ok_or("a path outside the scratch directory")?;
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| format!("stat {}: {e}", path.display()))?;
            if meta.is_dir() {
                names.insert(rel, Node::Dir);
                stack.push(path);
            } else if meta.is_file() {
                let key = (meta.dev(), meta.ino());
                let ino = match seen.get(&key) {
                    Some(&ino) => ino,
                    None => {
                        let bytes = std::fs::read(&path)
                            .map_err(|e| format!("read {}: {e}", path.display()))?;
                        contents.push(bytes);
                        seen.insert(key, contents.len() - 1);
                        contents.len() - 1
                    }
                };
                names.insert(rel, Node::File(ino));
            } else {
                return Err(format!(
                    "{} is neither a file nor a directory; the crash model has no place for it",
                    path.display()
                ));
            }
        }
    }
    Ok((names, contents))
}

/// `path` relative to `root` (`""` for the root itself), or `None` if it is outside.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// The parent of a relative path (`"a/b"` → `"a"`, `"b"` → `""`).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// An open file description: what it refers to and its offset (shared by `dup`s).
#[derive(Debug)]
struct Desc {
    target: Target,
    pos: u64,
    append: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    File(Ino),
    Dir(String),
    /// Something outside the scratch directory (a library, stdout, a pipe): not modelled.
    Outside,
}

/// Walks the trace, keeping the model of the scratch directory, and collects the operations.
struct Builder<'a> {
    root: &'a Path,
    names: BTreeMap<String, Node>,
    images: Vec<Vec<u8>>,
    ino_names: Vec<String>,
    descs: Vec<Desc>,
    /// Per process (strace's pid): descriptor number → index in `descs`.
    fds: HashMap<u32, HashMap<i64, usize>>,
    /// Processes that started a program (`execve`), with the program's basename.
    programs: HashMap<u32, String>,
    ops: Vec<Op>,
}

/// Turn a parsed trace into operations. `root` is the canonical scratch directory, which was the
/// working directory of the traced program, and held `names`/`initial` before it ran.
pub fn build(
    events: &[Event],
    root: &Path,
    names: BTreeMap<String, Node>,
    initial: Vec<Vec<u8>>,
) -> Result<Ops, String> {
    let mut ino_names = vec![String::new(); initial.len()];
    for (name, node) in names.iter().rev() {
        if let Node::File(ino) = node {
            ino_names[*ino] = name.clone();
        }
    }
    let mut b = Builder {
        root,
        names: names.clone(),
        images: initial.clone(),
        ino_names,
        descs: Vec::new(),
        fds: HashMap::new(),
        programs: HashMap::new(),
        ops: Vec::new(),
    };
    for event in events {
        match event {
            Event::Call(call) => b.call(call).map_err(|e| {
                format!(
                    "{e}\n  in: {}({}) = {}",
                    call.name,
                    shorten(&call.args),
                    call.ret_text
                )
            })?,
            Event::Exit { pid, code } => {
                if let Some(program) = b.programs.remove(pid) {
                    b.ops.push(Op::Exit {
                        program,
                        code: *code,
                    });
                }
                b.fds.remove(pid);
            }
        }
    }
    Ok(Ops {
        names,
        initial,
        ops: b.ops,
        ino_names: b.ino_names,
    })
}

/// At most 160 characters of a (possibly huge, hex-escaped) argument list, for messages.
fn shorten(text: &str) -> String {
    if text.len() <= 160 {
        text.to_string()
    } else {
        let mut end = 160;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

/// A numeric argument (`0`, `4096`, `0x10`).
fn number(arg: Option<&String>) -> Result<u64, String> {
    let arg = arg.ok_or("a numeric argument is missing")?.trim();
    let parsed = match arg.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => arg.parse(),
    };
    parsed.map_err(|_| format!("{arg:?} is not a number"))
}

impl Builder<'_> {
    fn call(&mut self, call: &Syscall) -> Result<(), String> {
        if !call.ok() {
            return Ok(()); // a failed call changes nothing
        }
        let args = split_args(&call.args);
        let ret = call.ret;
        match call.name.as_str() {
            "execve" => {
                let program = args
                    .first()
                    .and_then(|a| unquote(a))
                    .map(|p| p.rsplit('/').next().unwrap_or_default().to_string())
                    .unwrap_or_default();
                self.programs.insert(call.pid, program);
                // Descriptors survive exec; close-on-exec ones are never used again.
            }
            "openat" => self.open(call.pid, args.first(), args.get(1), args.get(2), ret)?,
            "open" => self.open(call.pid, None, args.first(), args.get(1), ret)?,
            "creat" => {
                let flags = "O_WRONLY|O_CREAT|O_TRUNC".to_string();
                self.open(call.pid, None, args.first(), Some(&flags), ret)?
            }
            "write" | "pwrite64" => {
                let Some(ino) = self.file_of(call.pid, &args)? else {
                    return Ok(());
                };
                let arg = args.get(1).ok_or("no buffer")?;
                if is_cut(arg) {
                    return Err("strace printed only part of the data written; raise -s".into());
                }
                let mut data = unquote_bytes(arg).ok_or("the buffer is not a string")?;
                let n = usize::try_from(ret).map_err(|_| "bad return value")?;
                if data.len() < n {
                    return Err(format!(
                        "strace printed {} of the {n} bytes written",
                        data.len()
                    ));
                }
                data.truncate(n);
                let desc = self.desc_index(call.pid, &args)?.ok_or("no descriptor")?;
                let off = if call.name == "pwrite64" {
                    number(args.get(3))?
                } else if self.descs[desc].append {
                    self.images[ino].len() as u64
                } else {
                    self.descs[desc].pos
                };
                if call.name == "write" {
                    self.descs[desc].pos = off + n as u64;
                }
                self.write(ino, off, data);
            }
            "copy_file_range" => {
                let Some(out_desc) = self.desc_of(call.pid, args.get(2))? else {
                    return Ok(());
                };
                let Target::File(out) = self.descs[out_desc].target.clone() else {
                    return Ok(());
                };
                if args.get(1).map(String::as_str) != Some("NULL")
                    || args.get(3).map(String::as_str) != Some("NULL")
                {
                    return Err("copy_file_range with explicit offsets is not modelled".into());
                }
                let in_desc = self.desc_of(call.pid, args.first())?.ok_or(
                    "copy_file_range from a descriptor the trace did not open: its bytes are unknown",
                )?;
                let Target::File(src) = self.descs[in_desc].target.clone() else {
                    return Err(
                        "copy_file_range from outside the scratch directory: its bytes are unknown"
                            .into(),
                    );
                };
                let n = ret as u64;
                let from = self.descs[in_desc].pos as usize;
                let image = &self.images[src];
                let data =
                    image[from.min(image.len())..(from + n as usize).min(image.len())].to_vec();
                self.descs[in_desc].pos += n;
                let off = self.descs[out_desc].pos;
                self.descs[out_desc].pos += n;
                self.write(out, off, data);
            }
            "ftruncate" => {
                if let Some(ino) = self.file_of(call.pid, &args)? {
                    let len = number(args.get(1))?;
                    self.truncate(ino, len);
                }
            }
            "truncate" => {
                if let Some(path) = self.path_arg(None, args.first())? {
                    let Some(Node::File(ino)) = self.names.get(&path).copied() else {
                        return Err(format!("truncate of {path}, which the model does not have"));
                    };
                    let len = number(args.get(1))?;
                    self.truncate(ino, len);
                }
            }
            "fsync" | "fdatasync" => {
                if let Some(desc) = self.desc_index(call.pid, &args)? {
                    match self.descs[desc].target.clone() {
                        Target::File(ino) => self.ops.push(Op::Sync { ino }),
                        Target::Dir(dir) => self.ops.push(Op::DirSync { dir }),
                        Target::Outside => {}
                    }
                }
            }
            "sync" | "syncfs" => self.ops.push(Op::SyncAll),
            "close" => {
                if let Some(fd) = args.first().and_then(|a| fd_and_path(a).0)
                    && let Some(table) = self.fds.get_mut(&call.pid)
                {
                    table.remove(&fd);
                }
            }
            "dup" | "dup2" | "dup3" | "fcntl" => {
                let dups = call.name != "fcntl"
                    || args
                        .get(1)
                        .is_some_and(|c| c == "F_DUPFD" || c == "F_DUPFD_CLOEXEC");
                if dups && let Some(desc) = self.desc_index(call.pid, &args)? {
                    self.fds.entry(call.pid).or_default().insert(ret, desc);
                }
            }
            "lseek" => {
                if let Some(desc) = self.desc_index(call.pid, &args)? {
                    self.descs[desc].pos = ret as u64;
                }
            }
            "rename" | "renameat" | "renameat2" => {
                let (from, to) = self.two_paths(call, &args)?;
                let flags = args.get(4).cloned().unwrap_or_default();
                if has_flag(&flags, "RENAME_EXCHANGE") || has_flag(&flags, "RENAME_WHITEOUT") {
                    return Err(format!("rename with {flags} is not modelled"));
                }
                match (from, to) {
                    (None, None) => {}
                    (Some(from), Some(to)) => self.rename(from, to)?,
                    _ => return Err("a rename across the scratch directory's boundary".into()),
                }
            }
            "link" | "linkat" => {
                let (from, to) = self.two_paths(call, &args)?;
                match (from, to) {
                    (None, None) => {}
                    (Some(from), Some(to)) => {
                        let node = *self
                            .names
                            .get(&from)
                            .ok_or(format!("link of {from}, which the model does not have"))?;
                        self.names.insert(to.clone(), node);
                        self.ops.push(Op::Link { from, to });
                    }
                    _ => return Err("a link across the scratch directory's boundary".into()),
                }
            }
            "unlink" | "unlinkat" | "rmdir" => {
                let (path, dir) = match call.name.as_str() {
                    "unlink" => (self.path_arg(None, args.first())?, false),
                    "rmdir" => (self.path_arg(None, args.first())?, true),
                    _ => (
                        self.path_arg(args.first(), args.get(1))?,
                        args.get(2).is_some_and(|f| has_flag(f, "AT_REMOVEDIR")),
                    ),
                };
                if let Some(path) = path {
                    if self.names.remove(&path).is_none() {
                        return Err(format!("unlink of {path}, which the model does not have"));
                    }
                    self.ops.push(if dir {
                        Op::Rmdir { path }
                    } else {
                        Op::Unlink { path }
                    });
                }
            }
            "mkdir" | "mkdirat" => {
                let path = if call.name == "mkdir" {
                    self.path_arg(None, args.first())?
                } else {
                    self.path_arg(args.first(), args.get(1))?
                };
                if let Some(path) = path {
                    self.names.insert(path.clone(), Node::Dir);
                    self.ops.push(Op::Mkdir { path });
                }
            }
            "mmap" => {
                let shared_write = args.get(2).is_some_and(|p| has_flag(p, "PROT_WRITE"))
                    && args.get(3).is_some_and(|f| has_flag(f, "MAP_SHARED"));
                if shared_write && self.desc_of(call.pid, args.get(4))?.is_some() {
                    return Err("a shared writable mapping of a file is not modelled".into());
                }
            }
            // These change files in ways the model does not replay; fine only outside.
            "writev" | "pwritev" | "pwritev2" | "fallocate" | "msync"
                if self.file_of(call.pid, &args)?.is_some() =>
            {
                return Err(format!("{} on a file is not modelled", call.name));
            }
            "sendfile" | "splice"
                if self.file_of(call.pid, &args)?.is_some()
                    || self.desc_of(call.pid, args.get(2))?.is_some() =>
            {
                return Err(format!("{} into a file is not modelled", call.name));
            }
            "symlink" | "symlinkat" | "mknod" | "mknodat" => {
                return Err(format!("{} is not modelled", call.name));
            }
            _ => {}
        }
        Ok(())
    }

    /// Resolve a path argument against a dirfd argument (`AT_FDCWD</dir>` or `3</dir>`; none:
    /// the working directory, which is the scratch directory): `None` if it is outside.
    fn path_arg(
        &self,
        dirfd: Option<&String>,
        path: Option<&String>,
    ) -> Result<Option<String>, String> {
        let path = unquote(path.ok_or("a path argument is missing")?)
            .ok_or("the path argument is not a string")?;
        let base = match dirfd.map(|d| fd_and_path(d)) {
            Some((_, Some(dir))) => dir.into(),
            Some((Some(fd), None)) => {
                return Err(format!("descriptor {fd} as a directory without a -y path"));
            }
            _ => self.root.to_path_buf(),
        };
        Ok(relative(self.root, &absolute(&path, &base)))
    }

    /// The source and destination of `rename`/`link` (two paths) or of their `…at` forms (dirfd,
    /// path, dirfd, path).
    fn two_paths(
        &self,
        call: &Syscall,
        args: &[String],
    ) -> Result<(Option<String>, Option<String>), String> {
        if call.name.ends_with("at") || call.name.ends_with("at2") {
            Ok((
                self.path_arg(args.first(), args.get(1))?,
                self.path_arg(args.get(2), args.get(3))?,
            ))
        } else {
            Ok((
                self.path_arg(None, args.first())?,
                self.path_arg(None, args.get(1))?,
            ))
        }
    }

    fn open(
        &mut self,
        pid: u32,
        dirfd: Option<&String>,
        path: Option<&String>,
        flags: Option<&String>,
        fd: i64,
    ) -> Result<(), String> {
        let flags = flags.cloned().unwrap_or_default();
        let target = match self.path_arg(dirfd, path)? {
            None => Target::Outside,
            Some(rel) if rel.is_empty() => Target::Dir(rel),
            Some(rel) => match self.names.get(&rel).copied() {
                Some(Node::Dir) => Target::Dir(rel),
                Some(Node::File(ino)) => {
                    if has_flag(&flags, "O_EXCL") && has_flag(&flags, "O_CREAT") {
                        return Err(format!(
                            "{rel} was created exclusively, but the model says it existed"
                        ));
                    }
                    let writable = has_flag(&flags, "O_WRONLY") || has_flag(&flags, "O_RDWR");
                    if has_flag(&flags, "O_TRUNC") && writable && !self.images[ino].is_empty() {
                        self.truncate(ino, 0);
                    }
                    Target::File(ino)
                }
                None if has_flag(&flags, "O_CREAT") => {
                    let ino = self.images.len();
                    self.images.push(Vec::new());
                    self.ino_names.push(rel.clone());
                    self.names.insert(rel.clone(), Node::File(ino));
                    self.ops.push(Op::Create { path: rel, ino });
                    Target::File(ino)
                }
                None => {
                    return Err(format!(
                        "{rel} was opened, but the model says it does not exist"
                    ));
                }
            },
        };
        self.descs.push(Desc {
            target,
            pos: 0,
            append: has_flag(&flags, "O_APPEND"),
        });
        self.fds
            .entry(pid)
            .or_default()
            .insert(fd, self.descs.len() - 1);
        Ok(())
    }

    /// The description behind the descriptor in `arg` (a call's first argument by default). A
    /// descriptor this process did not open in the trace (inherited stdout, …) is fine when it
    /// is outside the scratch directory (`None`) and an error when it is inside.
    fn desc_of(&self, pid: u32, arg: Option<&String>) -> Result<Option<usize>, String> {
        let Some(arg) = arg else { return Ok(None) };
        let (Some(fd), path) = fd_and_path(arg) else {
            return Ok(None);
        };
        if let Some(&desc) = self.fds.get(&pid).and_then(|t| t.get(&fd)) {
            return Ok(match self.descs[desc].target {
                Target::Outside => None,
                _ => Some(desc),
            });
        }
        match path.and_then(|p| relative(self.root, Path::new(&p))) {
            Some(rel) => Err(format!(
                "descriptor {fd} of process {pid} refers to {rel} in the scratch directory, \
                 but was not opened in the trace"
            )),
            None => Ok(None),
        }
    }

    fn desc_index(&self, pid: u32, args: &[String]) -> Result<Option<usize>, String> {
        self.desc_of(pid, args.first())
    }

    /// The inode a call's first-argument descriptor refers to, if it is a file inside.
    fn file_of(&self, pid: u32, args: &[String]) -> Result<Option<Ino>, String> {
        Ok(self
            .desc_index(pid, args)?
            .and_then(|d| match self.descs[d].target {
                Target::File(ino) => Some(ino),
                _ => None,
            }))
    }

    fn write(&mut self, ino: Ino, off: u64, data: Vec<u8>) {
        let image = &mut self.images[ino];
        let end = off as usize + data.len();
        if image.len() < end {
            image.resize(end, 0);
        }
        image[off as usize..end].copy_from_slice(&data);
        self.ops.push(Op::Write { ino, off, data });
    }

    fn truncate(&mut self, ino: Ino, len: u64) {
        self.images[ino].resize(len as usize, 0);
        self.ops.push(Op::Truncate { ino, len });
    }

    fn rename(&mut self, from: String, to: String) -> Result<(), String> {
        let node = self
            .names
            .remove(&from)
            .ok_or(format!("rename of {from}, which the model does not have"))?;
        if node == Node::Dir {
            // A directory takes its whole subtree along.
            let prefix = format!("{from}/");
            let moved: Vec<String> = self
                .names
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            for old in moved {
                let child = self.names.remove(&old).expect("listed");
                self.names
                    .insert(format!("{to}/{}", &old[prefix.len()..]), child);
            }
        }
        self.names.insert(to.clone(), node);
        self.ops.push(Op::Rename { from, to });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The builder on hand-written traces (no strace needed)
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strace_parse::parse_events;

    const ROOT: &str = "/tmp/x";

    /// `text` as strace `-xx` prints it.
    fn hex(text: &str) -> String {
        text.bytes().map(|b| format!("\\x{b:02x}")).collect()
    }

    fn write_op(off: u64, data: &[u8]) -> Op {
        Op::Write {
            ino: 1,
            off,
            data: data.to_vec(),
        }
    }

    fn build_text(trace: &str, names: &[(&str, &[u8])]) -> Result<Ops, String> {
        let events = parse_events(trace).expect("parses");
        let map = names
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.to_string(), Node::File(i)))
            .collect();
        let initial = names.iter().map(|(_, c)| c.to_vec()).collect();
        build(&events, Path::new(ROOT), map, initial)
    }

    #[test]
    fn a_trace_becomes_creates_writes_at_their_offsets_flushes_renames_and_exits() {
        let (d, t, tmp) = (hex(ROOT), hex("t"), hex(".t.1.durable-tmp"));
        let trace = format!(
            "\
5 execve(\"{bin}\", [\"durable\"], 0x1 /* 1 var */) = 0
5 openat(AT_FDCWD<{d}>, \"{t}\", O_RDWR|O_TRUNC) = 3<{d}/{t}>
5 openat(AT_FDCWD<{d}>, \"{tmp}\", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 4<{d}/{tmp}>
5 write(4<{d}/{tmp}>, \"{ab}\", 2) = 2
5 write(4<{d}/{tmp}>, \"{cd}\", 2) = 1
5 dup(4<{d}/{tmp}>) = 6<{d}/{tmp}>
5 lseek(6<{d}/{tmp}>, 10, SEEK_SET) = 10
5 write(4<{d}/{tmp}>, \"{e}\", 1) = 1
5 pwrite64(4<{d}/{tmp}>, \"{f}\", 1, 0) = 1
5 write(1<pipe:[7]>, \"{e}\", 1) = 1
5 fsync(4<{d}/{tmp}>) = 0
5 renameat2(AT_FDCWD<{d}>, \"{tmp}\", AT_FDCWD<{d}>, \"{t}\", RENAME_NOREPLACE) = 0
5 openat(AT_FDCWD<{d}>, \"{dot}\", O_RDONLY|O_DIRECTORY) = 7<{d}>
5 fsync(7<{d}>) = 0
5 fsync(8<{d}>) = -1 EBADF (Bad file descriptor)
5 +++ exited with 0 +++
",
            bin = hex("/usr/bin/durable"),
            ab = hex("ab"),
            cd = hex("cd"),
            e = hex("e"),
            f = hex("f"),
            dot = hex("."),
        );
        let ops = build_text(&trace, &[("t", b"old")]).expect("builds");
        assert_eq!(
            ops.ops,
            [
                Op::Truncate { ino: 0, len: 0 },
                Op::Create {
                    path: ".t.1.durable-tmp".into(),
                    ino: 1
                },
                write_op(0, b"ab"),
                // A short write keeps only what the kernel took, and the offset follows it.
                write_op(2, b"c"),
                // The dup shares the offset the lseek moved.
                write_op(10, b"e"),
                write_op(0, b"f"),
                Op::Sync { ino: 1 },
                Op::Rename {
                    from: ".t.1.durable-tmp".into(),
                    to: "t".into()
                },
                Op::DirSync { dir: String::new() },
                Op::Exit {
                    program: "durable".into(),
                    code: Some(0)
                },
            ]
        );
        assert_eq!(ops.fs_ops(), 9);
    }

    #[test]
    fn what_the_model_cannot_replay_is_an_error_not_a_silent_gap() {
        let (d, t) = (hex(ROOT), hex("t"));
        let open = format!("5 openat(AT_FDCWD<{d}>, \"{t}\", O_RDWR) = 3<{d}/{t}>\n");
        let cases = [
            (
                format!("5 write(3<{d}/{t}>, \"{}\"..., 9) = 9\n", hex("abc")),
                "raise -s",
            ),
            (
                format!("5 writev(3<{d}/{t}>, [{{iov_base=\"\", iov_len=0}}], 1) = 0\n"),
                "writev on a file is not modelled",
            ),
            (
                format!("5 write(4<{d}/{t}>, \"{}\", 1) = 1\n", hex("a")),
                "was not opened in the trace",
            ),
            (
                format!(
                    "5 renameat2(AT_FDCWD<{d}>, \"{t}\", AT_FDCWD<{d}>, \"{}\", 0) = 0\n",
                    hex("/elsewhere/t")
                ),
                "across the scratch directory's boundary",
            ),
            (
                format!(
                    "5 openat(AT_FDCWD<{d}>, \"{}\", O_RDONLY) = 4<{d}/x>\n",
                    hex("missing")
                ),
                "does not exist",
            ),
        ];
        for (line, expected) in cases {
            let err =
                build_text(&format!("{open}{line}"), &[("t", b"old")]).expect_err("must not build");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }
}
