//! Filesystem faults of a collection's writes, told apart from bugs: a full or read-only
//! artifacts filesystem is the site's to fix, and the answer says which directory and why.

use std::path::PathBuf;

/// What the filesystem refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// ENOSPC or EDQUOT: no space, or the quota is used up.
    Full,
    /// EROFS, EACCES or EPERM: the directory cannot be written at all.
    NotWritable,
}

/// A collection that failed on its filesystem, with the directory it was writing into.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the bundle under {}: {cause}", dir.display())]
pub struct StorageError {
    pub fault: StorageFault,
    pub dir: PathBuf,
    pub cause: String,
}

/// The fault an OS error number means, if it is a storage fault.
pub fn fault_of_errno(errno: i32) -> Option<StorageFault> {
    use nix::errno::Errno;
    match Errno::from_raw(errno) {
        Errno::ENOSPC | Errno::EDQUOT => Some(StorageFault::Full),
        Errno::EROFS | Errno::EACCES | Errno::EPERM => Some(StorageFault::NotWritable),
        _ => None,
    }
}

/// The storage fault behind `err`, if it is one: an `io::Error` anywhere in its source chain,
/// or, for the engine's errors that carry an I/O error as text (through the csv and parquet
/// writers), the `(os error N)` that `io::Error` always prints.
pub fn storage_fault(err: &(dyn std::error::Error + 'static)) -> Option<StorageFault> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(f) = io.raw_os_error().and_then(fault_of_errno) {
                return Some(f);
            }
        }
        next = e.source();
    }
    let text = err.to_string();
    let n = text.rsplit_once("(os error ")?.1.split(')').next()?;
    fault_of_errno(n.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_read_only_filesystems_are_told_apart_from_other_errors() {
        let io = |n| std::io::Error::from_raw_os_error(n);
        assert_eq!(storage_fault(&io(28)), Some(StorageFault::Full));
        assert_eq!(storage_fault(&io(122)), Some(StorageFault::Full));
        assert_eq!(storage_fault(&io(30)), Some(StorageFault::NotWritable));
        assert_eq!(storage_fault(&io(13)), Some(StorageFault::NotWritable));
        assert_eq!(storage_fault(&io(2)), None);
        let text = std::io::Error::other(format!("csv: {}", io(28)));
        assert_eq!(storage_fault(&text), Some(StorageFault::Full));
    }
}
