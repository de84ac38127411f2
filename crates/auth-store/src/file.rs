//! [`FileStore`]: a [`TokenStore`] in a directory, shared by the processes of one host.
//!
//! Per key (named by the key's digest) there are three files:
//! - `<digest>.token`: the record, a header line `vendor-auth-store/1 <fence>` then the encoded
//!   record, replaced whole by a temp file and a rename;
//! - `<digest>.lease`: held under an OS file lock by the process that fetches (the kernel
//!   releases it when that process dies); it holds the last fence and the lease's expiry, which
//!   its holder renews;
//! - `<digest>.lock`: held for the few microseconds of a publication or a compare-and-delete, so
//!   that the two cannot interleave.
//!
//! and one for the directory, `verifier.key`: 32 random bytes, written once, that key the
//! verifiers of secrets its records carry (see [`Verifier`]).
//!
//! Files are created 0600 in a 0700 directory and opened without following symlinks and without
//! waiting; a record that is corrupt, foreign or too large reads as absent. A file that this
//! store did not write (not a regular file, more than one link, another user's, open to others)
//! is refused, and so is a directory of another user or one others can write to.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::Secret;
use auth_core::store::{Lease, Record, StoreError, StoreKey, TokenStore};

use crate::Verifier;

const HEADER: &str = "vendor-auth-store/1";
/// A record larger than this is not a record of ours.
const MAX_RECORD: u64 = 1 << 20;
/// How long a publication waits for another's to finish before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// A [`TokenStore`] in a directory of the local file system, for the processes of one host (a
/// service's workers, a CLI beside a service). Clones share the same leases.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use auth_core::store::{StoreKey, TokenStore};
/// use auth_store::FileStore;
///
/// let dir = std::env::temp_dir().join(format!("file-store-doc-{}", std::process::id()));
/// let store = FileStore::open(&dir)?;
/// let key = StoreKey::new("example", "https://auth.example.com", "client=a");
/// let lease = store.try_lease(&key, "me", Duration::from_secs(10)).await?.unwrap();
/// // Another process (or another store on the same directory) finds the lease taken.
/// let other = FileStore::open(&dir)?;
/// assert!(other.try_lease(&key, "other", Duration::from_secs(10)).await?.is_none());
/// assert!(store.publish(&lease, b"record").await?);
/// store.release(&lease).await?;
/// assert_eq!(other.load(&key).await?.unwrap().fence, lease.fence);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), auth_core::store::StoreError>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// Keyed by the directory's `verifier.key`, read (or created) on first use.
    verifier: Mutex<Option<Verifier>>,
    /// The leases this process holds, by key digest: the open, locked lease file.
    held: Mutex<HashMap<String, Held>>,
}

struct Held {
    owner: String,
    fence: u64,
    file: File,
    /// The fence of the last publication on the key, kept in the lease file.
    published: u64,
}

/// The directory's verifier key file and its length.
const VERIFIER_KEY: &str = "verifier.key";
const VERIFIER_KEY_LEN: usize = 32;

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("held", &self.held().len())
            .finish()
    }
}

impl FileStore {
    /// A store in `dir`, created (with its parents) if missing. The directory is made private to
    /// its owner (0700 on Unix).
    ///
    /// # Errors
    /// The directory cannot be created or made private, or `dir` is a symlink or not a
    /// directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        prepare_dir(&dir).map_err(|e| {
            StoreError::new(format!("cannot use {} as a token store", dir.display())).with_source(e)
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                verifier: Mutex::new(None),
                held: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A store in [`default_dir`](Self::default_dir).
    ///
    /// # Errors
    /// No per-user cache directory is known (no `HOME` or equivalent), or it cannot be used.
    pub fn open_default() -> Result<Self, StoreError> {
        let dir = Self::default_dir().ok_or_else(|| {
            StoreError::new("no per-user cache directory is known; name a directory for the store")
        })?;
        Self::open(dir)
    }

    /// The per-user default: `vendor-auth` in the user's cache directory (`$XDG_CACHE_HOME` or
    /// `~/.cache` on Linux and other Unixes, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
    /// Windows).
    #[must_use]
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|b| b.join("vendor-auth"))
    }

    /// The directory the store keeps its files in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn held(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self, key: &StoreKey, ext: &str) -> PathBuf {
        self.inner.dir.join(format!("{}.{ext}", crate::digest(key)))
    }

    /// Whether this process holds `lease` right now.
    fn holds(&self, lease: &Lease) -> bool {
        self.held()
            .get(&crate::digest(&lease.key))
            .is_some_and(|h| h.owner == lease.owner && h.fence == lease.fence)
    }

    /// Runs `f` under the key's short write lock (on a thread of the blocking pool).
    fn exclusive<T>(
        &self,
        key: &StoreKey,
        f: impl FnOnce() -> io::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.path(key, "lock");
        let file = open_private(&path, false).map_err(|e| io_error("open", &path, e))?;
        let started = std::time::Instant::now();
        loop {
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => break,
                Err(fs4::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(StoreError::new(format!(
                        "{} stayed locked for {} s",
                        path.display(),
                        LOCK_WAIT.as_secs()
                    )));
                }
                Err(fs4::TryLockError::Error(e)) => return Err(io_error("lock", &path, e)),
            }
        }
        let result = f().map_err(|e| io_error("update", &path, e));
        // Closing the file releases the lock too; unlocking first says so plainly.
        let _ = fs4::FileExt::unlock(&file);
        result
    }

    fn read_record(&self, key: &StoreKey) -> io::Result<Option<Record>> {
        let path = self.path(key, "token");
        let file = match open_existing(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if is_symlink_refusal(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(MAX_RECORD + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_RECORD {
            zeroize::Zeroize::zeroize(&mut bytes);
            return Ok(None);
        }
        let record = parse_record(&bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(record)
    }

    fn write_record(&self, key: &StoreKey, fence: u64, value: &[u8]) -> io::Result<()> {
        let target = self.path(key, "token");
        let random = fastrand::u64(..);
        let temp = self.inner.dir.join(format!(
            "{}.{}-{random:x}.tmp",
            crate::digest(key),
            std::process::id()
        ));
        let written = (|| {
            let mut file = open_private(&temp, true)?;
            let mut bytes = format!("{HEADER} {fence}\n").into_bytes();
            bytes.extend_from_slice(value);
            let result = file.write_all(&bytes);
            zeroize::Zeroize::zeroize(&mut bytes);
            result?;
            fs::rename(&temp, &target)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

#[auth_core::async_trait]
impl TokenStore for FileStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let key = key.clone();
        self.blocking(move |store| store.load_now(&key)).await
    }

    async fn try_lease(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let (key, owner) = (key.clone(), owner.to_owned());
        self.blocking(move |store| store.try_lease_now(&key, &owner, ttl))
            .await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let lease = lease.clone();
        self.blocking(move |store| store.renew_now(&lease, ttl))
            .await
    }

    async fn publish(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        let (lease, value) = (lease.clone(), zeroize::Zeroizing::new(value.to_vec()));
        self.blocking(move |store| store.publish_now(&lease, &value))
            .await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.blocking(move |store| store.release_now(&lease)).await
    }

    async fn remove_if(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        let key = key.clone();
        self.blocking(move |store| store.remove_if_now(&key, fence))
            .await
    }

    async fn verifier(&self, key: &StoreKey, secret: &Secret) -> Result<String, StoreError> {
        let (key, secret) = (key.clone(), secret.clone());
        self.blocking(move |store| Ok(store.verifier_now()?.of(&key, &secret)))
            .await
    }
}

impl FileStore {
    /// Runs `op` on a thread of tokio's blocking pool, never on an async worker: a filesystem
    /// that hangs (a stalled network mount) holds that thread alone, and the cache's store
    /// timeout still ends the call that waits for it.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&FileStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .map_err(|e| StoreError::new("a file store operation did not finish").with_source(e))?
    }
}

/// The store's operations, run on a thread of the blocking pool (see [`FileStore::blocking`]).
impl FileStore {
    fn load_now(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let record = self
            .read_record(key)
            .map_err(|e| io_error("read", &self.path(key, "token"), e))?;
        let Some(record) = record else {
            return Ok(None);
        };
        // A record older than the last publication was put back (a replay): not adopted.
        let lease = self.path(key, "lease");
        let published = match open_existing(&lease) {
            Ok(mut file) => read_lease(&mut file).map_or(0, |l| l.published),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error("read", &lease, e)),
        };
        Ok((record.fence >= published).then_some(record))
    }

    fn try_lease_now(
        &self,
        key: &StoreKey,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let path = self.path(key, "lease");
        if self.held().contains_key(&crate::digest(key)) {
            // Held by another cache of this process.
            return Ok(None);
        }
        let mut file = open_private(&path, false).map_err(|e| io_error("open", &path, e))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                // Held by a live process; if it stopped renewing, it is stuck, and waiting for
                // it would only stall this one: say so, and the cache fetches on its own.
                let expires = read_lease(&mut file).map_or(u64::MAX, |l| l.expires);
                return if expires.saturating_add(ms(ttl)) <= now_ms() {
                    Err(StoreError::new(format!(
                        "the lease in {} is held by a process that stopped renewing it",
                        path.display()
                    )))
                } else {
                    Ok(None)
                };
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io_error("lock", &path, e)),
        }
        let (last, published) = read_lease(&mut file).map_or((0, 0), |l| (l.fence, l.published));
        let published = if published <= plausible_fence() {
            published
        } else {
            0
        };
        let stored = self.read_record(key).ok().flatten().map_or(0, |r| r.fence);
        // Past the wall clock too, so that fences keep growing if the directory is emptied. A
        // fence no clock can have reached (a forged one) is not continued: it would stop
        // fences from growing.
        let fence = [last, stored]
            .into_iter()
            .filter(|&f| f <= plausible_fence())
            .max()
            .unwrap_or(0)
            .saturating_add(1)
            .max(now_ms());
        write_lease(&mut file, fence, expiry(ttl), published)
            .map_err(|e| io_error("write", &path, e))?;
        let mut held = self.held();
        if held.contains_key(&crate::digest(key)) {
            // Another cache of this process won the race meanwhile (the lock is per file
            // handle): dropping `file` gives the lock up.
            return Ok(None);
        }
        held.insert(
            crate::digest(key),
            Held {
                owner: owner.to_owned(),
                fence,
                file,
                published,
            },
        );
        Ok(Some(Lease::new(key.clone(), owner, fence)))
    }

    fn renew_now(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let path = self.path(&lease.key, "lease");
        let mut held = self.held();
        match held.get_mut(&crate::digest(&lease.key)) {
            Some(h) if h.owner == lease.owner && h.fence == lease.fence => {
                write_lease(&mut h.file, h.fence, expiry(ttl), h.published)
                    .map_err(|e| io_error("write", &path, e))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn publish_now(&self, lease: &Lease, value: &[u8]) -> Result<bool, StoreError> {
        if !self.holds(lease) {
            return Ok(false);
        }
        self.exclusive(&lease.key, || {
            self.write_record(&lease.key, lease.fence, value)
        })?;
        // The lease file remembers this publication, so that an older record put back is known.
        let path = self.path(&lease.key, "lease");
        let mut held = self.held();
        if let Some(h) = held.get_mut(&crate::digest(&lease.key)) {
            if h.owner == lease.owner && h.fence == lease.fence {
                h.published = lease.fence;
                let expires = read_lease(&mut h.file).map_or_else(now_ms, |l| l.expires);
                write_lease(&mut h.file, h.fence, expires, h.published)
                    .map_err(|e| io_error("write", &path, e))?;
            }
        }
        Ok(true)
    }

    fn release_now(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut held = self.held();
        if let Some(h) = held.get(&crate::digest(&lease.key)) {
            if h.owner == lease.owner && h.fence == lease.fence {
                if let Some(mut h) = held.remove(&crate::digest(&lease.key)) {
                    // The lease lapses now for whoever looks at its expiry.
                    let _ = write_lease(&mut h.file, h.fence, now_ms(), h.published);
                    let _ = fs4::FileExt::unlock(&h.file);
                }
            }
        }
        Ok(())
    }

    /// The directory's verifier, from its key file: read, or created if there is none (a
    /// concurrent creator's file is read once it is whole).
    fn verifier_now(&self) -> Result<Verifier, StoreError> {
        let mut cached = self
            .inner
            .verifier
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(verifier) = cached.as_ref() {
            return Ok(verifier.clone());
        }
        let path = self.inner.dir.join(VERIFIER_KEY);
        let fail = |e| io_error("use the verifier key", &path, e);
        let mut key = zeroize::Zeroizing::new(Vec::with_capacity(VERIFIER_KEY_LEN));
        match open_private(&path, true) {
            Ok(mut file) => {
                key.resize(VERIFIER_KEY_LEN, 0);
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                    .map_err(|_| StoreError::new("the system's random source failed"))?;
                file.write_all(&key).map_err(fail)?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let started = std::time::Instant::now();
                while key.len() < VERIFIER_KEY_LEN && started.elapsed() < LOCK_WAIT {
                    key.clear();
                    let file = open_existing(&path).map_err(fail)?;
                    file.take(VERIFIER_KEY_LEN as u64 + 1)
                        .read_to_end(&mut key)
                        .map_err(fail)?;
                    if key.len() < VERIFIER_KEY_LEN {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                if key.len() != VERIFIER_KEY_LEN {
                    return Err(fail(io::Error::other("it is not 32 bytes long")));
                }
            }
            Err(e) => return Err(fail(e)),
        }
        let verifier = Verifier::keyed(&key);
        *cached = Some(verifier.clone());
        Ok(verifier)
    }

    fn remove_if_now(&self, key: &StoreKey, fence: u64) -> Result<bool, StoreError> {
        self.exclusive(key, || {
            let current = self.read_record(key)?;
            if current.is_some_and(|r| r.fence == fence) {
                fs::remove_file(self.path(key, "token"))?;
                Ok(true)
            } else {
                Ok(false)
            }
        })
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> StoreError {
    StoreError::new(format!("cannot {what} {}", path.display())).with_source(e)
}

/// The largest fence a store can have handed out: fences start from the wall clock in
/// milliseconds and grow by one per lease, so anything past a century from now was forged.
fn plausible_fence() -> u64 {
    now_ms().saturating_add(100 * 365 * 24 * 3_600_000)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, ms)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the lease file holds: `<last fence> <expiry, Unix ms> <fence of the last publication>`
/// (files written before the third field read it as 0).
struct LeaseFile {
    fence: u64,
    expires: u64,
    published: u64,
}

fn read_lease(file: &mut File) -> Option<LeaseFile> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(96).read_to_string(&mut text).ok()?;
    let mut parts = text.split_whitespace();
    let fence = parts.next()?.parse().ok()?;
    let expires = parts.next()?.parse().ok()?;
    let published = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(LeaseFile {
        fence,
        expires,
        published,
    })
}

/// The expiry of a lease taken or renewed now for `ttl`, in Unix ms.
fn expiry(ttl: Duration) -> u64 {
    now_ms().saturating_add(ms(ttl))
}

fn write_lease(file: &mut File, fence: u64, expires: u64, published: u64) -> io::Result<()> {
    // Fixed width, so that a rewrite never leaves a longer old tail behind.
    let text = format!("{fence:020} {expires:020} {published:020}\n");
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.set_len(text.len() as u64)
}

fn parse_record(bytes: &[u8]) -> Option<Record> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..newline]).ok()?;
    let fence = header
        .strip_prefix(HEADER)?
        .strip_prefix(' ')?
        .parse()
        .ok()
        .filter(|&f| f <= plausible_fence())?;
    Some(Record::new(fence, bytes[newline + 1..].to_vec()))
}

fn prepare_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other("it is a symlink"));
    }
    if !meta.is_dir() {
        return Err(io::Error::other("it is not a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        // As ssh does with ~/.ssh: a directory of another user, or one others can write to
        // (and so plant files in), is refused, not repaired; one others may only read is closed.
        if let Some(me) = current_uid() {
            if meta.uid() != me {
                return Err(io::Error::other(format!(
                    "it belongs to uid {} (mode {:03o}), not to this user; use a directory of your own",
                    meta.uid(),
                    meta.permissions().mode() & 0o777
                )));
            }
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(io::Error::other(format!(
                "other users can write to it (mode {mode:03o}), so any file in it may have been planted; remove it (or run chmod 700 on it after checking its files)"
            )));
        }
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Opens (creating if missing, or only creating when `new`) a file readable and writable by its
/// owner only, not through a symlink.
fn open_private(path: &Path, new: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    nofollow(&mut options);
    let file = options.open(path)?;
    check_own_file(&file, path)?;
    Ok(file)
}

fn open_existing(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    nofollow(&mut options);
    let file = options.open(path)?;
    check_own_file(&file, path)?;
    Ok(file)
}

/// Refuses an opened store file that is not what this store writes: a regular file with one
/// link, this user's, closed to everyone else. Something else at the path was planted (a FIFO,
/// a hard link to a file elsewhere, a file another user wrote), and is neither read nor written.
fn check_own_file(file: &File, path: &Path) -> io::Result<()> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(planted(path, "it is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if meta.nlink() != 1 {
            return Err(planted(
                path,
                &format!("it has {} hard links (a store file has one)", meta.nlink()),
            ));
        }
        if let Some(me) = current_uid() {
            if meta.uid() != me {
                return Err(planted(path, &format!("it belongs to uid {}", meta.uid())));
            }
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(planted(
                path,
                &format!("other users can read or change it (mode {mode:03o})"),
            ));
        }
    }
    Ok(())
}

fn planted(path: &Path, why: &str) -> io::Error {
    io::Error::other(format!(
        "{} is not a file this store wrote: {why}; it is left alone (remove it, or use another store directory)",
        path.display()
    ))
}

/// The user this process runs as: the owner of `/proc/self` where there is one, else of a file
/// it creates for the purpose.
#[cfg(unix)]
fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    static UID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        if let Ok(meta) = fs::metadata("/proc/self") {
            return Some(meta.uid());
        }
        let probe = std::env::temp_dir().join(format!(".auth-store-uid-{}", std::process::id()));
        let uid = File::create(&probe)
            .and_then(|f| f.metadata())
            .map(|m| m.uid())
            .ok();
        let _ = fs::remove_file(&probe);
        uid
    })
}

#[cfg(unix)]
fn nofollow(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    // Not through a symlink, and never waiting: a FIFO planted at the path opens at once (and is
    // then refused as not a regular file) instead of blocking the process.
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
}

#[cfg(not(unix))]
fn nofollow(_: &mut OpenOptions) {}

/// Whether opening failed because the path is a symlink (`O_NOFOLLOW` says `ELOOP`).
fn is_symlink_refusal(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}
