//! Writers recover: one failed write (the file may not grow, as under `prlimit --fsize`) must
//! not break the writes after it. Once the limit is lifted, the next booking succeeds on the
//! same open store, without a restart.
//!
//! The file size limit (RLIMIT_FSIZE) and the ignored SIGXFSZ are process-wide, so the body
//! runs in a child process of this test binary, alone; the parent only checks its outcome.

use careslot_store::suite::{fixture, new_account, reserve_req, t0};
use careslot_store::{Role, Store, StoreError};
use careslot_store_sqlite::SqliteStore;
use jiff::ToSpan;
use std::process::Command;

const CHILD: &str = "CARESLOT_DISK_FULL_CHILD";
const RECOVERED: &str = "careslot: writes recovered after the disk filled";

#[test]
fn writes_recover_after_the_disk_fills() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "writes_recover_after_the_disk_fills",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains(RECOVERED),
        "the child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

fn set_fsize_limit(soft: libc::rlim_t, hard: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we pass; no memory is shared.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

fn child() {
    // SAFETY: ignoring a signal installs no handler code; writes past the limit then fail
    // with EFBIG instead of killing the process, as with `prlimit --fsize` and SIGXFSZ ignored.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut old) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_dir(dir.path()).await.expect("open");
        let f = fixture(&store, 15, 1).await;
        let alice = new_account(&store, Role::Patient).await;
        let day = t0() + 48.hours();
        store
            .reserve(&reserve_req(&f, &alice.id, day, None))
            .await
            .expect("a booking before the disk fills");

        // No file of this process may grow past its first byte: every commit fails.
        set_fsize_limit(1, old.rlim_max);
        let mut failed = 0;
        for i in 1..=3 {
            let start = day + i.hours();
            match store
                .reserve(&reserve_req(&f, &alice.id, start, None))
                .await
            {
                Err(StoreError::Unavailable(e)) => {
                    println!("booking {i} refused while the disk is full: {e}");
                    failed += 1;
                }
                Err(e) => panic!("a full disk must be Unavailable (503), not {e:?}"),
                Ok(_) => println!("booking {i} fitted in the file"),
            }
        }
        assert!(failed > 0, "the size limit refused no write");

        // Space is back: the next writes work on the same store, no reopening.
        set_fsize_limit(old.rlim_cur, old.rlim_max);
        let after = day + 5.hours();
        let booked = store
            .reserve(&reserve_req(&f, &alice.id, after, None))
            .await
            .expect("the first booking once space is back");
        assert!(!booked.replayed);
        // Writes outside the group-commit writer too (accounts, practices).
        let g = fixture(&store, 20, 1).await;
        store
            .reserve(&reserve_req(&g, &alice.id, after, None))
            .await
            .expect("a booking in a new agenda");
        let row = store
            .reservation(&booked.reservation.id)
            .await
            .expect("read back");
        assert!(row.is_some(), "the booking made after recovery is stored");
        println!("{RECOVERED}");
    });
}
