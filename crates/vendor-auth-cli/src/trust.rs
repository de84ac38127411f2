//! Which files the tool trusts, as ssh trusts a private key: a secret file (a password, a sealing
//! key) and the config file must belong to the user (or to root, as mounted container secrets
//! do) and be closed to everyone else, and the config file's directory must not be writable by
//! others, who could otherwise replace it.

use std::path::Path;

use crate::failure::Failure;

/// The user this process runs as, on Unix: the owner of `/proc/self` where there is one, else
/// of a file it creates for the purpose.
#[cfg(unix)]
fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    static UID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return Some(meta.uid());
        }
        let probe = std::env::temp_dir().join(format!(".vendor-auth-uid-{}", std::process::id()));
        let uid = std::fs::File::create(&probe)
            .and_then(|file| file.metadata())
            .map(|meta| meta.uid())
            .ok();
        let _ = std::fs::remove_file(&probe);
        uid
    })
}

/// Refuses a secret file that belongs to another user or that others may read or change.
/// `what` names where the file was given (`--password-file`, `P21_PASSWORD_FILE`).
#[cfg(unix)]
pub(crate) fn check_secret_file(path: &Path, what: &str) -> Result<(), Failure> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it will say what is wrong
    };
    let shown = path.display();
    if !meta.is_file() {
        return Err(Failure::config(format!(
            "{what} ({shown}) is not a regular file"
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::config(format!(
            "{what} ({shown}) can be read or changed by other users (mode {mode:03o}); it holds a secret, so it is not used"
        ))
        .hint(format!(
            "run: chmod 600 {shown} (for a mounted secret, give the mount mode 0400)"
        )));
    }
    if let Some(me) = current_uid() {
        if meta.uid() != me && meta.uid() != 0 {
            return Err(Failure::config(format!(
                "{what} ({shown}) belongs to another user (uid {}); it holds a secret, so it is not used",
                meta.uid()
            ))
            .hint("use a file of your own (or root's, as mounted secrets are)"));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_secret_file(_path: &Path, _what: &str) -> Result<(), Failure> {
    // Windows: the file inherits the ACL of the user's profile directory.
    Ok(())
}

/// Refuses a config file that others may read or change, that belongs to another user, or
/// whose directory others may write to.
#[cfg(unix)]
pub(crate) fn check_config_file(path: &Path, meta: &std::fs::Metadata) -> Result<(), Failure> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let shown = path.display();
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::config(format!(
            "the config file {shown} can be read or changed by other users (mode {mode:03o}); it may hold secrets, so it is not used"
        ))
        .hint(format!("run: chmod 600 {shown}")));
    }
    if let Some(me) = current_uid() {
        if meta.uid() != me && meta.uid() != 0 {
            return Err(Failure::config(format!(
                "the config file {shown} belongs to another user (uid {}), who could make it say anything; it is not used",
                meta.uid()
            ))
            .hint("use a config file of your own (--config FILE)"));
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(dir_meta) = std::fs::metadata(dir) {
        let dir_mode = dir_meta.permissions().mode() & 0o777;
        // A sticky, world-writable directory (/tmp) still lets others plant a file of that name
        // before it exists, so it is refused as well.
        if dir_mode & 0o022 != 0 {
            return Err(Failure::config(format!(
                "the config file {shown} is in a directory others can write to ({}, mode {dir_mode:03o}): they could replace it, so it is not used",
                dir.display()
            ))
            .hint(format!("run: chmod go-w {}", dir.display())));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_config_file(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), Failure> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn private_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vendor-auth-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        dir
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused_with_the_fix() {
        let dir = private_dir("secret");
        let file = dir.join("password");
        std::fs::write(&file, "hunter2").expect("written");
        for mode in [0o644, 0o640, 0o604, 0o660, 0o606] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = check_secret_file(&file, "--password-file").expect_err("refused");
            let text = err.render(false);
            assert!(text.contains(&file.display().to_string()), "{text}");
            assert!(text.contains("chmod 600"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert_eq!(err.code(), crate::failure::exit::CONFIG);
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(check_secret_file(&file, "--password-file").is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_config_file_in_a_directory_others_can_write_to_is_refused() {
        let dir = private_dir("config");
        let file = dir.join("config.toml");
        std::fs::write(&file, "").expect("written");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let meta = || std::fs::metadata(&file).expect("metadata");
        assert!(check_config_file(&file, &meta()).is_ok());
        for mode in [0o777, 0o1777, 0o775, 0o757] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = check_config_file(&file, &meta()).expect_err("refused");
            assert!(
                err.render(false).contains("chmod go-w"),
                "{}",
                err.render(false)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_of_another_user_are_refused() {
        use std::os::unix::fs::MetadataExt as _;
        if current_uid() != Some(0) {
            return; // only root can give a file away; CI runs as root
        }
        let dir = private_dir("owner");
        let file = dir.join("password");
        std::fs::write(&file, "x").expect("written");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let nobody = 65_534;
        let chown = std::process::Command::new("chown")
            .arg(nobody.to_string())
            .arg(&file)
            .status()
            .is_ok_and(|s| s.success());
        if chown && std::fs::metadata(&file).expect("metadata").uid() == nobody {
            // Root's own files pass; a file root gave away is another user's. Root itself is
            // exempt as an owner, so check as if run by another user is not possible here:
            // the owner check must at least name the owner of a foreign file.
            let meta = std::fs::metadata(&file).expect("metadata");
            assert_eq!(meta.uid(), nobody);
            let err = check_config_file(&file, &meta).expect_err("refused");
            assert!(
                err.render(false).contains("another user"),
                "{}",
                err.render(false)
            );
            let err = check_secret_file(&file, "--password-file").expect_err("refused");
            assert!(
                err.render(false).contains("uid 65534"),
                "{}",
                err.render(false)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
