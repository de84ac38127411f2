//! The file store: the lease across handles and processes (a killed holder's lock goes with
//! it), fenced publication and compare-and-delete, private files, and records that must read as
//! absent (corrupt, oversized, symlinked).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auth_core::store::{StoreKey, TokenStore};

use auth_core::{CacheOptions, TokenCache};
use auth_store::FileStore;
use auth_testkit::{ManualClock, ScriptedSource, check_lease_contract};

const TTL: Duration = Duration::from_secs(10);

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "auth-core-file-store-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir.join("store"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

fn key() -> StoreKey {
    StoreKey::new("test", "https://auth.example.com/token", "client=a")
}

/// Takes the lease on `key()`, publishes `value` under it and releases it.
async fn publish_once(store: &FileStore, value: &[u8]) -> auth_core::store::Lease {
    let lease = store
        .try_lease(&key(), "a", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(store.publish(&lease, value).await.expect("publish"));
    store.release(&lease).await.expect("release");
    lease
}

fn token_file(dir: &Path) -> PathBuf {
    dir.join(format!("{}.token", auth_store::digest(&key())))
}

#[tokio::test]
async fn the_lease_is_exclusive_between_stores_and_fences_grow() {
    let dir = TempDir::new("lease");
    let (a, b) = (
        FileStore::open(dir.path()).expect("open"),
        FileStore::open(dir.path()).expect("open"),
    );
    let (first, second) = check_lease_contract(&a, &b, &key()).await;
    // Only the process that holds a lease acts on it (the lock is its file handle).
    assert!(
        !a.renew(&second, TTL).await.expect("renew"),
        "a does not hold it"
    );
    assert!(
        !a.publish(&second, b"x").await.expect("publish"),
        "a does not hold it"
    );
    assert!(first.fence < second.fence);
    assert!(b.publish(&second, b"two").await.expect("publish"));
    b.release(&second).await.expect("release");

    // A store opened later on the same directory carries the fences on.
    let c = FileStore::open(dir.path()).expect("open");
    let third = c
        .try_lease(&key(), "c", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(third.fence > second.fence);
    c.release(&third).await.expect("release");
}

#[tokio::test]
async fn compare_and_delete_removes_only_the_rejected_publication() {
    let dir = TempDir::new("cad");
    let store = FileStore::open(dir.path()).expect("open");
    let lease = publish_once(&store, b"one").await;
    assert!(!store.remove_if(&key(), lease.fence + 1).await.expect("cad"));
    assert!(store.load(&key()).await.expect("load").is_some());
    assert!(store.remove_if(&key(), lease.fence).await.expect("cad"));
    assert!(store.load(&key()).await.expect("load").is_none());
    assert!(
        !store.remove_if(&key(), lease.fence).await.expect("cad"),
        "already gone"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_and_a_directory_others_may_read_is_closed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("modes");
    std::fs::create_dir_all(dir.path()).expect("mkdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = FileStore::open(dir.path()).expect("open");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    publish_once(&store, b"one").await;
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "token, lease and lock files, no temp file left: {names:?}"
    );
    for path in names {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_are_never_followed() {
    let dir = TempDir::new("symlink");
    let store = FileStore::open(dir.path()).expect("open");
    // A record elsewhere, valid in every way, reached through a symlink: absent.
    let elsewhere = dir.path().with_file_name("planted");
    std::fs::write(&elsewhere, b"vendor-auth-store/1 7\n{}").expect("write");
    std::os::unix::fs::symlink(&elsewhere, token_file(dir.path())).expect("symlink");
    assert!(store.load(&key()).await.expect("load").is_none());
    // A symlinked lease file is refused, not written through.
    let lease_file = dir
        .path()
        .join(format!("{}.lease", auth_store::digest(&key())));
    std::os::unix::fs::symlink(&elsewhere, &lease_file).expect("symlink");
    assert!(store.try_lease(&key(), "a", TTL).await.is_err());
    assert_eq!(
        std::fs::read(&elsewhere).expect("read"),
        b"vendor-auth-store/1 7\n{}"
    );
    // A symlinked store directory is refused.
    let link = dir.path().with_file_name("link");
    std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
    let err = FileStore::open(&link).expect_err("a symlinked directory");
    assert!(err.to_string().contains("token store"), "{err}");
}

#[tokio::test]
async fn corrupt_foreign_and_oversized_records_read_as_absent() {
    let dir = TempDir::new("corrupt");
    let store = FileStore::open(dir.path()).expect("open");
    let huge = {
        let mut v = b"vendor-auth-store/1 1\n".to_vec();
        v.resize(2 << 20, b'a');
        v
    };
    for bytes in [
        &b""[..],
        b"garbage",
        b"vendor-auth-store/1 notanumber\n{}",
        b"vendor-auth-store/2 1\n{}",
        b"other-tool/1 1\n{}",
        &[0xff, 0xfe, b'\n'][..],
        &huge[..],
    ] {
        std::fs::write(token_file(dir.path()), bytes).expect("write");
        #[cfg(unix)]
        {
            // Written as this store writes, so that only the content is at fault.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(
                token_file(dir.path()),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("chmod");
        }
        assert!(store.load(&key()).await.expect("load").is_none());
    }
    // A corrupt record does not stop the store from working.
    publish_once(&store, b"fine").await;
    assert_eq!(
        store
            .load(&key())
            .await
            .expect("load")
            .expect("stored")
            .value,
        b"fine"
    );
}

#[tokio::test]
async fn two_caches_on_one_directory_fetch_once() {
    let dir = TempDir::new("caches");
    let clock = ManualClock::new();
    let source = ScriptedSource::new(Arc::new(clock.clone()), Some(Duration::from_secs(3600)));
    source.share_as(key());
    let process = || {
        TokenCache::builder(source.clone())
            .clock(Arc::new(clock.clone()))
            .options(CacheOptions::default().store(FileStore::open(dir.path()).expect("open")))
            .build()
    };
    let (a, b) = (process(), process());
    let ta = a.token().await.expect("token");
    let tb = b.token().await.expect("token");
    assert_eq!(source.calls(), 1);
    assert_eq!(
        ta.access_token().expose_secret(),
        tb.access_token().expose_secret()
    );
    assert_eq!(b.stats().store_adopted, 1);
    // The stored file does not hold the token in a form `Debug` would print, and a third
    // "process" started later adopts it too.
    let c = process();
    c.token().await.expect("token");
    assert_eq!(source.calls(), 1);
}

const CHILD: &str = "AUTH_CORE_FILE_STORE_CHILD_DIR";

/// Not a test on its own: the child process of `a_killed_holders_lease_is_free_at_once`, which
/// takes the lease (never renewing it) and waits to be killed.
#[tokio::test]
#[ignore = "the child process of a_killed_holders_lease_is_free_at_once"]
async fn child_holds_the_lease_until_killed() {
    let dir = std::env::var_os(CHILD).expect("run by a_killed_holders_lease_is_free_at_once");
    let store = FileStore::open(PathBuf::from(dir)).expect("open");
    let lease = store
        .try_lease(&key(), "child", Duration::ZERO)
        .await
        .expect("lease");
    println!("LEASE {}", lease.map_or(0, |l| l.fence));
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn a_killed_holders_lease_is_free_at_once() {
    use std::io::BufRead;
    let dir = TempDir::new("killed");
    let store = FileStore::open(dir.path()).expect("open");
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--ignored",
            "--exact",
            "child_holds_the_lease_until_killed",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let line = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("LEASE "))
        .expect("the child reports its lease");
    let child_fence: u64 = line["LEASE ".len()..].parse().expect("fence");
    assert!(child_fence > 0, "the child took the lease");
    assert!(
        store
            .try_lease(&key(), "me", TTL)
            .await
            .expect("lease")
            .is_none()
    );
    // The child never renews its lease: once it is overdue by a whole lease, the holder is
    // taken for stuck, and the store says so (the cache then fetches on its own).
    let stuck = store
        .try_lease(&key(), "me", Duration::ZERO)
        .await
        .expect_err("a stuck holder");
    assert!(stuck.to_string().contains("stopped renewing"), "{stuck}");
    child.kill().expect("kill");
    child.wait().expect("wait");
    let lease = store
        .try_lease(&key(), "me", TTL)
        .await
        .expect("lease")
        .expect("free");
    assert!(lease.fence > child_fence);
}

#[tokio::test]
async fn a_sealed_file_store_keeps_the_lease_and_no_token_in_the_clear() {
    use auth_store::{SealedStore, Sealing, SealingKey};
    let dir = TempDir::new("sealed");
    let sealed = |k: u8| {
        SealedStore::new(
            FileStore::open(dir.path()).expect("open"),
            Sealing::with_key(SealingKey::from_bytes(&[k; 32]).expect("key")),
        )
    };
    let (a, b) = (sealed(1), sealed(1));
    let (_, held) = check_lease_contract(&a, &b, &key()).await;
    assert!(
        b.publish(&held, b"access-token-in-the-clear")
            .await
            .expect("publish")
    );
    let on_disk = std::fs::read(token_file(dir.path())).expect("record file");
    assert!(
        !on_disk
            .windows(b"access-token".len())
            .any(|w| w == b"access-token"),
        "the file holds the token sealed"
    );
    let record = a.load(&key()).await.expect("load").expect("opens");
    assert_eq!(record.value, b"access-token-in-the-clear");
    assert_eq!(record.fence, held.fence);
    assert!(
        sealed(2).load(&key()).await.expect("load").is_none(),
        "another key reads it as absent"
    );
    let plain = FileStore::open(dir.path()).expect("open");
    let raw = plain.load(&key()).await.expect("load").expect("raw record");
    assert_ne!(raw.value, b"access-token-in-the-clear");
}

/// A store directory is not a trap: what an attacker who can write there plants is refused,
/// never obeyed, and never blocks the process.
#[cfg(unix)]
mod planted {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn lease_file(dir: &Path) -> PathBuf {
        dir.join(format!("{}.lease", auth_store::digest(&key())))
    }

    fn mkfifo(path: &Path) -> bool {
        std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success())
    }

    #[tokio::test]
    async fn a_fifo_at_a_record_path_neither_blocks_nor_is_read() {
        let dir = TempDir::new("fifo");
        let store = FileStore::open(dir.path()).expect("open");
        if !mkfifo(&token_file(dir.path())) || !mkfifo(&lease_file(dir.path())) {
            return; // no mkfifo on this machine
        }
        // Both return at once (a blocking open would hang here, and the test with it).
        let load = tokio::time::timeout(Duration::from_secs(5), store.load(&key())).await;
        let err = load.expect("load returned").expect_err("refused");
        assert!(err.to_string().contains(".token"), "{err}");
        assert!(
            std::error::Error::source(&err)
                .is_some_and(|s| s.to_string().contains("not a regular file")),
            "{err:?}"
        );
        let lease =
            tokio::time::timeout(Duration::from_secs(5), store.try_lease(&key(), "a", TTL)).await;
        assert!(lease.expect("try_lease returned").is_err());
    }

    #[tokio::test]
    async fn a_hard_link_planted_as_the_lease_file_is_not_written_through() {
        let dir = TempDir::new("hardlink");
        let store = FileStore::open(dir.path()).expect("open");
        let victim = dir.path().parent().expect("parent").join("victim");
        std::fs::write(&victim, "precious\n").expect("write");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::hard_link(&victim, lease_file(dir.path())).expect("link");
        let err = store
            .try_lease(&key(), "a", TTL)
            .await
            .expect_err("refused");
        let why = format!("{err:?}");
        assert!(why.contains("hard links"), "{why}");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
    }

    #[tokio::test]
    async fn the_verifier_key_is_private_shared_by_stores_and_checked_like_any_store_file() {
        let dir = TempDir::new("verifier");
        let (a, b) = (
            FileStore::open(dir.path()).expect("open"),
            FileStore::open(dir.path()).expect("open"),
        );
        let secret = auth_core::Secret::new("hunter2-hunter2");
        let verifier = a.verifier(&key(), &secret).await.expect("verifier");
        assert_eq!(
            verifier,
            b.verifier(&key(), &secret).await.expect("verifier")
        );
        let file = dir.path().join("verifier.key");
        let meta = std::fs::metadata(&file).expect("the key file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        // Another directory, another key: the same secret has another verifier there.
        let other = TempDir::new("verifier-other");
        let c = FileStore::open(other.path()).expect("open");
        assert_ne!(
            verifier,
            c.verifier(&key(), &secret).await.expect("verifier")
        );
        // A key file others can read is refused, not used.
        let planted = TempDir::new("verifier-planted");
        let d = FileStore::open(planted.path()).expect("open");
        let key_file = planted.path().join("verifier.key");
        std::fs::write(&key_file, [7u8; 32]).expect("write");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = d.verifier(&key(), &secret).await.expect_err("refused");
        assert!(format!("{err:?}").contains("other users"), "{err:?}");
    }

    #[tokio::test]
    async fn a_record_others_can_write_is_not_adopted() {
        let dir = TempDir::new("wide-record");
        let store = FileStore::open(dir.path()).expect("open");
        publish_once(&store, b"record").await;
        let file = token_file(dir.path());
        for mode in [0o666, 0o644, 0o620] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = store.load(&key()).await.expect_err("refused");
            assert!(format!("{err:?}").contains("other users"), "{err:?}");
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(store.load(&key()).await.expect("load").is_some());
    }

    #[tokio::test]
    async fn a_directory_others_can_write_to_is_refused_not_repaired() {
        let dir = TempDir::new("wide-dir");
        std::fs::create_dir_all(dir.path()).expect("mkdir");
        for mode in [0o777, 0o1777, 0o770, 0o722] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
            let err = FileStore::open(dir.path()).expect_err("refused");
            let why = format!("{err:?}");
            assert!(why.contains("write") && why.contains("chmod 700"), "{why}");
            let left = std::fs::metadata(dir.path())
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777;
            assert_eq!(left, mode, "left as it was");
        }
    }

    #[tokio::test]
    async fn a_directory_or_record_of_another_user_is_refused() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = TempDir::new("foreign");
        let store = FileStore::open(dir.path()).expect("open");
        publish_once(&store, b"record").await;
        let mine = std::fs::metadata(dir.path()).expect("stat").uid();
        if mine != 0 {
            return; // only root can give a file away; CI runs as root
        }
        let chown = |path: &Path| {
            std::process::Command::new("chown")
                .arg("65534")
                .arg(path)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !chown(&token_file(dir.path())) {
            return;
        }
        let err = store.load(&key()).await.expect_err("refused");
        assert!(format!("{err:?}").contains("uid 65534"), "{err:?}");
        assert!(chown(dir.path()));
        let err = FileStore::open(dir.path()).expect_err("refused");
        assert!(format!("{err:?}").contains("uid 65534"), "{err:?}");
    }

    #[tokio::test]
    async fn forged_fences_neither_panic_nor_stop_fences_from_growing() {
        let dir = TempDir::new("fences");
        let store = FileStore::open(dir.path()).expect("open");
        let first = publish_once(&store, b"record").await;
        // A lease file and a record claiming the largest fence there is.
        let lease = lease_file(dir.path());
        std::fs::write(&lease, format!("{:020} {:020}\n", u64::MAX, 0)).expect("write");
        let record = token_file(dir.path());
        std::fs::write(&record, format!("vendor-auth-store/1 {}\nforged", u64::MAX))
            .expect("write");
        for path in [&lease, &record] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        // The forged record is not obeyed (nothing claims a fence no store could give).
        assert!(store.load(&key()).await.expect("load").is_none());
        let next = store
            .try_lease(&key(), "a", TTL)
            .await
            .expect("lease")
            .expect("free");
        // The forged values replaced the real history, so the store goes on from the wall
        // clock, which is never behind a fence it handed out before.
        assert!(
            next.fence >= first.fence && next.fence < u64::MAX / 2,
            "{next:?}"
        );
        assert!(store.publish(&next, b"fresh").await.expect("publish"));
        store.release(&next).await.expect("release");
        let after = store
            .try_lease(&key(), "a", TTL)
            .await
            .expect("lease")
            .expect("free");
        assert!(after.fence > next.fence, "fences still grow");
        assert_eq!(
            store
                .load(&key())
                .await
                .expect("load")
                .expect("record")
                .fence,
            next.fence
        );
    }

    #[tokio::test]
    async fn an_older_record_put_back_is_not_adopted() {
        let dir = TempDir::new("replay");
        let store = FileStore::open(dir.path()).expect("open");
        publish_once(&store, b"older").await;
        let older = std::fs::read(token_file(dir.path())).expect("read");
        let newer = publish_once(&store, b"newer").await;
        // Someone who kept the older record's bytes puts them back.
        std::fs::write(token_file(dir.path()), &older).expect("write");
        assert!(
            store.load(&key()).await.expect("load").is_none(),
            "a replayed record was adopted"
        );
        // The next publication is adopted as usual, and so is the newest record put back.
        let next = publish_once(&store, b"next").await;
        assert!(next.fence > newer.fence);
        let record = store.load(&key()).await.expect("load").expect("record");
        assert_eq!(record.value, b"next");
    }
}
