//! Where collection bundles may be written: `out_dir` resolution under the artifacts root.
//!
//! - No `out_dir`: `ARTIFACTS/<session id>/`.
//! - A relative `out_dir`: under the artifacts root.
//! - An absolute `out_dir` inside an allowed root (the artifacts root or a configured
//!   `collect.allowed_roots` entry): used as is.
//! - Any other absolute `out_dir`: re-rooted under the artifacts root, like a web server's
//!   document root (`/app/logs/metrics` → `ARTIFACTS/app/logs/metrics`), so clients written for
//!   another host's layout (the seed's Python example) work unchanged and nothing is written
//!   outside. With `collect.reroot_absolute = false` it is refused (403) instead.
//! - `..` components, NUL bytes, or an existing path component that is a symlink leading out
//!   of its root: refused before anything is created.

use std::path::{Component, Path, PathBuf};

/// Why an `out_dir` was refused; the HTTP edge maps `Invalid` to 422 and `Outside` to 403.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutDirError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Outside(String),
    #[error("cannot create {path}: {message}")]
    Io {
        path: PathBuf,
        message: String,
        /// The OS error number, so a full or read-only filesystem can be told apart.
        errno: Option<i32>,
    },
}

/// The policy, from the server config (roots are canonical).
#[derive(Debug, Clone)]
pub struct OutDirPolicy {
    pub artifacts_root: PathBuf,
    pub allowed_roots: Vec<PathBuf>,
    pub reroot_absolute: bool,
}

impl OutDirPolicy {
    /// Resolves `out_dir` for `session` and creates the directory; returns it.
    pub fn resolve(&self, session: &str, out_dir: Option<&str>) -> Result<PathBuf, OutDirError> {
        let (root, rest) = match out_dir {
            None => (self.artifacts_root.clone(), PathBuf::from(session)),
            Some(raw) => self.split(raw)?,
        };
        create_within(&root, &rest)
    }

    /// Picks the root an `out_dir` belongs under, and the relative rest.
    fn split(&self, raw: &str) -> Result<(PathBuf, PathBuf), OutDirError> {
        if raw.is_empty() || raw.len() > 4096 || raw.contains('\0') {
            return Err(OutDirError::Invalid(
                "out_dir must be a non-empty path without NUL bytes".into(),
            ));
        }
        let path = Path::new(raw);
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(OutDirError::Invalid(format!(
                "out_dir {raw:?} contains '..'; give a path under the artifacts root"
            )));
        }
        let relative = |p: &Path| -> PathBuf {
            p.components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect()
        };
        if !path.is_absolute() {
            return Ok((self.artifacts_root.clone(), relative(path)));
        }
        let roots = std::iter::once(&self.artifacts_root).chain(&self.allowed_roots);
        for root in roots {
            if let Ok(rest) = path.strip_prefix(root) {
                return Ok((root.clone(), relative(rest)));
            }
        }
        if self.reroot_absolute {
            return Ok((self.artifacts_root.clone(), relative(path)));
        }
        Err(OutDirError::Outside(format!(
            "out_dir {raw:?} is outside the allowed roots ({}); use a relative path or ask the operator to add a root",
            std::iter::once(&self.artifacts_root)
                .chain(&self.allowed_roots)
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Creates `root/rest` one component at a time, refusing any existing component that resolves
/// outside `root` (a symlink out) before anything below it is created.
fn create_within(root: &Path, rest: &Path) -> Result<PathBuf, OutDirError> {
    let io = |path: &Path, e: std::io::Error| OutDirError::Io {
        path: path.to_owned(),
        message: e.to_string(),
        errno: e.raw_os_error(),
    };
    std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
    let root = std::fs::canonicalize(root).map_err(|e| io(root, e))?;
    let mut current = root.clone();
    for part in rest.components() {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(_) => {
                let real = std::fs::canonicalize(&current).map_err(|e| io(&current, e))?;
                if !real.starts_with(&root) {
                    return Err(OutDirError::Outside(format!(
                        "{} leads outside {} (symlink)",
                        current.display(),
                        root.display()
                    )));
                }
                if !real.is_dir() {
                    return Err(OutDirError::Invalid(format!(
                        "{} exists and is not a directory",
                        current.display()
                    )));
                }
                current = real;
            }
            Err(_) => std::fs::create_dir(&current).map_err(|e| io(&current, e))?,
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(root: &Path, reroot: bool) -> OutDirPolicy {
        OutDirPolicy {
            artifacts_root: std::fs::canonicalize(root).unwrap_or(root.to_owned()),
            allowed_roots: vec![],
            reroot_absolute: reroot,
        }
    }

    #[test]
    fn out_dirs_stay_under_the_root() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().join("art");
        std::fs::create_dir(&root)?;
        let p = policy(&root, true);
        let root = p.artifacts_root.clone();
        assert_eq!(p.resolve("s1", None)?, root.join("s1"));
        assert_eq!(p.resolve("s1", Some("runs/a"))?, root.join("runs/a"));
        assert_eq!(
            p.resolve("s1", Some("/app/logs/metrics"))?,
            root.join("app/logs/metrics")
        );
        let inside = root.join("abs");
        assert_eq!(
            p.resolve("s1", Some(inside.to_str().unwrap_or("")))?,
            inside
        );
        assert!(matches!(
            p.resolve("s1", Some("../x")),
            Err(OutDirError::Invalid(_))
        ));
        assert!(matches!(
            p.resolve("s1", Some("a/../../x")),
            Err(OutDirError::Invalid(_))
        ));
        let strict = policy(&root, false);
        assert!(matches!(
            strict.resolve("s1", Some("/etc/x")),
            Err(OutDirError::Outside(_))
        ));
        assert!(!Path::new("/etc/x").exists());
        // A symlink inside the root that points out of it.
        std::os::unix::fs::symlink(tmp.path(), root.join("escape"))?;
        assert!(matches!(
            p.resolve("s1", Some("escape/x")),
            Err(OutDirError::Outside(_))
        ));
        assert!(!tmp.path().join("x").exists());
        Ok(())
    }
}
