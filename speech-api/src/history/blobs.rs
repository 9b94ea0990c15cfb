//! Audio blobs on disk, addressed by their SHA-256: `blobs/<first 2 hex>/<64 hex>`.
//!
//! A blob is written aside (a temporary file in its final folder), flushed, then renamed
//! into place, so a reader never sees half a file and a crash leaves at most a temporary
//! file, swept at the next start. Identical audio is stored once; the store removes a
//! blob when no record references it any more.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::error::HistoryError;

/// Prefix of temporary files (a leading dot keeps them apart from blob names).
const TEMP_PREFIX: &str = ".tmp-";

/// The blob folder.
#[derive(Debug, Clone)]
pub(crate) struct BlobDir {
    root: PathBuf,
}

/// Audio hashed and written aside, waiting to be renamed into place by
/// [`BlobDir::commit`]. Dropping it uncommitted removes the temporary file.
#[derive(Debug)]
pub(crate) struct StagedBlob {
    /// Lowercase hex SHA-256 of the audio.
    pub hash: String,
    /// The temporary file, when the blob was not already on disk.
    temp: Option<PathBuf>,
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

/// What [`BlobDir::sweep`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Temporary files left by a crash.
    pub temp_files: usize,
    /// Blobs no record references (a crash between a blob's rename and its record).
    pub orphans: usize,
}

impl BlobDir {
    /// The blob folder at `root`, created (mode 0700) if missing.
    pub fn open(root: PathBuf) -> Result<Self, HistoryError> {
        create_private_dir(&root)?;
        Ok(Self { root })
    }

    /// Where the blob of `hash` lives. `hash` must be a blob name (64 lowercase hex).
    pub fn path(&self, hash: &str) -> PathBuf {
        let shard = hash.get(..2).unwrap_or("00");
        self.root.join(shard).join(hash)
    }

    /// Hashes `audio` and, unless that blob already exists, writes it to a temporary
    /// file beside its final place. Slow (I/O, hashing): call it outside any lock.
    pub fn stage(&self, audio: &[u8]) -> Result<StagedBlob, HistoryError> {
        let hash = hex(&Sha256::digest(audio));
        let path = self.path(&hash);
        if path.is_file() {
            return Ok(StagedBlob { hash, temp: None });
        }
        let temp = self.write_temp(&path, audio)?;
        Ok(StagedBlob {
            hash,
            temp: Some(temp),
        })
    }

    /// Puts a staged blob in place. Called under the store's write lock, so no delete
    /// can remove the blob between this and the insert of the record that references it.
    /// `audio` rewrites the blob in the rare case it existed when staged but has been
    /// deleted since.
    pub fn commit(&self, staged: &mut StagedBlob, audio: &[u8]) -> Result<(), HistoryError> {
        let path = self.path(&staged.hash);
        let temp = match staged.temp.take() {
            Some(temp) => temp,
            None if path.is_file() => return Ok(()),
            None => self.write_temp(&path, audio)?,
        };
        // Renaming over an existing blob is fine: same name, same bytes.
        if let Err(e) = fs::rename(&temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(HistoryError::io("renaming into", path)(e));
        }
        if let Some(dir) = path.parent() {
            sync_dir(dir);
        }
        Ok(())
    }

    /// Removes the blob of `hash`; one that is already gone is fine.
    pub fn remove(&self, hash: &str) -> Result<(), HistoryError> {
        let path = self.path(hash);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HistoryError::io("removing", path)(e)),
        }
    }

    /// Removes temporary files and the blobs `is_referenced` says no record uses. Run at
    /// open, before anything else can write.
    pub fn sweep(
        &self,
        mut is_referenced: impl FnMut(&str) -> Result<bool, HistoryError>,
    ) -> Result<Swept, HistoryError> {
        let mut swept = Swept::default();
        for shard in read_dir(&self.root)? {
            if !shard.is_dir() {
                continue;
            }
            for file in read_dir(&shard)? {
                let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if name.starts_with(TEMP_PREFIX) {
                    fs::remove_file(&file).map_err(HistoryError::io("removing", &file))?;
                    swept.temp_files += 1;
                } else if is_blob_name(name) && !is_referenced(name)? {
                    fs::remove_file(&file).map_err(HistoryError::io("removing", &file))?;
                    swept.orphans += 1;
                }
            }
        }
        Ok(swept)
    }

    /// Writes `audio` to a fresh temporary file in the folder of `path` and flushes it.
    fn write_temp(&self, path: &Path, audio: &[u8]) -> Result<PathBuf, HistoryError> {
        let dir = path.parent().unwrap_or(&self.root);
        create_private_dir(dir)?;
        let mut nonce = [0u8; 8];
        mka1_http_api::random_bytes(&mut nonce);
        let temp = dir.join(format!("{TEMP_PREFIX}{}", hex(&nonce)));
        let written = (|| {
            let mut file = private_file_options().open(&temp)?;
            file.write_all(audio)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(HistoryError::io("writing", temp)(e));
        }
        Ok(temp)
    }
}

/// Whether `name` looks like a blob (64 lowercase hex digits).
pub(crate) fn is_blob_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, HistoryError> {
    let entries = fs::read_dir(dir).map_err(HistoryError::io("listing", dir))?;
    entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(HistoryError::io("listing", dir))
}

/// Creates `dir` (and its parents) readable by the owner only: the audio is private.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), HistoryError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(HistoryError::io("creating", dir))
}

fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

/// Flushes a folder's entries so a rename survives a power cut. Best effort: not every
/// file system lets a folder be opened for that.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn staged_blobs_land_under_their_hash_and_temp_files_never_linger() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(tmp.path().join("blobs")).unwrap();
        let audio = b"RIFF....WAVEfmt ".to_vec();
        let mut staged = blobs.stage(&audio).unwrap();
        assert!(is_blob_name(&staged.hash));
        blobs.commit(&mut staged, &audio).unwrap();
        let path = blobs.path(&staged.hash);
        assert_eq!(fs::read(&path).unwrap(), audio);
        assert_eq!(
            path.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
            &staged.hash[..2]
        );
        // Staging the same bytes again writes nothing.
        let again = blobs.stage(&audio).unwrap();
        assert!(again.temp.is_none());
        // An uncommitted stage leaves nothing behind when dropped.
        let other = blobs.stage(b"other audio").unwrap();
        let temp = other.temp.clone().unwrap();
        assert!(temp.is_file());
        drop(other);
        assert!(!temp.exists());
    }

    #[test]
    fn sweep_removes_temp_files_and_orphans_only() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(tmp.path().join("blobs")).unwrap();
        let mut kept = blobs.stage(b"kept").unwrap();
        blobs.commit(&mut kept, b"kept").unwrap();
        let mut orphan = blobs.stage(b"orphan").unwrap();
        blobs.commit(&mut orphan, b"orphan").unwrap();
        let crashed = blobs.stage(b"crashed mid-write").unwrap();
        let crashed_temp = crashed.temp.clone().unwrap();
        std::mem::forget(crashed);

        let kept_hash = kept.hash.clone();
        let swept = blobs.sweep(|h| Ok(h == kept_hash)).unwrap();
        assert_eq!(
            swept,
            Swept {
                temp_files: 1,
                orphans: 1
            }
        );
        assert!(blobs.path(&kept.hash).is_file());
        assert!(!blobs.path(&orphan.hash).exists());
        assert!(!crashed_temp.exists());
    }

    #[test]
    fn the_hash_is_sha256() {
        // Known answer: SHA-256("abc").
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
