//! Owner-only files for the data dir, which holds personal data (the SQLite database with
//! profiles, password hashes and conversations; uploaded documents): files are created 0600 and
//! directories 0700, and what an earlier version created with looser modes is tightened on
//! start ([`restrict_tree`]). The mode is set on the open file itself, so no other user can
//! open it between creation and the change. On systems without Unix modes these only create
//! and write.

use std::io::{self, Write};
use std::path::Path;

/// Mode of files holding personal data.
pub const FILE_MODE: u32 = 0o600;
/// Mode of directories holding them.
pub const DIR_MODE: u32 = 0o700;

/// Create `dir` and its missing parents 0700. Directories that already exist keep their mode
/// (see [`restrict`]). Fails as [`std::fs::create_dir_all`] does.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

fn open_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

#[cfg(unix)]
fn set_private(file: &std::fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
}

#[cfg(not(unix))]
fn set_private(_file: &std::fs::File) -> io::Result<()> {
    Ok(())
}

/// Write `bytes` to `path` (created or truncated), leaving it 0600 even if it existed with
/// another mode. Fails when the file cannot be opened, written or synced to its mode.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = open_options().create(true).truncate(true).open(path)?;
    set_private(&file)?;
    file.write_all(bytes)
}

/// Create `path` empty and 0600 unless it exists (then [`restrict`] it): for files another
/// library fills, such as the SQLite database.
pub fn create_file(path: &Path) -> io::Result<()> {
    match open_options().create_new(true).open(path) {
        Ok(file) => set_private(&file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict(path).map(|_| ()),
        Err(e) => Err(e),
    }
}

/// Take group and other permissions off `path` (a 0644 file becomes 0600, a 0755 directory
/// 0700; the owner's own bits are kept); symbolic links and missing paths are left alone. Returns whether
/// the mode changed.
pub fn restrict(path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() || mode & 0o077 == 0 {
            return Ok(false);
        }
        let owner = mode & 0o700;
        let wanted = if meta.is_dir() { owner | DIR_MODE } else { owner };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

/// [`restrict`] `root` and everything under it (without following symbolic links); returns
/// how many modes changed. Entries that vanish meanwhile are skipped; other errors stop it.
pub fn restrict_tree(root: &Path) -> io::Result<usize> {
    let mut changed = usize::from(restrict(root)?);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            changed += usize::from(restrict(&path)?);
            if entry.file_type()?.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(changed)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_files_and_directories_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_dir_all(&sub).unwrap();
        assert_eq!((mode(&dir.path().join("a")), mode(&sub)), (0o700, 0o700));
        let f = sub.join("f");
        std::fs::write(&f, b"old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&f, b"new").unwrap();
        assert_eq!((mode(&f), std::fs::read(&f).unwrap()), (0o600, b"new".to_vec()));
        let db = sub.join("db");
        create_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn existing_trees_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("uploads/ab");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::set_permissions(dir.path().join("uploads"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o775)).unwrap();
        let f = sub.join("abcd");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o664)).unwrap();
        let ok = sub.join("ok");
        std::fs::write(&ok, b"x").unwrap();
        std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(restrict_tree(dir.path()).unwrap(), 4);
        assert_eq!(
            (mode(dir.path()), mode(&dir.path().join("uploads")), mode(&sub), mode(&f), mode(&ok)),
            (0o700, 0o700, 0o700, 0o600, 0o400)
        );
        assert_eq!(restrict_tree(dir.path()).unwrap(), 0, "nothing left to change");
    }
}
