//! Replays the fuzzing corpus that is checked in: `fuzz/seeds/<target>/` (the inputs
//! fuzzing starts from) and `fuzz/regressions/<target>/` (every input that once crashed
//! or hung a target, kept so that it never does again). `fuzz/README.md` says how to
//! fuzz.

#[allow(dead_code)]
#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn the_checked_in_corpus_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for (name, target) in targets::TARGETS {
        let mut inputs = 0;
        for kind in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name}: {} panics", path.display());
                inputs += 1;
            }
        }
        assert!(
            inputs > 0,
            "{name} has no corpus under fuzz/seeds or fuzz/regressions"
        );
        replayed += inputs;
    }
    assert!(replayed >= targets::TARGETS.len());
}
