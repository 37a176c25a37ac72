//! Carrying the target's metadata over to the file that replaces it: owner and group (where
//! permitted), extended attributes (ACLs and SELinux labels live there), permission bits.

use std::fs::File;
use std::io;

use crate::platform;
use crate::target::Existing;

/// The permission bits the new file gets: `--mode` if given, else the existing file's, else
/// `0666 & ~umask` as any program creating a file would.
pub(crate) fn final_mode(explicit: Option<u32>, existing: Option<&Existing>) -> u32 {
    explicit
        .or(existing.map(|e| e.mode))
        .unwrap_or_else(|| 0o666 & !platform::umask())
}

/// Give `to` (the new file) the ownership and extended attributes of `from` (the file it
/// replaces), then `mode`. Owner and group changes that the OS refuses with `EPERM` are warnings
/// (an unprivileged user cannot give a file away); any other failure, and any extended attribute
/// that cannot be copied, is an error, because silently dropping an ACL or a security label could
/// widen access.
pub(crate) fn apply(
    to: &File,
    from: Option<(&File, &Existing)>,
    mode: u32,
    warnings: &mut Vec<String>,
) -> io::Result<()> {
    if let Some((from_file, existing)) = from {
        match platform::set_owner(to, existing.uid, existing.gid) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(platform::errno::EPERM) => {
                warnings.push(format!(
                    "could not keep owner {} and group {} (not permitted); the new file is owned by this user",
                    existing.uid, existing.gid
                ));
            }
            Err(e) => return Err(e),
        }
        copy_xattrs(from_file, to)?;
    }
    // After chown, which clears setuid/setgid bits, and after xattrs, so an ACL copy cannot leave
    // the group bits different from the original's.
    platform::set_mode(to, mode)
}

/// Copy every extended attribute of `from` to `to` (none to copy on a filesystem without them).
pub(crate) fn copy_xattrs(from: &File, to: &File) -> io::Result<()> {
    let names = match platform::list_xattrs(from) {
        Ok(names) => names,
        // The filesystem has no extended attributes, so there is nothing to lose.
        Err(e) if e.raw_os_error() == Some(platform::errno::ENOTSUP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        let value = platform::get_xattr(from, &name)?;
        platform::set_xattr(to, &name, &value).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("extended attribute {}: {e}", crate::quote::quoted(&name)),
            )
        })?;
    }
    Ok(())
}
