//! One process per data directory (and per knowledge-base index).
//!
//! Two servers on one data directory would both consume every message of
//! the embedded log and fight over the index's writer lock; `kb rebuild`
//! under a running server would replace the index it is serving. A serving
//! process therefore holds an exclusive advisory lock on a file in its data
//! directory, and every process that writes an index holds one beside the
//! index. The operating system drops the lock when the process ends, however
//! it ends, so a `kill -9` never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The lock file in a data directory.
pub const DATA_DIR_LOCK: &str = "switchboard.lock";

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub struct DirectoryLock {
    path: PathBuf,
    _file: File,
}

impl DirectoryLock {
    /// Locks `lock_file` (creating it and its directory), or explains who
    /// holds it. `what` names the thing protected, for the message.
    pub fn acquire(lock_file: &Path, what: &str) -> anyhow::Result<Self> {
        if let Some(parent) = lock_file.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_file)
            .with_context(|| format!("opening the lock file {}", lock_file.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let by = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
                anyhow::bail!(
                    "{what} is in use by another switchboard process{by}; stop it first, or give this one its own \
                     directory (--data-dir, or kb.index_dir for the index). Lock file: {}",
                    lock_file.display()
                );
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("locking {}", lock_file.display()));
            }
        }
        // Who holds it, for the next process's error message.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(Self { path: lock_file.to_path_buf(), _file: file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file that guards the index directory `index_dir`: beside it, not
/// inside (the index refuses to manage a directory with foreign files).
pub fn index_lock_file(index_dir: &Path) -> PathBuf {
    let name = index_dir.file_name().map_or_else(|| "kb-index".into(), |name| name.to_string_lossy().into_owned());
    index_dir.with_file_name(format!("{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let directory = tempfile::tempdir().expect("tempdir");
        let file = directory.path().join("nested").join(DATA_DIR_LOCK);
        let first = DirectoryLock::acquire(&file, "the data directory").expect("first lock");
        let error = DirectoryLock::acquire(&file, "the data directory").expect_err("second lock");
        let message = format!("{error:#}");
        assert!(message.contains("in use by another switchboard process"), "{message}");
        assert!(message.contains(&format!("process {}", std::process::id())), "{message}");
        drop(first);
        DirectoryLock::acquire(&file, "the data directory").expect("free again");
    }

    #[test]
    fn the_index_lock_sits_beside_the_index() {
        assert_eq!(index_lock_file(Path::new("/data/kb-index")), Path::new("/data/kb-index.lock"));
    }
}
