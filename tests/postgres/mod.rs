//! The PostgreSQL cluster the tests use: `SCIMAP_TEST_POSTGRES`, a URL whose user may
//! create databases (`.ci/postgres start` prints one). A test that cannot reach it
//! fails with what to do; it is never skipped.

#![allow(dead_code)]

/// The cluster's URL.
pub fn cluster() -> String {
    std::env::var("SCIMAP_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "SCIMAP_TEST_POSTGRES is not set: these tests need a PostgreSQL cluster; \
             start one with `.ci/postgres start DIR` and set the URL it prints \
             (`bash .ci/test` does both)"
        )
    })
}

/// A new, empty database in the cluster, and its URL.
pub fn fresh_database() -> String {
    let name = format!("scimap_test_{:016x}", fastrand::u64(..));
    sql(&cluster(), &format!("CREATE DATABASE {name}"));
    let base = cluster();
    let (server, _) = base.rsplit_once('/').expect("a URL ending in /DATABASE");
    format!("{server}/{name}")
}

/// Runs `statement` on the database at `url`, off any async runtime.
pub fn sql(url: &str, statement: &str) {
    let (url, statement) = (url.to_string(), statement.to_string());
    off_runtime(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot reach the test cluster at {url}: {e}"));
        client
            .batch_execute(&statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    })
}

/// `work` on a thread of its own: the synchronous PostgreSQL client runs a runtime of
/// its own, which tokio does not allow inside a test's.
pub fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(work).join().unwrap()
}

/// Ends every other connection to the database at `url`, as a restart of the database
/// does, and waits until they are gone.
pub fn cut_connections(url: &str) {
    let url = url.to_string();
    off_runtime(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let others =
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
        client
            .batch_execute(&format!("SELECT pg_terminate_backend(pid) {others}"))
            .unwrap();
        for _ in 0..500 {
            let left: i64 = client
                .query_one(&format!("SELECT COUNT(*) {others}"), &[])
                .unwrap()
                .get(0);
            if left == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the connections did not end within 5 s");
    })
}

/// A PostgreSQL cluster of one test's (or benchmark's) own, made by `.ci/postgres` in
/// a temporary directory: for stopping and starting the database under load. Stopped
/// and removed when dropped.
pub struct Cluster {
    pub dir: std::path::PathBuf,
    pub url: String,
}

impl Cluster {
    pub fn start(name: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("scimap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = Cluster::script("start", &dir);
        Cluster { dir, url }
    }

    /// `.ci/postgres stop` or `resume`.
    pub fn run(&self, command: &str) {
        Cluster::script(command, &self.dir);
    }

    /// A new database in the cluster, and its URL.
    pub fn database(&self, name: &str) -> String {
        sql(&self.url, &format!("CREATE DATABASE {name}"));
        format!("{}/{name}", self.url.rsplit_once('/').unwrap().0)
    }

    fn script(command: &str, dir: &std::path::Path) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres");
        let out = std::process::Command::new("bash")
            .args([script, command, dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            ".ci/postgres {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres");
        let _ = std::process::Command::new("bash")
            .args([script, "stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
