//! `scripts/target-cache.sh`, the seed `scripts/build.sh` keeps for fresh
//! clones, on a scratch workspace of one crate and a made-up `target/`: a
//! seeded clone gets the dependencies' artifacts but never the workspace's
//! own, a clone that has a `target/` is left alone, the seed is copied again
//! only when the dependency set changes, and two clones storing at once
//! leave one whole copy.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sales_api_tests::workspace;
use uuid::Uuid;

/// A scratch directory under the system's temporary one, removed however
/// the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("target-cache-test-{}", Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }

    /// A clone: a workspace with one member crate and its lock file. Its
    /// name is in its manifest, so no two clones share a dependency set.
    fn clone_named(&self, name: &str) -> PathBuf {
        let clone = self.0.join(name);
        fs::create_dir_all(clone.join("member/src")).unwrap();
        fs::write(
            clone.join("Cargo.toml"),
            format!("[workspace]\nmembers = [\"member\"]\nresolver = \"2\"\n# {name}\n"),
        )
        .unwrap();
        fs::write(
            clone.join("member/Cargo.toml"),
            "[package]\nname = \"seed-member\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        fs::write(clone.join("member/src/lib.rs"), "").unwrap();
        let lock = Command::new("cargo")
            .args(["generate-lockfile", "--offline"])
            .current_dir(&clone)
            .output()
            .unwrap();
        assert!(lock.status.success(), "{lock:?}");
        clone
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The artifacts a build leaves for a dependency and for the member, on
/// the host and for the guests' target.
const DEPENDENCY_ARTIFACTS: [&str; 2] = [
    "target/release/deps/libserde-0123456789abcdef.rlib",
    "target/wasm32-wasip2/release/deps/libserde-0123456789abcdef.rlib",
];
const MEMBER_ARTIFACTS: [&str; 3] = [
    "target/release/deps/libseed_member-0123456789abcdef.rlib",
    "target/release/.fingerprint/seed-member-0123456789abcdef/lib-seed_member",
    "target/wasm32-wasip2/release/deps/libseed_member-0123456789abcdef.rlib",
];

fn build_in(clone: &Path, marker: &str) {
    for artifact in DEPENDENCY_ARTIFACTS.iter().chain(&MEMBER_ARTIFACTS) {
        let path = clone.join(artifact);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, marker).unwrap();
    }
}

/// Runs one of the script's functions in `clone`, with the seed in `cache`.
fn run(function: &str, clone: &Path, cache: &Path) -> Output {
    let script = workspace().join("scripts/target-cache.sh");
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail; source '{}'; TARGET_CACHE='{}'; {function}",
            script.display(),
            cache.display()
        ))
        .current_dir(clone)
        .output()
        .unwrap();
    assert!(output.status.success(), "{function}: {output:?}");
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_fresh_clone_is_seeded_with_the_dependencies_but_not_the_workspace_crates() {
    let scratch = Scratch::new();
    let built = scratch.clone_named("built");
    build_in(&built, "built");
    let stored = run("store_target", &built, &scratch.cache());
    assert!(stderr(&stored).contains("stored target/"), "{stored:?}");

    let fresh = scratch.clone_named("fresh");
    let seeded = run("seed_target", &fresh, &scratch.cache());
    assert!(stderr(&seeded).contains("seeded target/"), "{seeded:?}");
    for artifact in DEPENDENCY_ARTIFACTS {
        assert_eq!(
            fs::read_to_string(fresh.join(artifact)).ok().as_deref(),
            Some("built"),
            "{artifact} should come from the seed"
        );
    }
    for artifact in MEMBER_ARTIFACTS {
        assert!(
            !fresh.join(artifact).exists(),
            "{artifact} is the workspace's own and must be rebuilt, not seeded"
        );
    }
    assert!(!fresh.join("target.seeding").exists());
    // The seed itself keeps everything, for the next clone.
    for artifact in DEPENDENCY_ARTIFACTS.iter().chain(&MEMBER_ARTIFACTS) {
        let in_cache = scratch.cache().join(artifact);
        assert!(in_cache.exists(), "{} left the seed", in_cache.display());
    }
}

#[test]
fn a_clone_that_has_a_target_is_not_seeded() {
    let scratch = Scratch::new();
    let built = scratch.clone_named("built");
    build_in(&built, "built");
    run("store_target", &built, &scratch.cache());

    let own = scratch.clone_named("own");
    build_in(&own, "own");
    let seeded = run("seed_target", &own, &scratch.cache());
    assert_eq!(stderr(&seeded), "");
    for artifact in DEPENDENCY_ARTIFACTS.iter().chain(&MEMBER_ARTIFACTS) {
        assert_eq!(fs::read_to_string(own.join(artifact)).unwrap(), "own");
    }
}

#[test]
fn the_seed_is_copied_again_only_when_the_dependency_set_changes() {
    let scratch = Scratch::new();
    let clone = scratch.clone_named("clone");
    build_in(&clone, "first");
    assert!(stderr(&run("store_target", &clone, &scratch.cache())).contains("stored"));

    build_in(&clone, "second");
    let same = run("store_target", &clone, &scratch.cache());
    assert_eq!(
        stderr(&same),
        "",
        "same Cargo.toml files, lock and compiler"
    );
    let seeded = scratch.cache().join(DEPENDENCY_ARTIFACTS[0]);
    assert_eq!(fs::read_to_string(&seeded).unwrap(), "first");

    let manifest = clone.join("member/Cargo.toml");
    let mut text = fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[dependencies]\n");
    fs::write(&manifest, text).unwrap();
    let changed = run("store_target", &clone, &scratch.cache());
    assert!(stderr(&changed).contains("stored"), "{changed:?}");
    assert_eq!(fs::read_to_string(&seeded).unwrap(), "second");
}

#[test]
fn two_clones_storing_at_once_leave_one_whole_copy() {
    let scratch = Scratch::new();
    let clones: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|name| {
            // Different dependency sets (clone_named), so that both store.
            let clone = scratch.clone_named(name);
            build_in(&clone, name);
            clone
        })
        .collect();
    for _ in 0..5 {
        let cache = scratch.cache();
        // So that both clones store in every round, not only the one whose
        // dependency set the seed does not have.
        let _ = fs::remove_file(cache.join("key"));
        let runs: Vec<_> = clones
            .iter()
            .cloned()
            .map(|clone| {
                let cache = cache.clone();
                std::thread::spawn(move || run("store_target", &clone, &cache))
            })
            .collect();
        for handle in runs {
            handle.join().unwrap();
        }
        let winner = fs::read_to_string(cache.join(DEPENDENCY_ARTIFACTS[0])).unwrap();
        assert!(winner == "a" || winner == "b", "{winner:?}");
        for artifact in DEPENDENCY_ARTIFACTS.iter().chain(&MEMBER_ARTIFACTS) {
            assert_eq!(
                fs::read_to_string(cache.join(artifact)).unwrap(),
                winner,
                "{artifact}: one clone's copy, whole"
            );
        }
        let left: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "key" && name != "target")
            .collect();
        assert!(left.is_empty(), "left in the cache: {left:?}");
        let mut inside: Vec<_> = fs::read_dir(cache.join("target"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        inside.sort();
        assert_eq!(inside, ["release", "wasm32-wasip2"], "one copy, not nested");
    }
}
