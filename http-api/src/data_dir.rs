//! The server's data directory: generated keys now, the history database later.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::secret::SecretString;

/// Environment variable that moves the data directory.
const DATA_DIR_ENV: &str = "MKA1_DATA_DIR";

/// Errors finding or writing the data directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// Neither `MKA1_DATA_DIR` nor a home directory is known.
    #[error("no data directory: set MKA1_DATA_DIR (no home directory is known)")]
    NoHome,
    /// A file or folder of the data directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("creating", "reading", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A stored secret file exists but is empty (e.g. a crash while it was written).
    #[error("{path} is empty: delete it to generate a new one")]
    EmptySecret {
        /// The file.
        path: PathBuf,
    },
}

/// The data directory (`MKA1_DATA_DIR`, default `~/.local/share/mka1-voice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
}

/// A secret read from the data directory, or generated into it by this call.
#[derive(Debug)]
pub struct StoredSecret {
    /// The secret (the file's content without surrounding whitespace).
    pub value: SecretString,
    /// The file it lives in.
    pub path: PathBuf,
    /// True when this call generated and stored it (the first run).
    pub created: bool,
}

impl DataDir {
    /// A data directory at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `MKA1_DATA_DIR`, else `$XDG_DATA_HOME/mka1-voice`, else
    /// `~/.local/share/mka1-voice`.
    pub fn from_env() -> Result<Self, DataDirError> {
        if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(Self::new(dir));
        }
        dirs::data_dir()
            .map(|d| Self::new(d.join("mka1-voice")))
            .ok_or(DataDirError::NoHome)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the directory (mode 0700 on Unix: it holds keys) if it is missing.
    pub fn ensure(&self) -> Result<(), DataDirError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(&self.path)
            .map_err(|source| DataDirError::Io {
                action: "creating",
                path: self.path.clone(),
                source,
            })
    }

    /// Reads the secret stored in file `name`, or, when there is none, stores the one
    /// `generate` makes (file mode 0600) and returns it with `created` set.
    ///
    /// Two processes starting at once agree on one secret: the file appears atomically
    /// (written aside, then hard-linked into place, which fails if it already exists),
    /// and the loser reads the winner's.
    pub fn read_or_create_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> SecretString,
    ) -> Result<StoredSecret, DataDirError> {
        let path = self.path.join(name);
        if let Some(value) = read_secret(&path)? {
            return Ok(StoredSecret {
                value,
                path,
                created: false,
            });
        }
        self.ensure()?;
        let value = generate();
        let tmp = self
            .path
            .join(format!(".{name}.{}.tmp", std::process::id()));
        let io_err = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| DataDirError::Io {
                action,
                path,
                source,
            }
        };
        write_private(&tmp, value.expose()).map_err(io_err("writing", &tmp))?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(StoredSecret {
                value,
                path,
                created: true,
            }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let value =
                    read_secret(&path)?.ok_or(DataDirError::EmptySecret { path: path.clone() })?;
                Ok(StoredSecret {
                    value,
                    path,
                    created: false,
                })
            }
            Err(e) => Err(io_err("storing", &path)(e)),
        }
    }
}

/// The trimmed content of a secret file; `None` when the file does not exist.
fn read_secret(path: &Path) -> Result<Option<SecretString>, DataDirError> {
    match fs::read_to_string(path) {
        Ok(content) => {
            let value = SecretString::new(content.trim());
            drop(SecretString::new(content));
            if value.is_empty() {
                Err(DataDirError::EmptySecret {
                    path: path.to_path_buf(),
                })
            } else {
                Ok(Some(value))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DataDirError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, content: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_secret_is_generated_once_then_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("nested/data"));
        let first = dir
            .read_or_create_secret("k", || SecretString::new("one"))
            .unwrap();
        assert!(first.created);
        assert_eq!(first.value.expose(), "one");
        let again = dir
            .read_or_create_secret("k", || SecretString::new("two"))
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.value.expose(), "one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&first.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["k"]);
    }

    #[test]
    fn an_empty_secret_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("k"), "\n").unwrap();
        let err = DataDir::new(tmp.path())
            .read_or_create_secret("k", || SecretString::new("x"))
            .unwrap_err();
        assert!(matches!(err, DataDirError::EmptySecret { .. }), "{err}");
    }
}
