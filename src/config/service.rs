//! What the service will see of a file that `check-config` could read:
//! the packaged unit runs with `DynamicUser=yes`, a user that owns no file
//! and is in no group, so a file of root's that others may not read
//! (mode 0400, as a key file usually is) is readable by `sudo check-config`
//! and not by the service.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A warning when `full` is readable here only because this is root.
pub(super) fn unreadable_by_service(full: &Path) -> Option<String> {
    let euid = crate::system::effective_uid();
    let meta = std::fs::metadata(full).ok()?;
    judge(full, euid, meta.uid(), meta.mode())
}

/// The rule, apart from the file system: root reads a file of root's that
/// others may not read; a file systemd hands the service itself
/// (`/run/credentials/...`) is the service's own.
fn judge(full: &Path, euid: u32, owner: u32, mode: u32) -> Option<String> {
    if euid != 0 || owner != 0 || mode & 0o004 != 0 || full.starts_with("/run/credentials") {
        return None;
    }
    Some(format!(
        "{} is root's (mode {:04o}): readable by check-config as root, not by the service's DynamicUser, which will see \"Permission denied\" (the targets using it fail with reason credentials); give it to the service with LoadCredential= and point the config at /run/credentials/ivanti-exporter.service/ (docs/security.md)",
        full.display(),
        mode & 0o7777
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_reading_roots_private_file_is_reported() {
        let key = Path::new("/etc/ivanti-exporter/api.key");
        let w = judge(key, 0, 0, 0o100400).expect("root's 0400 file, read by root");
        assert!(
            w.starts_with("/etc/ivanti-exporter/api.key is root's (mode 0400): readable by check-config as root, not by the service's DynamicUser"),
            "{w}"
        );
        // Readable by others: the DynamicUser reads it too.
        assert_eq!(judge(key, 0, 0, 0o100644), None);
        // Owned by another user (the service's own, when not DynamicUser).
        assert_eq!(judge(key, 0, 998, 0o100400), None);
        // Not root: what check-config read, that user can read.
        assert_eq!(judge(key, 1000, 0, 0o100400), None);
        // systemd's copy for the service.
        let cred = Path::new("/run/credentials/ivanti-exporter.service/api.key");
        assert_eq!(judge(cred, 0, 0, 0o100400), None);
    }
}
